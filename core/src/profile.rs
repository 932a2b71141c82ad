//! Network profiles: one-way latency and bandwidth applied to every frame, so that runs
//! on one machine behave like a LAN or a WAN.
//!
//! | profile | bandwidth | RTT |
//! |---|---|---|
//! | `local` | unshaped | unshaped |
//! | `lan` | 1 Gbit/s | 0.2 ms |
//! | `wan` | 100 Mbit/s | 100 ms |
//! | `bw=<bits/s>,rtt=<ms>` | as given (suffixes k, M, G allowed) | as given |
//!
//! A frame of `s` bytes (header included) sent at time `t` on a link that is free at
//! `t` finishes serialisation at `t + 8s/bw` and is delivered RTT/2 later. Frames queue
//! behind each other on the link, so a burst pays its total size once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A simulated network link (applied independently in each direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetworkProfile {
    /// Bits per second; `None` means unlimited.
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time; each frame is delayed by half of it.
    pub rtt: Duration,
}

impl NetworkProfile {
    /// No shaping.
    pub const LOCAL: NetworkProfile = NetworkProfile {
        bandwidth_bps: None,
        rtt: Duration::ZERO,
    };
    /// 1 Gbit/s, 0.2 ms RTT.
    pub const LAN: NetworkProfile = NetworkProfile {
        bandwidth_bps: Some(1_000_000_000),
        rtt: Duration::from_micros(200),
    };
    /// 100 Mbit/s, 100 ms RTT.
    pub const WAN: NetworkProfile = NetworkProfile {
        bandwidth_bps: Some(100_000_000),
        rtt: Duration::from_millis(100),
    };

    /// Whether frames are delayed at all.
    pub fn is_shaped(&self) -> bool {
        self.bandwidth_bps.is_some() || !self.rtt.is_zero()
    }

    /// Half the round-trip time.
    pub fn one_way_latency(&self) -> Duration {
        self.rtt / 2
    }

    /// Serialisation delay of `bytes` bytes at this bandwidth.
    pub fn transmit_time(&self, bytes: u64) -> Duration {
        match self.bandwidth_bps {
            None | Some(0) => Duration::ZERO,
            Some(bw) => {
                let ns = u128::from(bytes) * 8 * 1_000_000_000 / u128::from(bw);
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
        }
    }
}

fn parse_bandwidth(s: &str) -> Result<u64> {
    let bad = |reason: String| Error::Config {
        what: "bandwidth",
        reason,
    };
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| bad(format!("`{s}` is not a number of bits per second")))?;
    let bps = v * mult;
    if !bps.is_finite() || !(1.0..=1e15).contains(&bps) {
        return Err(bad(format!("`{s}` is outside 1 bit/s ..= 1 Pbit/s")));
    }
    Ok(bps as u64)
}

impl FromStr for NetworkProfile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "local" => return Ok(Self::LOCAL),
            "lan" => return Ok(Self::LAN),
            "wan" => return Ok(Self::WAN),
            _ => {}
        }
        let bad = |reason: String| Error::Config {
            what: "network profile",
            reason,
        };
        let (mut bw, mut rtt) = (None, None);
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                bad(format!(
                    "`{s}`: expected local, lan, wan or bw=<bits/s>,rtt=<ms>"
                ))
            })?;
            match k.trim() {
                "bw" => bw = Some(parse_bandwidth(v.trim())?),
                "rtt" => {
                    let ms: f64 = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("rtt `{v}` is not a number of ms")))?;
                    if !ms.is_finite() || !(0.0..=600_000.0).contains(&ms) {
                        return Err(bad(format!("rtt {ms} ms is outside 0 ..= 600000 ms")));
                    }
                    rtt = Some(Duration::from_secs_f64(ms / 1e3));
                }
                other => return Err(bad(format!("unknown key `{other}` (expected bw or rtt)"))),
            }
        }
        Ok(NetworkProfile {
            bandwidth_bps: bw,
            rtt: rtt.unwrap_or(Duration::ZERO),
        })
    }
}

impl fmt::Display for NetworkProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            p if p == Self::LOCAL => f.write_str("local"),
            p if p == Self::LAN => f.write_str("lan"),
            p if p == Self::WAN => f.write_str("wan"),
            p => {
                let rtt = p.rtt.as_secs_f64() * 1e3;
                match p.bandwidth_bps {
                    Some(bw) => write!(f, "bw={bw},rtt={rtt}"),
                    None => write!(f, "rtt={rtt}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_and_custom_profiles() {
        assert_eq!(
            "lan".parse::<NetworkProfile>().unwrap(),
            NetworkProfile::LAN
        );
        let p: NetworkProfile = "bw=50M,rtt=20".parse().unwrap();
        assert_eq!(p.bandwidth_bps, Some(50_000_000));
        assert_eq!(p.rtt, Duration::from_millis(20));
        assert_eq!(p.to_string().parse::<NetworkProfile>().unwrap(), p);
        for bad in ["fast", "bw=x,rtt=1", "bw=1M,rtt=-3", "bw=1M,lat=3", "bw=0"] {
            assert!(bad.parse::<NetworkProfile>().is_err(), "{bad}");
        }
        assert_eq!(
            NetworkProfile::WAN.transmit_time(12_500_000),
            Duration::from_secs(1)
        );
    }
}
