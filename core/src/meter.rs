//! Exact communication metering, per phase.
//!
//! # What is counted
//! - **Bytes** are the bytes this end wrote to or read from the byte stream: every
//!   frame's 8-byte header plus its payload. TCP/IP headers below the stream are not
//!   counted (they are the same for every protocol and not under our control).
//! - **Messages** are frames.
//! - **Rounds** are the length of the longest chain of causally dependent messages
//!   (a Lamport clock). Every frame carries its depth: a message sent after receiving
//!   messages of depth at most `d` has depth `d + 1`; messages sent back to back without
//!   a receive in between share a depth. A party's round count is the largest depth it
//!   has sent or received. So when both parties send their openings of a whole tensor
//!   at once (a Beaver multiplication), that is **one round** whatever the tensor size;
//!   a request followed by its response is two. One round costs one one-way latency,
//!   which is why the cost model multiplies rounds by RTT/2.

use serde::{Deserialize, Serialize};

/// A phase of a session. Metering is split by phase.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Handshake and one-off set-up (e.g. weight masks sent once per model).
    #[default]
    Setup,
    /// Input-independent preprocessing (dealer traffic, garbling ahead of time).
    Offline,
    /// The input-dependent computation.
    Online,
}

impl Phase {
    /// All phases, in order.
    pub const ALL: [Phase; 3] = [Phase::Setup, Phase::Offline, Phase::Online];
}

/// Counters for one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseMeter {
    /// Bytes written (frame headers included).
    pub bytes_sent: u64,
    /// Bytes read (frame headers included).
    pub bytes_received: u64,
    /// Frames written.
    pub messages_sent: u64,
    /// Frames read.
    pub messages_received: u64,
    /// Communication rounds (see the module docs).
    pub rounds: u64,
}

impl PhaseMeter {
    /// Bytes in both directions.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }

    fn add(&mut self, o: &PhaseMeter) {
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.rounds += o.rounds;
    }
}

/// Metering of one end of a channel (or the sum over a party's channels), by phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metering {
    /// Set-up phase.
    pub setup: PhaseMeter,
    /// Offline phase.
    pub offline: PhaseMeter,
    /// Online phase.
    pub online: PhaseMeter,
}

