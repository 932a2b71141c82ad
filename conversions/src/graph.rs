//! Conversions as edges of a graph between sharings, with exact prices, so that a
//! planner can choose routes. Composite routes (A2B via Yao = A2Y then Y2B; Y2A via B =
//! Y2B then B2A) are paths of primitive edges, priced by composing the edges' prices.

use serde::{Deserialize, Serialize};
use tessera_core::Replay;
use tessera_core::bits::words_for;
use tessera_core::channel::HEADER_LEN;
use tessera_protocols::Demand;
use tessera_protocols::circuit::Variant;
use tessera_protocols::yao;

use crate::Result;
use crate::convert::{A2bVariant, B2aVariant, adder, subtractor};

/// A sharing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sharing {
    /// Arithmetic (additive in Z_2^ℓ).
    A,
    /// Boolean GMW (XOR shares).
    B,
    /// Yao (garbled labels).
    Y,
}

/// A primitive conversion (an edge of the graph).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Conversion {
    /// Y → B, local.
    Y2B,
    /// B → Y.
    B2Y,
    /// A → Y.
    A2Y,
    /// Y → A.
    Y2A,
    /// A → B with GMW (the Yao variant is the route A2Y, Y2B).
    A2BGmw,
    /// B → A.
    B2A(B2aVariant),
}

impl Conversion {
    /// Source and target sharing.
    pub fn endpoints(self) -> (Sharing, Sharing) {
        match self {
            Conversion::Y2B => (Sharing::Y, Sharing::B),
            Conversion::B2Y => (Sharing::B, Sharing::Y),
            Conversion::A2Y => (Sharing::A, Sharing::Y),
            Conversion::Y2A => (Sharing::Y, Sharing::A),
            Conversion::A2BGmw => (Sharing::A, Sharing::B),
            Conversion::B2A(_) => (Sharing::B, Sharing::A),
        }
    }

    /// A short name (`a2y`, `b2a-dabits`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Conversion::Y2B => "y2b",
            Conversion::B2Y => "b2y",
            Conversion::A2Y => "a2y",
            Conversion::Y2A => "y2a",
            Conversion::A2BGmw => "a2b-gmw",
            Conversion::B2A(B2aVariant::DaBits) => "b2a-dabits",
            Conversion::B2A(B2aVariant::Ot) => "b2a-ot",
        }
    }
}

/// Every primitive edge.
pub fn primitive_edges() -> Vec<Conversion> {
    vec![
        Conversion::Y2B,
        Conversion::B2Y,
        Conversion::A2Y,
        Conversion::Y2A,
        Conversion::A2BGmw,
        Conversion::B2A(B2aVariant::DaBits),
        Conversion::B2A(B2aVariant::Ot),
    ]
}

/// Who sends in one step of a protocol's message pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flight {
    /// Party 0 sends.
    P0,
    /// Party 1 sends.
    P1,
    /// Both send at once (an exchange).
    Both,
}

impl Flight {
    /// Replays `flights` on the channel's round clocks ([`Replay`]), continuing from
    /// `from`; only the rounds of the result are meaningful (a flight has no size).
    pub fn replay(mut from: Replay, flights: &[Flight]) -> Replay {
        for f in flights {
            let sends = |p: usize| match (f, p) {
                (Flight::Both, _) | (Flight::P0, 0) | (Flight::P1, 1) => &[0u64][..],
                _ => &[][..],
            };
            from.step([sends(0), sends(1)]);
        }
        from
    }
}

/// The exact online price of a conversion (or route) on `n` values of ℓ bits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Bytes each party sends (frame headers included).
    pub bytes_sent: [u64; 2],
    /// The message pattern, in order; each step waits for the other party's previous
    /// step.
    pub flights: Vec<Flight>,
    /// AND gates evaluated (garbled or in GMW), over all values.
    pub and_gates: u64,
    /// The correlations consumed, in order.
    pub demand: Demand,
}

impl Price {
    fn free() -> Price {
        Price {
            bytes_sent: [0, 0],
            flights: Vec::new(),
            and_gates: 0,
            demand: Demand::new(),
        }
    }

    /// Rounds of the pattern as the channel's Lamport clock counts them: a step of
    /// party `p` is one deeper than the other party's latest step, and no shallower
    /// than `p`'s own latest.
    pub fn rounds(&self) -> u64 {
        Flight::replay(Replay::new(), &self.flights).rounds()
    }

    /// This price followed by `next`.
    pub fn then(&self, next: &Price) -> Price {
        let mut demand = self.demand.clone();
        demand.extend(&next.demand);
        Price {
            bytes_sent: [
                self.bytes_sent[0] + next.bytes_sent[0],
                self.bytes_sent[1] + next.bytes_sent[1],
            ],
            flights: self.flights.iter().chain(&next.flights).copied().collect(),
            and_gates: self.and_gates + next.and_gates,
            demand,
        }
    }

