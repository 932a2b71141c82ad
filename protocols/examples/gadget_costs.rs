//! Prints the AND-gate count and AND depth of every gadget of the circuit library,
//! for ℓ = 32 and ℓ = 64 and each variant, as a Markdown table (the table in
//! `protocols/src/circuit/README.md`).
//!
//! ```text
//! cargo run -p tessera-protocols --example gadget_costs
//! ```

fn main() -> Result<(), tessera_protocols::Error> {
    print!(
        "{}",
        tessera_protocols::circuit::gadget_cost_table(&[32, 64])?
    );
    Ok(())
}
