//! The session runtime: a job run locally (in memory and over TCP) with the dealer; a
//! new offline source plugged in without touching the runtime (party 0 deals to party
//! 1 over their own link: a stand-in for OT extension, insecure, test only); a
//! preprocessing file that runs once; a failing or hanging job, a job the parties
//! disagree on, and sources the parties disagree on, each ending with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::future::BoxFuture;
use ndarray::ArrayD;
use tessera_core::{Block, Channel, ChannelConfig, ConfigSummary, Phase, Ring, SessionId, Z64};
use tessera_protocols::runtime::local::{Local, Transport, run_local};
use tessera_protocols::runtime::{
    self, DealerSource, FileSource, NoHooks, OfflineSource, Session, SessionError,
};
use tessera_protocols::{ArithParty, Demand, Error, PartyMaterial, Provider, Store, dealer};

type R = Z64;

/// Element-wise product of party 0's `x` and party 1's `y`, revealed to both;
/// `fail` makes party 1's online phase fail, `hang` never finish.
struct Mul {
    x: ArrayD<R>,
    y: ArrayD<R>,
    fail: bool,
    hang: bool,
}

impl Mul {
    fn new(n: u64) -> Mul {
        Mul {
            x: arr(&[n as usize], (1..=n).map(R::from_u64).collect()),
            y: arr(
                &[n as usize],
                (0..n).map(|v| R::from_i64(-3 * v as i64)).collect(),
            ),
            fail: false,
            hang: false,
        }
    }
}

impl runtime::Job for Mul {
    type Ring = R;
    type Input = ();
    type Prepared = ();
    type Output = ArrayD<R>;
    type Error = Error;

    fn config(&self) -> ConfigSummary {
        ConfigSummary::new()
            .with("job", "mul")
            .with("n", self.x.len())
    }

    fn demand(&self) -> Result<Demand, Error> {
        let mut d = Demand::new();
        d.mul(self.x.shape());
        Ok(d)
    }

    async fn setup(&self, _: &mut ArithParty<R>) -> Result<(), Error> {
        Ok(())
    }

    async fn online(&self, p: &mut ArithParty<R>, (): (), (): ()) -> Result<ArrayD<R>, Error> {
        if p.party() == 1 && self.fail {
            return Err(Error::InvalidValue("party 1 gives up".into()));
        }
        if self.hang {
            std::future::pending::<()>().await;
        }
        let (a, b) = if p.party() == 0 {
            let a = p.share_input(&self.x).await?;
            (a, p.receive_input(self.y.shape()).await?)
        } else {
            let b = p.share_input(&self.y).await?;
            (p.receive_input(self.x.shape()).await?, b)
        };
        let z = p.mul(&a, &b).await?;
        p.reveal(&z).await
    }
}

fn local(transport: Transport) -> Local {
    Local::new(transport, ChannelConfig::default(), Duration::from_secs(30))
}

#[test]
fn a_job_runs_locally_in_memory_and_over_tcp() {
    for transport in [Transport::InMemory, Transport::Tcp] {
        let job = Mul::new(5);
        let want = &job.x * &job.y;
        let run = block(run_local(Arc::new(job), [(), ()], &local(transport))).unwrap();
        let [o0, o1] = &run.parties;
        assert_eq!((&o0.output, &o1.output), (&want, &want));
        assert_eq!((o0.party, o1.party), (0, 1));
        // Inputs, the multiplication, the reveal.
        assert_eq!(o0.peer.online.rounds, 3);
        // The handshake is set-up; the dealer's traffic is offline on its own link.
        assert!(o0.peer.setup.bytes_sent > 0 && o0.peer.offline.bytes_total() == 0);
        assert_eq!(o0.source.offline.bytes_received, 41);
        assert_eq!(o0.source.offline.rounds, 2);
        assert_eq!(run.served.job, "mul");
        assert_eq!(run.served.metering[0].offline.bytes_sent, 41);
        assert!(run.online_latency() <= o0.online.max(o1.online) + Duration::from_secs(1));
    }
}

/// Party 0 generates both parties' material and sends party 1 its seed and
/// corrections over their own link (a stand-in for OT extension between the parties;
/// party 0 learns party 1's correlations, so it is insecure and for tests only).
struct PartyZeroDeals;

