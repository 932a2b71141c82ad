//! The exact cost of a GMW run ([`super::Gmw::run`]), computed from the circuit's
//! layer widths — never by running it — and checked against the channel's meter by
//! the tests.
//!
//! With `n` instances, AND layers of `k_1 … k_D` gates and `m` output bits, a party
//! sends online, frame headers (8 bytes) included:
//!
//! `[owns an input]·(8 + 16) + Σ_l (8 + 8·⌈2·k_l·n/64⌉) + [sends its outputs]·(8 + 8·⌈m·n/64⌉)`
//!
//! and receives what the other party sends. Rounds are the causal depth of this
//! message pattern as the channel's Lamport clock counts it, replayed on that clock
//! ([`tessera_core::Replay`]): `D + 2` when both parties own inputs —
//! inputs, one per layer, the reveal — and possibly fewer when a party's input seed
//! travels causally together with its first layer message (it owns every input).
//! Offline, the
//! dealer sends `Σ_l k_l·n` AND triples as seeds and party 1's `c` bits
//! ([`crate::dealer::party_traffic`]).

use tessera_core::bits::words_for;
use tessera_core::channel::HEADER_LEN;
use tessera_core::{PhaseMeter, Replay, Ring};

use super::{RevealTo, check_owners, demand_from_widths};
use crate::circuit::Circuit;
use crate::preprocessing::Demand;
use crate::{Result, dealer};

/// The exact traffic of one [`super::Gmw::run`], per party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GmwCost {
    /// Instances in the batch.
    pub batch: usize,
    /// AND gates per instance.
    pub and_gates: usize,
    /// AND depth (online rounds for the layers).
    pub and_depth: usize,
    /// AND triples consumed: `and_gates · batch`.
    pub and_triples: usize,
    /// The preprocessing demand ([`super::demand`]).
    pub demand: Demand,
    /// Each party's end of the party-to-party channel, online phase.
    pub online: [PhaseMeter; 2],
    /// Each party's end of its channel to the dealer, offline phase.
    pub offline: [PhaseMeter; 2],
}

/// A frame of `payload` bytes on the wire.
fn frame(payload: usize) -> u64 {
    (HEADER_LEN + payload) as u64
}

/// The exact traffic of [`super::Gmw::run`] on `circuit` for `n` instances, input
/// value `i` owned by party `owners[i]`, outputs revealed to `to`; the dealer runs
/// over ring `R` (the ring only changes the demand message's ring field).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] if the owners do not fit the circuit.
pub fn cost<R: Ring>(
    circuit: &Circuit,
    n: usize,
    owners: &[usize],
    to: RevealTo,
) -> Result<GmwCost> {
    check_owners(owners, circuit.num_inputs())?;
    let c = circuit.cost();
    let demand = demand_from_widths(&c.and_layer_widths, n);
    let mut pat = Replay::new();
    let owns = |p: usize| owners.contains(&p);
    let frames = |f: Option<u64>| f.map_or_else(Vec::new, |f| vec![f]);
    if owns(0) || owns(1) {
        let seed = |p: usize| frames(owns(p).then(|| frame(16)));
        pat.step([&seed(0), &seed(1)]);
    }
    for &k in &c.and_layer_widths {
        let f = [frame(8 * words_for(2 * k * n))];
        pat.step([&f, &f]);
    }
    let out = frame(8 * words_for(c.output_bits * n));
    let reveal = |p: usize| frames(to.sends(p).then_some(out));
    pat.step([&reveal(0), &reveal(1)]);
    Ok(GmwCost {
        batch: n,
        and_gates: c.and_gates,
        and_depth: c.and_depth,
        and_triples: c.and_gates * n,
        online: pat.meters(),
        offline: dealer::party_traffic::<R>(&demand)?,
        demand,
    })
}