    /// The exact online price of `conv` on `n` values of `ell` bits.
    ///
    /// # Errors
    /// Only if a circuit cannot be built (never for ℓ ≤ 64).
    pub fn of(conv: Conversion, ell: usize, n: usize) -> Result<Price> {
        let bits = ell * n;
        let h = HEADER_LEN as u64;
        Ok(match conv {
            Conversion::Y2B => Price::free(),
            Conversion::B2Y | Conversion::A2Y => {
                let [e, g] = yao::evaluator_input_bytes(bits);
                let mut p = Price {
                    bytes_sent: [g + yao::garbler_input_bytes(bits), e],
                    flights: vec![Flight::P1, Flight::P0],
                    and_gates: 0,
                    demand: conversion_demand(conv, ell, n)?,
                };
                if conv == Conversion::A2Y {
                    let c = adder(ell, Variant::Size)?;
                    p.bytes_sent[0] += yao::table_bytes(&c, n);
                    p.and_gates = (c.cost().and_gates * n) as u64;
                }
                p
            }
            Conversion::Y2A => {
                let c = subtractor(ell)?;
                Price {
                    bytes_sent: [
                        yao::garbler_input_bytes(bits)
                            + yao::table_bytes(&c, n)
                            + yao::reveal_bytes(bits),
                        0,
                    ],
                    flights: vec![Flight::P0],
                    and_gates: (c.cost().and_gates * n) as u64,
                    demand: Demand::new(),
                }
            }
            Conversion::A2BGmw => {
                let c = adder(ell, Variant::Depth)?.cost();
                let per_party: u64 = c
                    .and_layer_widths
                    .iter()
                    .map(|&k| h + 8 * words_for(2 * k * n) as u64)
                    .sum();
                Price {
                    bytes_sent: [per_party, per_party],
                    flights: vec![Flight::Both; c.and_layer_widths.len()],
                    and_gates: (c.and_gates * n) as u64,
                    demand: conversion_demand(conv, ell, n)?,
                }
            }
            Conversion::B2A(B2aVariant::DaBits) => {
                let f = h + 8 * words_for(bits) as u64;
                Price {
                    bytes_sent: [f, f],
                    flights: vec![Flight::Both],
                    and_gates: 0,
                    demand: conversion_demand(conv, ell, n)?,
                }
            }
            Conversion::B2A(B2aVariant::Ot) => Price {
                bytes_sent: [
                    h + (2 * bits * ell / 8) as u64,
                    h + 8 * words_for(bits) as u64,
                ],
                flights: vec![Flight::P1, Flight::P0],
                and_gates: 0,
                demand: conversion_demand(conv, ell, n)?,
            },
        })
    }
}

/// The correlations `conv` consumes on `n` values of `ell` bits, in order.
///
/// # Errors
/// Only if a circuit cannot be built (never for ℓ ≤ 64).
pub fn conversion_demand(conv: Conversion, ell: usize, n: usize) -> Result<Demand> {
    let mut d = Demand::new();
    match conv {
        Conversion::Y2B | Conversion::Y2A => {}
        Conversion::B2Y | Conversion::A2Y | Conversion::B2A(B2aVariant::Ot) => {
            d.random_ots(ell * n, 0);
        }
        Conversion::A2BGmw => {
            d.extend(&tessera_protocols::gmw::demand(
                &adder(ell, Variant::Depth)?,
                n,
            ));
        }
        Conversion::B2A(B2aVariant::DaBits) => {
            d.dabits(ell * n);
        }
    };
    Ok(d)
}

/// A route: primitive conversions applied in order, with its composed price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The edges.
    pub steps: Vec<Conversion>,
    /// Their composed price.
    pub price: Price,
}

impl Route {
    /// `a2y+y2b`-style name.
    pub fn name(&self) -> String {
        self.steps
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// Every route from `from` to `to` of at most `max_steps` primitive edges that visits
/// no sharing twice, priced for `n` values of `ell` bits. `from == to` gives the empty
/// route only.
///
/// # Errors
/// Only if a circuit cannot be built (never for ℓ ≤ 64).
pub fn routes(
    from: Sharing,
    to: Sharing,
    ell: usize,
    n: usize,
    max_steps: usize,
) -> Result<Vec<Route>> {
    let mut out = Vec::new();
    let mut stack: Vec<(Sharing, Vec<Conversion>)> = vec![(from, Vec::new())];
    while let Some((at, path)) = stack.pop() {
        if at == to {
            let mut price = Price::free();
            for c in &path {
                price = price.then(&Price::of(*c, ell, n)?);
            }
            out.push(Route { steps: path, price });
            continue;
        }
        if path.len() == max_steps {
            continue;
        }
        for c in primitive_edges() {
            let (s, t) = c.endpoints();
            let visited = t == from || path.iter().any(|p| p.endpoints().1 == t);
            if s == at && !visited {
                let mut next = path.clone();
                next.push(c);
                stack.push((t, next));
            }
        }
    }
    out.sort_by_key(|r| (r.steps.len(), r.name()));
    Ok(out)
}

/// The A2B variants as routes (for reports): `Gmw` is the edge, `Yao` is A2Y then Y2B.
pub fn a2b_route(v: A2bVariant) -> Vec<Conversion> {
    match v {
        A2bVariant::Gmw => vec![Conversion::A2BGmw],
        A2bVariant::Yao => vec![Conversion::A2Y, Conversion::Y2B],
    }
}