impl OfflineSource<R> for PartyZeroDeals {
    fn kind(&self) -> &'static str {
        "party0"
    }

    fn obtain<'a>(
        &'a mut self,
        s: &'a Session,
        peer: &'a mut Channel,
    ) -> BoxFuture<'a, Result<Box<dyn Provider<R>>, SessionError>> {
        Box::pin(async move {
            let step = |e: Error| SessionError::new("offline phase: dealing to party 1", e);
            let previous = peer.phase();
            peer.set_phase(Phase::Offline);
            let m = if s.party() == 0 {
                let dealt = dealer::generate::<R>(s.demand()).map_err(step)?;
                let mut msg = dealt.seed1.to_bytes().to_vec();
                msg.extend_from_slice(&dealt.corrections);
                peer.send_bytes(msg).await.map_err(|e| step(e.into()))?;
                dealt.material::<R>(0, s.material_session(), s.demand())
            } else {
                let msg = peer.recv_bytes().await.map_err(|e| step(e.into()))?;
                let (seed, corrections) = msg.split_at(16);
                PartyMaterial {
                    party: 1,
                    session: s.material_session(),
                    dealing: tessera_protocols::preprocessing::DealingId([0; 16]),
                    ring_bits: <R as Ring>::BITS,
                    demand: s.demand().clone(),
                    seed: Block::from_bytes(seed.try_into().unwrap()),
                    corrections: corrections.to_vec(),
                }
            };
            peer.set_phase(previous);
            let store = Store::<R>::from_material(m).map_err(step)?;
            Ok(Box::new(store) as Box<dyn Provider<R>>)
        })
    }
}

#[test]
fn a_new_offline_source_plugs_in() {
    let job = Mul::new(7);
    let want = &job.x * &job.y;
    let id = SessionId::random();
    let (s0, s1) = (
        Session::new(&job, 0, id).unwrap(),
        Session::new(&job, 1, id).unwrap(),
    );
    let (mut src0, mut src1) = (PartyZeroDeals, PartyZeroDeals);
    let (o0, o1) = block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        tokio::try_join!(
            runtime::run_party(&job, &s0, c0, &mut src0, (), &NoHooks),
            runtime::run_party(&job, &s1, c1, &mut src1, (), &NoHooks)
        )
    })
    .unwrap();
    assert_eq!((o0.output, o1.output), (want.clone(), want));
    // The source's traffic is offline on the parties' link; online is as with the
    // dealer (inputs, multiplication, reveal).
    let c = job.demand_bytes();
    assert_eq!(o1.peer.offline.bytes_received, (8 + 16 + c) as u64);
    assert_eq!(o0.peer.online.rounds, 3);
    assert_eq!(o0.source.total().bytes_total(), 0);
}

impl Mul {
    fn demand_bytes(&self) -> usize {
        runtime::Job::demand(self).unwrap().correction_bytes::<R>()
    }
}

/// Both parties' material for `job` in session `id`, dealt in memory by the runtime's
/// dealer.
fn deal(job: &Mul, id: SessionId) -> [PartyMaterial; 2] {
    let s = [0, 1].map(|p| Session::new(job, p, id).unwrap());
    let (served, (m0, _), (m1, _)) = block(async {
        let (a0, d0) = Channel::in_memory_pair(ChannelConfig::default());
        let (a1, d1) = Channel::in_memory_pair(ChannelConfig::default());
        tokio::try_join!(
            runtime::serve_dealer([d1, d0], &NoHooks),
            runtime::fetch_material::<R>(&s[0], a0, &NoHooks),
            runtime::fetch_material::<R>(&s[1], a1, &NoHooks)
        )
    })
    .unwrap();
    assert_eq!(served.session, id);
    [m0, m1]
}

#[test]
fn a_preprocessing_file_runs_once_and_only_for_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let job = Mul::new(4);
    let want = &job.x * &job.y;
    let id = SessionId::random();
    let paths = [0, 1].map(|p| dir.path().join(format!("p{p}.pre")));
    for (m, path) in deal(&job, id).iter().zip(&paths) {
        m.save(path).unwrap();
    }
    let seats = [0, 1].map(|p| Session::new(&job, p, id).unwrap().announcing_source());
    // Another job (another n) or another session: refused before anything runs.
    let other = Session::new(&Mul::new(5), 0, id).unwrap();
    let e = FileSource::new(&paths[0])
        .check(&other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("made for another session or another job"), "{e}");
    let e = FileSource::new(&paths[1])
        .check(&seats[0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds party 1's material"), "{e}");
    let run = || {
        let (mut f0, mut f1) = (FileSource::new(&paths[0]), FileSource::new(&paths[1]));
        block(async {
            let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
            tokio::try_join!(
                runtime::run_party(&job, &seats[0], c0, &mut f0, (), &NoHooks),
                runtime::run_party(&job, &seats[1], c1, &mut f1, (), &NoHooks)
            )
        })
    };
    let (o0, o1) = run().unwrap();
    assert_eq!((o0.output, o1.output), (want.clone(), want));
    assert_eq!(o0.source.total().bytes_total(), 0);
    // Claimed: a second run is refused, naming why.
    for (p, path) in paths.iter().enumerate() {
        let e = FileSource::new(path)
            .check(&seats[p])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("already consumed") && e.contains("used once"),
            "{e}"
        );
    }
    let e = run().unwrap_err();
    assert_eq!(e.step, "offline phase");
    assert!(e.to_string().contains("already consumed"), "{e}");
}