impl Metering {
    /// The counters of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhaseMeter {
        match phase {
            Phase::Setup => &self.setup,
            Phase::Offline => &self.offline,
            Phase::Online => &self.online,
        }
    }

    /// The counters of `phase`, mutable.
    pub fn phase_mut(&mut self, phase: Phase) -> &mut PhaseMeter {
        match phase {
            Phase::Setup => &mut self.setup,
            Phase::Offline => &mut self.offline,
            Phase::Online => &mut self.online,
        }
    }

    /// All phases added together.
    pub fn total(&self) -> PhaseMeter {
        let mut t = PhaseMeter::default();
        for p in Phase::ALL {
            t.add(self.phase(p));
        }
        t
    }

    /// Adds another channel's counters (e.g. a party's peer and dealer channels).
    /// Rounds add up, which is an upper bound when the channels overlap in time.
    pub fn merge(&mut self, o: &Metering) {
        for p in Phase::ALL {
            self.phase_mut(p).add(o.phase(p));
        }
    }

    /// The counters since `earlier` (a snapshot of the same meter).
    pub fn since(&self, earlier: &Metering) -> Metering {
        let d = |a: &PhaseMeter, b: &PhaseMeter| PhaseMeter {
            bytes_sent: a.bytes_sent - b.bytes_sent,
            bytes_received: a.bytes_received - b.bytes_received,
            messages_sent: a.messages_sent - b.messages_sent,
            messages_received: a.messages_received - b.messages_received,
            rounds: a.rounds - b.rounds,
        };
        Metering {
            setup: d(&self.setup, &earlier.setup),
            offline: d(&self.offline, &earlier.offline),
            online: d(&self.online, &earlier.online),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Tracks message depths (a Lamport clock over this channel).
#[derive(Clone, Debug, Default)]
pub(crate) struct RoundClock {
    /// Largest depth received.
    recv_max: u32,
    /// Largest depth sent.
    sent_max: u32,
    /// Largest depth sent or received.
    current: u32,
}

impl RoundClock {
    /// The state both ends reach after one exchange on a fresh link: each has sent and
    /// received one message of depth 1.
    pub(crate) fn fenced() -> Self {
        RoundClock {
            recv_max: 1,
            sent_max: 1,
            current: 1,
        }
    }

    /// Depth of the next outgoing message.
    pub(crate) fn next_send_depth(&self) -> u32 {
        self.recv_max.saturating_add(1)
    }

    /// Records a sent message; returns how many rounds it added.
    pub(crate) fn on_send(&mut self, depth: u32) -> u64 {
        self.sent_max = self.sent_max.max(depth);
        let before = self.current;
        self.current = self.current.max(depth);
        u64::from(self.current - before)
    }

    /// The largest depth an honest peer can announce: it has seen at most our messages.
    pub(crate) fn max_peer_depth(&self) -> u32 {
        self.sent_max.saturating_add(1)
    }

    /// Records a received message; returns how many rounds it added.
    pub(crate) fn on_recv(&mut self, depth: u32) -> u64 {
        self.recv_max = self.recv_max.max(depth);
        let before = self.current;
        self.current = self.current.max(depth);
        u64::from(self.current - before)
    }
}

/// Both ends of one two-party link, replayed without a network: a message pattern (who
/// sends which frames, step by step) run through the same `RoundClock` every
/// [`crate::Channel`] keeps. This is the one place where rounds are counted: the
/// predictions (GMW and Yao costs, conversion prices, the planner's time model) replay
/// their patterns here, so a predicted round is counted exactly as a measured one.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    clocks: [RoundClock; 2],
    meters: [PhaseMeter; 2],
}

impl Replay {
    /// Both clocks at zero: the start of a link.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clocks as a pattern leaves them when party `p` last sent at depth
    /// `last_sent[p]` and each party has received everything the other sent: to
    /// continue a run where an earlier pattern left it.
    pub fn after(last_sent: [u32; 2]) -> Self {
        let clock = |p: usize| RoundClock {
            recv_max: last_sent[1 - p],
            sent_max: last_sent[p],
            current: last_sent[0].max(last_sent[1]),
        };
        Replay {
            clocks: [clock(0), clock(1)],
            meters: [PhaseMeter::default(); 2],
        }
    }

    /// One step of the pattern: each party sends its frames (their sizes on the wire,
    /// headers included; none for a party that is silent in this step), then each
    /// receives the other's — as in an exchange, where both send before they receive.
    pub fn step(&mut self, frames: [&[u64]; 2]) -> &mut Self {
        let depth = [0, 1].map(|p| self.clocks[p].next_send_depth());
        for p in 0..2 {
            for &bytes in frames[p] {
                let m = &mut self.meters[p];
                m.bytes_sent += bytes;
                m.messages_sent += 1;
                m.rounds += self.clocks[p].on_send(depth[p]);
            }
        }
        for p in 0..2 {
            for &bytes in frames[1 - p] {
                let m = &mut self.meters[p];
                m.bytes_received += bytes;
                m.messages_received += 1;
                m.rounds += self.clocks[p].on_recv(depth[1 - p]);
            }
        }
        self
    }

    /// Each party's counters so far, as its end of the channel meters them.
    pub fn meters(&self) -> [PhaseMeter; 2] {
        self.meters
    }

    /// The rounds so far: the deeper of the two clocks.
    pub fn rounds(&self) -> u64 {
        u64::from(self.clocks[0].current.max(self.clocks[1].current))
    }

    /// The depth at which each party last sent (0 before it first sends).
    pub fn last_sent(&self) -> [u32; 2] {
        [self.clocks[0].sent_max, self.clocks[1].sent_max]
    }
}

/// The peak resident memory of this process so far, in bytes (Linux's `VmHWM` in
/// `/proc/self/status`), or `None` where the kernel does not report it. A party run
/// as its own process (`tessera party`) reports its own peak with it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod peak_tests {
    #[test]
    fn peak_rss_grows_with_a_touched_allocation() {
        let Some(before) = super::peak_rss_bytes() else {
            return; // not Linux
        };
        let v = vec![1u8; 64 << 20];
        let after = super::peak_rss_bytes().unwrap_or(0);
        assert!(v.iter().all(|&b| b == 1));
        assert!(after >= before.max(64 << 20), "{before} -> {after}");
    }
}
