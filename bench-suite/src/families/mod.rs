//! The scenario families and their registry, [`FAMILIES`].

use std::path::PathBuf;

use tessera_planner::Calibration;

use crate::error::Result;
use crate::scenario::Scenario;

pub mod arith;
pub mod circuits;
pub mod conversions;
pub mod garbling;
pub mod models;
pub mod zoo;

/// What a family may need to build its scenarios.
#[derive(Clone, Debug)]
pub struct FamilyContext {
    /// The folder of the reference Bristol circuits (`protocols/circuits`).
    pub circuits_dir: PathBuf,
    /// The folder of the model zoo (`models/zoo`).
    pub zoo_dir: PathBuf,
    /// Build the model zoo's scenarios ([`zoo`]; `tessera bench --zoo`). They price
    /// every plan of six networks first (about 3 s), so they are not built otherwise.
    pub zoo: bool,
    /// The calibration the model families' predictions are made with (`tessera bench
    /// --calibration`); `None`: the embedded default.
    pub calibration: Option<Calibration>,
}

impl FamilyContext {
    /// The calibration of the predictions: the one given, else the embedded default.
    ///
    /// # Errors
    /// If the embedded calibration cannot be read (a build defect).
    pub fn calibration(&self) -> Result<Calibration> {
        match &self.calibration {
            Some(c) => Ok(c.clone()),
            None => Calibration::default_embedded()
                .map_err(|e| crate::error::BenchError::Usage(e.to_string())),
        }
    }
}

impl Default for FamilyContext {
    fn default() -> Self {
        FamilyContext {
            circuits_dir: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../protocols/circuits"
            )),
            zoo_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/zoo")),
            zoo: false,
            calibration: None,
        }
    }
}

/// A family: a function that lists its scenarios (every size, with the quick ones
/// marked).
pub type Family = fn(&FamilyContext) -> Result<Vec<Scenario>>;

/// Every family, by name. Adding a family is one line here.
pub const FAMILIES: &[(&str, Family)] = &[
    ("arith", arith::scenarios),
    ("gmw", circuits::gmw_scenarios),
    ("yao", circuits::yao_scenarios),
    ("yao-compute", garbling::scenarios),
    ("conv", conversions::scenarios),
    ("model", models::scenarios),
    ("zoo", zoo::scenarios),
];

/// All scenarios of all families, in registry order.
///
/// # Errors
/// If a family cannot build its scenarios (e.g. a circuit file is missing).
pub fn all(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    let mut v = Vec::new();
    for (_, f) in FAMILIES {
        v.extend(f(ctx)?);
    }
    Ok(v)
}
