//! # tessera-conversions
//!
//! Conversions between the arithmetic (A), Boolean (B) and Yao (Y) sharings. Empty until
//! the sharings land; nothing here is usable yet.
#![deny(missing_docs)]
