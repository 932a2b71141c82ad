//! The exact cost of a GMW run ([`super::Gmw::run`]), computed from the circuit's
//! layer widths — never by running it — and checked against the channel's meter by
//! the tests.
//!
//! With `n` instances, AND layers of `k_1 … k_D` gates and `m` output bits, a party
//! sends online, frame headers (8 bytes) included:
//!
//! `[owns an input]·(8 + 16) + Σ_l X(8·⌈2·k_l·n/64⌉) + [sends its outputs]·X(8·⌈m·n/64⌉)`
//!
//! and receives what the other party sends, where `X(b)` ([`exchange_wire_bytes`]) is
//! a message of `b` bytes with its frame headers: `8 + b` when it fits one frame (every
//! message up to [`ChannelConfig::max_frame`], 256 MiB by default), else `8·f + b` for
//! the `f = ⌈b / max_frame⌉` frames it is streamed in, which still travel as one
//! round ([`cost_with`] prices another frame limit).
//!
//! Rounds are the causal depth of this message pattern as the channel's Lamport clock
//! counts it, replayed on that clock ([`tessera_core::Replay`]): `D + 2` when both parties
//! own inputs — inputs, one per layer, the reveal — and possibly fewer when a party's
//! input seed travels causally together with its first layer message (it owns every
//! input). Offline, the dealer sends `Σ_l k_l·n` AND triples as seeds and party 1's
//! `c` bits ([`crate::dealer::party_traffic`]).

use tessera_core::bits::words_for;
use tessera_core::channel::{HEADER_LEN, stream_chunk_bytes, stream_frames, stream_wire_bytes};
use tessera_core::{ChannelConfig, PhaseMeter, Replay, Ring};

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

/// Bytes of a word of packed bits, the element of every GMW message.
const WORD: usize = 8;

/// Exact bytes on the wire of one GMW message of `payload_bytes` bytes (an AND layer's
/// opening, [`super::message_words`] words of 8 bytes, or a reveal) over a channel with
/// the default frame limit: the payload plus an 8-byte header for each frame it is
/// streamed in, `8 + payload_bytes` whenever it fits one frame (256 MiB).
pub fn exchange_wire_bytes(payload_bytes: u64) -> u64 {
    exchange_wire_bytes_with(payload_bytes, ChannelConfig::default().max_frame)
}

/// [`exchange_wire_bytes`] over a channel whose frames hold at most `max_frame` bytes
/// ([`ChannelConfig::max_frame`]).
pub fn exchange_wire_bytes_with(payload_bytes: u64, max_frame: usize) -> u64 {
    stream_wire_bytes(payload_bytes, WORD, max_frame)
}

/// Frames of one GMW message of `payload_bytes` bytes over a channel whose frames hold
/// at most `max_frame` bytes (one whenever it fits).
pub fn exchange_frames_with(payload_bytes: u64, max_frame: usize) -> u64 {
    stream_frames(payload_bytes, WORD, max_frame)
}

/// The frames of one streamed GMW message of `words` words over a channel whose frames
/// hold at most `max_frame` bytes: each frame's size on the wire, its header included
/// (one frame whenever it fits).
fn message_frames(words: usize, max_frame: usize) -> Vec<u64> {
    let payload = (WORD * words) as u64;
    let chunk = stream_chunk_bytes(WORD, max_frame).max(1) as u64;
    let n = exchange_frames_with(payload, max_frame);
    (0..n)
        .map(|i| HEADER_LEN as u64 + payload.saturating_sub(i * chunk).min(chunk))
        .collect()
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
    cost_with::<R>(circuit, n, owners, to, ChannelConfig::default().max_frame)
}

/// [`cost()`] over a party-to-party channel whose frames hold at most `max_frame`
/// bytes ([`ChannelConfig::max_frame`]): messages larger than a frame are streamed in
/// several frames, each with its header, still one round.
///
/// # Errors
/// As [`cost()`].
pub fn cost_with<R: Ring>(
    circuit: &Circuit,
    n: usize,
    owners: &[usize],
    to: RevealTo,
    max_frame: usize,
) -> Result<GmwCost> {
    check_owners(owners, circuit.num_inputs())?;
    let c = circuit.cost();
    let demand = demand_from_widths(&c.and_layer_widths, n);
    let mut pat = Replay::new();
    let owns = |p: usize| owners.contains(&p);
    let frames = |f: Option<u64>| f.map_or_else(Vec::new, |f| vec![f]);
    if owns(0) || owns(1) {
        let seed = |p: usize| frames(owns(p).then_some(HEADER_LEN as u64 + 16));
        pat.step([&seed(0), &seed(1)]);
    }
    for &k in &c.and_layer_widths {
        let f = message_frames(words_for(2 * k * n), max_frame);
        pat.step([&f, &f]);
    }
    let out = message_frames(words_for(c.output_bits * n), max_frame);
    let none = Vec::new();
    let reveal = |p: usize| if to.sends(p) { &out } else { &none };
    pat.step([reveal(0), reveal(1)]);
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
