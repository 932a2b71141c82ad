//! # tessera-planner
//!
//! The calibrated cost model and optimal protocol assignment of Tessera.
//!
//! - [`calibration`]: compute, transport and dealer coefficients measured on the
//!   machine (`tessera_bench_suite::calibrate` runs the measurements; a default is
//!   embedded).
//! - [`time`]: the time model — predicted online and offline time of a run's exact
//!   step costs under a network profile — and the [`Objective`]s.
//! - [`engine`]: the [`Chain`] interface to the secure inference engine (which
//!   sharings a layer may use, the exact cost of each step).
//! - [`assign`]: the optimal assignment by dynamic programming over the chain, the
//!   named baselines, and a brute-force search for tests.
//! - [`dag`]: the exact optimal assignment over a DAG (a frontier dynamic program)
//!   on abstract node and value costs, with a brute-force search for tests.
//! - [`plan`]: the plan file (JSON), its validation and its table.
//!
//! Security model of the project: two semi-honest parties and a semi-honest dealer
//! that colludes with neither; the planner only chooses among protocols that all
//! meet it.
#![deny(missing_docs)]

pub mod assign;
pub mod calibration;
pub mod dag;
pub mod engine;
mod error;
pub mod plan;
pub mod time;
pub mod train;

pub use assign::{Solution, Strategy};
pub use calibration::Calibration;
pub use engine::{Assignment, Chain, LayerInfo, Output, Placement, StepCost, Work};
pub use error::{Error, Result};
pub use time::{Objective, Offline, StepTime, TimeModel};
