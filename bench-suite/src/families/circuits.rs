//! GMW (B) and Yao (Y) on the reference Bristol circuits, AES-128 and the SHA-256
//! compression function (`protocols/circuits/`, the same files as the project's
//! shared `circuits/` folder, with their known answers), at several batch sizes.
//!
//! Input value 0 (the AES key, the SHA-256 message block) belongs to party 0, the
//! others to party 1; outputs are revealed to both. The timed window is the whole
//! online run: input sharing (GMW: PRG seeds; Yao: party 1's labels through dealer
//! random OTs, party 0's labels), evaluation, and the reveal. Instance 0 of every
//! batch carries the known-answer inputs and must give the known answer; the other
//! instances are random and must match the plaintext interpreter.

use std::path::Path;
use std::sync::Arc;

use tessera_core::{BitMatrix, BitVec, Prg};
use tessera_protocols::circuit::{Circuit, Program, bristol, values};
use tessera_protocols::gmw::{self, Gmw};
use tessera_protocols::yao::{ActiveLabels, Evaluator, Garbler, ZeroLabels};
use tessera_protocols::{ArithParty, Demand, RevealTo};

use super::FamilyContext;
use crate::error::{BenchError, Result};
use crate::scenario::{R, Scenario, Stopwatch, Workload};

/// A reference circuit with a known answer.
#[derive(Debug)]
pub struct Reference {
    /// Short name (`aes-128`).
    pub name: &'static str,
    /// The circuit.
    pub circuit: Circuit,
    /// Compiled once for GMW.
    pub program: Program,
    /// Known-answer inputs, one hex string per input value.
    pub inputs: Vec<&'static str>,
    /// The known answer, one hex string per output value.
    pub outputs: Vec<&'static str>,
}

/// AES-128, FIPS-197 appendix C.1.
const AES: (&str, &str, &[&str], &[&str]) = (
    "aes-128",
    "aes_128.txt",
    &[
        "000102030405060708090a0b0c0d0e0f",
        "00112233445566778899aabbccddeeff",
    ],
    &["69c4e0d86a7b0430d8cdb78070b4c55a"],
);

/// SHA-256 compression of the padded one-block message "abc" from the IV.
const SHA256: (&str, &str, &[&str], &[&str]) = (
    "sha-256",
    "sha256.txt",
    &[
        "61626380000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000018",
        "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19",
    ],
    &["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
);

impl Reference {
    fn load(dir: &Path, r: (&'static str, &str, &[&'static str], &[&'static str])) -> Result<Self> {
        let path = dir.join(r.1);
        let circuit = bristol::read_file(&path).map_err(|e| {
            BenchError::Usage(format!(
                "cannot load the reference circuit {}: {e}",
                path.display()
            ))
        })?;
        Ok(Reference {
            name: r.0,
            program: Program::new(&circuit),
            circuit,
            inputs: r.2.to_vec(),
            outputs: r.3.to_vec(),
        })
    }

    /// AES-128 and SHA-256 from `dir`.
    ///
    /// # Errors
    /// If a file is missing or malformed.
    pub fn all(dir: &Path) -> Result<Vec<Arc<Reference>>> {
        Ok(vec![
            Arc::new(Reference::load(dir, AES)?),
            Arc::new(Reference::load(dir, SHA256)?),
        ])
    }

    fn owners(&self) -> Vec<usize> {
        (0..self.circuit.num_inputs())
            .map(|i| usize::from(i > 0))
            .collect()
    }
}

/// GMW or Yao.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// Boolean GMW with dealer AND triples.
    Gmw,
    /// Yao: party 0 garbles, party 1 evaluates.
    Yao,
}

/// One circuit, protocol and batch size.
#[derive(Debug)]
pub struct CircuitWork {
    reference: Arc<Reference>,
    proto: Proto,
    batch: usize,
}

impl CircuitWork {
    /// The workload.
    pub fn new(reference: Arc<Reference>, proto: Proto, batch: usize) -> Self {
        CircuitWork {
            reference,
            proto,
            batch,
        }
    }

    fn widths_of(&self, p: usize) -> Vec<usize> {
        let c = &self.reference.circuit;
        c.input_widths()
            .iter()
            .zip(self.reference.owners())
            .filter(|(_, o)| *o == p)
            .map(|(w, _)| *w)
            .collect()
    }

    /// Party 1's input bits over the batch (Yao's dealer OTs).
    fn ot_bits(&self) -> usize {
        self.widths_of(1).iter().sum::<usize>() * self.batch
    }
}

fn in_input_order<T>(owners: &[usize], of0: Vec<T>, of1: Vec<T>) -> Result<Vec<T>> {
    let (mut a, mut b) = (of0.into_iter(), of1.into_iter());
    owners
        .iter()
        .map(|&o| if o == 0 { a.next() } else { b.next() })
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| BenchError::wrong("fewer garbled inputs than input values"))
}

