//! # tessera-planner
//!
//! Network profiles, the calibrated cost model and optimal protocol assignment. Empty
//! until the sharings and conversions it prices exist.
#![deny(missing_docs)]