#[test]
fn parties_with_different_sources_are_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let job = Mul::new(3);
    let id = SessionId::random();
    let [m0, _] = deal(&job, id);
    let path = dir.path().join("p0.pre");
    m0.save(&path).unwrap();
    let seats = [0, 1].map(|p| Session::new(&job, p, id).unwrap().announcing_source());
    let (mut file, mut other) = (FileSource::new(&path), PartyZeroDeals);
    let (r0, r1) = block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        tokio::join!(
            runtime::run_party(&job, &seats[0], c0, &mut file, (), &NoHooks),
            runtime::run_party(&job, &seats[1], c1, &mut other, (), &NoHooks)
        )
    });
    for e in [r0.unwrap_err(), r1.unwrap_err()] {
        assert!(e.step.starts_with("handshake with party"), "{e}");
        assert!(
            e.to_string().contains("mismatch in config.preprocessing"),
            "{e}"
        );
    }
    // Refused before the offline phase: the file is still fresh.
    FileSource::new(&path).check(&seats[0]).unwrap();
}

#[test]
fn parties_running_different_jobs_are_named_at_every_end() {
    let (j0, j1) = (Mul::new(3), Mul::new(4));
    let id = SessionId::random();
    let (s0, s1) = (
        Session::new(&j0, 0, id).unwrap(),
        Session::new(&j1, 1, id).unwrap(),
    );
    let (d, r0, r1) = block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        let (a0, d0) = Channel::in_memory_pair(ChannelConfig::default());
        let (a1, d1) = Channel::in_memory_pair(ChannelConfig::default());
        let (mut src0, mut src1) = (DealerSource::new(a0), DealerSource::new(a1));
        tokio::join!(
            runtime::serve_dealer([d0, d1], &NoHooks),
            runtime::run_party(&j0, &s0, c0, &mut src0, (), &NoHooks),
            runtime::run_party(&j1, &s1, c1, &mut src1, (), &NoHooks)
        )
    });
    let d = d.unwrap_err().to_string();
    assert!(d.contains("disagree in config.n"), "{d}");
    for e in [r0.unwrap_err(), r1.unwrap_err()] {
        assert!(e.to_string().contains("mismatch in config.n"), "{e}");
    }
}

#[test]
fn a_failing_job_names_its_step_and_ends_the_run() {
    let job = Mul {
        fail: true,
        ..Mul::new(3)
    };
    let e = block(run_local(Arc::new(job), [(), ()], &local(Transport::Tcp))).unwrap_err();
    assert!(e.step.starts_with("online phase with party"), "{e}");
}

#[test]
fn a_hanging_job_ends_at_the_deadline() {
    let job = Mul {
        hang: true,
        ..Mul::new(3)
    };
    let l = Local {
        deadline: Duration::from_millis(300),
        ..local(Transport::InMemory)
    };
    let started = std::time::Instant::now();
    let e = block(run_local(Arc::new(job), [(), ()], &l)).unwrap_err();
    assert!(matches!(e.source, Error::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Party 1's corrections above the spill size go to a temporary file as they arrive
/// and are read back as the store expands them: the run is the same, and the dealer's
/// traffic too.
#[test]
fn party_one_can_keep_its_corrections_on_disk() {
    for spill in [0, usize::MAX] {
        let job = Mul::new(7);
        let want = &job.x * &job.y;
        let id = SessionId::random();
        let (s0, s1) = (
            Session::new(&job, 0, id).unwrap(),
            Session::new(&job, 1, id).unwrap(),
        );
        let (d, r0, r1, m1) = block(async {
            let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
            let (a0, d0) = Channel::in_memory_pair(ChannelConfig::default());
            let (a1, d1) = Channel::in_memory_pair(ChannelConfig::default());
            let mut src0 = DealerSource::new(a0);
            let mut src1 = DealerSource::new(a1).spill_above(spill);
            let (d, r0, r1) = tokio::join!(
                runtime::serve_dealer([d0, d1], &NoHooks),
                runtime::run_party(&job, &s0, c0, &mut src0, (), &NoHooks),
                runtime::run_party(&job, &s1, c1, &mut src1, (), &NoHooks)
            );
            (d, r0, r1, src1.link_metering())
        });
        d.unwrap();
        assert_eq!(r0.unwrap().output, want, "spill above {spill}");
        assert_eq!(r1.unwrap().output, want, "spill above {spill}");
        let c = runtime::Job::demand(&job).unwrap().correction_bytes::<R>() as u64;
        assert!(c > 0);
        assert_eq!(m1.offline.bytes_received, 41 + c + 8, "spill above {spill}");
    }
}