impl CircuitWork {
    /// Yao, as `tessera circuit --protocol yao` runs it: party 1's inputs by one
    /// batch of dealer OTs, party 0's labels in one frame, streamed tables, all
    /// outputs decoded together.
    async fn yao(&self, p: &mut ArithParty<R>, mine: &[&BitMatrix]) -> Result<Vec<BitMatrix>> {
        let n = self.batch;
        let owners = self.reference.owners();
        let circuit = &self.reference.circuit;
        let (w0, w1) = (self.widths_of(0), self.widths_of(1));
        let ot_bits = self.ot_bits();
        let out_widths = circuit.output_widths();
        let party = p.party();
        let (ch, provider) = p.parts_mut();
        let revealed = if party == 0 {
            let mut g = Garbler::new();
            let rots = provider.take_random_ots(ot_bits, 0)?;
            let of1 = g
                .input_from_evaluator(ch, w1.iter().sum(), n, rots)
                .await?
                .split_bits(&w1)?;
            let of0 = g
                .input(ch, &BitMatrix::stack(mine, n))
                .await?
                .split_bits(&w0)?;
            let inputs = in_input_order(&owners, of0, of1)?;
            let outs = g
                .eval_program(
                    ch,
                    &self.reference.program,
                    &inputs.iter().collect::<Vec<_>>(),
                )
                .await?;
            let all = ZeroLabels::concat(&outs.iter().collect::<Vec<_>>())?;
            g.reveal(ch, &all, RevealTo::Both).await?
        } else {
            let mut e = Evaluator::new();
            let rots = provider.take_random_ots(ot_bits, 0)?;
            let of1 = e
                .input(ch, &BitMatrix::stack(mine, n), rots)
                .await?
                .split_bits(&w1)?;
            let of0 = e
                .input_from_garbler(ch, w0.iter().sum(), n)
                .await?
                .split_bits(&w0)?;
            let inputs = in_input_order(&owners, of0, of1)?;
            let outs = e
                .eval_program(
                    ch,
                    &self.reference.program,
                    &inputs.iter().collect::<Vec<_>>(),
                )
                .await?;
            let all = ActiveLabels::concat(&outs.iter().collect::<Vec<_>>())?;
            e.reveal(ch, &all, RevealTo::Both).await?
        };
        let m = revealed.ok_or_else(|| BenchError::wrong("no output revealed"))?;
        Ok(m.split_rows(&out_widths))
    }
}

impl Workload for CircuitWork {
    type Input = Vec<BitMatrix>;
    type Output = Vec<BitMatrix>;

    fn demand(&self) -> Result<Demand> {
        Ok(match self.proto {
            Proto::Gmw => gmw::demand(&self.reference.circuit, self.batch),
            Proto::Yao => {
                let mut d = Demand::new();
                d.random_ots(self.ot_bits(), 0);
                d
            }
        })
    }

    fn and_gates(&self) -> Option<u64> {
        Some((self.reference.circuit.cost().and_gates * self.batch) as u64)
    }

