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
//! counts it (see [`tessera_core::meter`]), replayed here: `D + 2` when both parties
//! own inputs — inputs, one per layer, the reveal — and possibly fewer when a party's
//! input seed travels causally together with its first layer message (it owns every
//! input). Offline, the dealer sends `Σ_l k_l·n` AND triples as seeds and party 1's
//! `c` bits ([`crate::dealer::party_traffic`]).

use tessera_core::bits::words_for;
use tessera_core::channel::{HEADER_LEN, stream_frames, stream_wire_bytes};
use tessera_core::{ChannelConfig, PhaseMeter, Ring};

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

/// One message on the wire: its bytes (headers included) and its frames.
#[derive(Clone, Copy)]
struct Msg {
    bytes: u64,
    frames: u64,
}

impl Msg {
    /// A message sent as one frame of `payload` bytes.
    fn frame(payload: usize) -> Msg {
        Msg {
            bytes: (HEADER_LEN + payload) as u64,
            frames: 1,
        }
    }

    /// A streamed message of `words` words.
    fn words(words: usize, max_frame: usize) -> Msg {
        let payload = (WORD * words) as u64;
        Msg {
            bytes: exchange_wire_bytes_with(payload, max_frame),
            frames: exchange_frames_with(payload, max_frame),
        }
    }
}

/// Replays a message pattern on two Lamport clocks, as [`tessera_core::Channel`]
/// keeps them. Each step lists the message each party sends (its frames share one
/// depth); in a step both parties send before they receive.
#[derive(Default)]
struct Pattern {
    meter: [PhaseMeter; 2],
    recv_max: [u64; 2],
    current: [u64; 2],
}

impl Pattern {
    fn step(&mut self, msgs: [Option<Msg>; 2]) {
        let mut depth = [0u64; 2];
        for p in 0..2 {
            if let Some(m) = msgs[p] {
                depth[p] = self.recv_max[p] + 1;
                self.current[p] = self.current[p].max(depth[p]);
                self.meter[p].bytes_sent += m.bytes;
                self.meter[p].messages_sent += m.frames;
            }
        }
        for p in 0..2 {
            if let Some(m) = msgs[1 - p] {
                let d = depth[1 - p];
                self.recv_max[p] = self.recv_max[p].max(d);
                self.current[p] = self.current[p].max(d);
                self.meter[p].bytes_received += m.bytes;
                self.meter[p].messages_received += m.frames;
            }
        }
    }

    fn finish(mut self) -> [PhaseMeter; 2] {
        for p in 0..2 {
            self.meter[p].rounds = self.current[p];
        }
        self.meter
    }
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
    let mut pat = Pattern::default();
    let owns = |p: usize| owners.contains(&p);
    if owns(0) || owns(1) {
        let seed = |p: usize| owns(p).then(|| Msg::frame(16));
        pat.step([seed(0), seed(1)]);
    }
    for &k in &c.and_layer_widths {
        let f = Msg::words(words_for(2 * k * n), max_frame);
        pat.step([Some(f), Some(f)]);
    }
    let out = Msg::words(words_for(c.output_bits * n), max_frame);
    pat.step([to.sends(0).then_some(out), to.sends(1).then_some(out)]);
    Ok(GmwCost {
        batch: n,
        and_gates: c.and_gates,
        and_depth: c.and_depth,
        and_triples: c.and_gates * n,
        online: pat.finish(),
        offline: dealer::party_traffic::<R>(&demand)?,
        demand,
    })
}