    /// Every input value as a `width × batch` matrix: the known answer's inputs in
    /// instance 0, random bits elsewhere.
    fn inputs(&self) -> Result<Vec<BitMatrix>> {
        let mut prg = Prg::from_entropy();
        let widths = self.reference.circuit.input_widths();
        widths
            .iter()
            .zip(&self.reference.inputs)
            .map(|(&w, kat)| {
                let rows: Vec<BitVec> = (0..w)
                    .map(|_| BitVec::random(&mut prg, self.batch))
                    .collect();
                let mut m = BitMatrix::from_rows(&rows)?;
                let k = values::from_hex(&[kat], w)?;
                for r in 0..w {
                    m.set(r, 0, k.get(r, 0));
                }
                Ok(m)
            })
            .collect()
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        input: &Vec<BitMatrix>,
        sw: &mut Stopwatch,
    ) -> Result<Vec<BitMatrix>> {
        let me = p.party();
        let owners = self.reference.owners();
        let mine: Vec<&BitMatrix> = input
            .iter()
            .zip(&owners)
            .filter(|(_, o)| **o == me)
            .map(|(m, _)| m)
            .collect();
        match self.proto {
            Proto::Gmw => {
                let mut g = Gmw::new(me)?;
                sw.start(p.channel_mut()).await?;
                let (ch, provider) = p.parts_mut();
                let out = g
                    .run(
                        ch,
                        provider,
                        &self.reference.program,
                        &owners,
                        &mine,
                        self.batch,
                        RevealTo::Both,
                    )
                    .await?;
                sw.stop(p.channel());
                out.ok_or_else(|| BenchError::wrong("no output revealed"))
            }
            Proto::Yao => {
                sw.start(p.channel_mut()).await?;
                let out = self.yao(p, &mine).await?;
                sw.stop(p.channel());
                Ok(out)
            }
        }
    }

    fn verify(&self, input: &Vec<BitMatrix>, [o0, o1]: [Vec<BitMatrix>; 2]) -> Result<()> {
        if o0 != o1 {
            return Err(BenchError::wrong("the parties revealed different outputs"));
        }
        let want = self.reference.circuit.eval(input)?;
        if o0 != want {
            return Err(BenchError::wrong(
                "the outputs differ from the plaintext interpreter",
            ));
        }
        for (i, (m, kat)) in o0.iter().zip(&self.reference.outputs).enumerate() {
            let got = values::to_hex(m);
            if got.first().map(String::as_str) != Some(*kat) {
                return Err(BenchError::wrong(format!(
                    "output {i} of the known-answer instance is {:?}, expected {kat}",
                    got.first()
                )));
            }
        }
        Ok(())
    }
}

fn family(ctx: &FamilyContext, proto: Proto, family: &'static str) -> Result<Vec<Scenario>> {
    let mut v = Vec::new();
    for r in Reference::all(&ctx.circuits_dir)? {
        let batches: &[usize] = if r.name == "aes-128" {
            &[1, 64, 1024]
        } else {
            &[1, 64]
        };
        for &batch in batches {
            v.push(
                Scenario::new(family, r.name, CircuitWork::new(r.clone(), proto, batch))
                    .param("batch", batch)
                    .quick(batch == 1),
            );
            // What TLS costs: AES-128 under Yao at batch 1024, every link over TLS.
            if r.name == "aes-128" && batch == 1024 && matches!(proto, Proto::Yao) {
                v.push(
                    Scenario::new(family, r.name, CircuitWork::new(r.clone(), proto, batch))
                        .param("batch", batch)
                        .over_tls(),
                );
            }
        }
    }
    Ok(v)
}

/// GMW on AES-128 (batch 1, 64, 1024) and SHA-256 (batch 1, 64); batch 1 is quick.
///
/// # Errors
/// If a reference circuit cannot be loaded.
pub fn gmw_scenarios(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    family(ctx, Proto::Gmw, "gmw")
}

/// Yao on the same circuits and batches.
///
/// # Errors
/// If a reference circuit cannot be loaded.
pub fn yao_scenarios(ctx: &FamilyContext) -> Result<Vec<Scenario>> {
    family(ctx, Proto::Yao, "yao")
}
