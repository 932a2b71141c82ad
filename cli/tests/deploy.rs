//! `tessera dealer` and `tessera party` as separate processes on loopback: known
//! answers under GMW and Yao, the offline phase and the online phase at different
//! times through preprocessing files, refused files (consumed, another session or job,
//! another party's, corrupted), mismatched configurations, and processes killed (or
//! silenced) at named points — before connecting, after the handshake, during the
//! dealer's fetch, mid-online — with the survivors checked to exit non-zero with a
//! clear message well within their timeout.
//!
//! Every child process is killed when its guard drops, so a failing test leaves no
//! process behind.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tessera_core::Role;
use tessera_core::tls;

const AES_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const AES_PT: &str = "00112233445566778899aabbccddeeff";
const AES_CT: &str = "69c4e0d86a7b0430d8cdb78070b4c55a";

/// How long a test waits for a line or an exit before it fails (never reached when
/// the binary behaves).
const WAIT: Duration = Duration::from_secs(30);

fn aes() -> String {
    format!(
        "{}/../protocols/circuits/aes_128.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn session() -> String {
    tessera_core::SessionId::random().to_string()
}

/// The test's key directories (`<dir>/<role>/`, each with its own key and certificate
/// and the other two roles' certificates) and ledger, made once per test binary.
fn fixture() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-deploy-{}", session()));
        let roles = [Role::Party0, Role::Party1, Role::Dealer];
        for r in roles {
            tessera_core::tls::keygen(&dir.join(tls::role_name(r)), r).unwrap();
        }
        for r in roles {
            for p in roles.into_iter().filter(|p| *p != r) {
                let name = format!("{}.crt", tls::role_name(p));
                std::fs::copy(
                    dir.join(tls::role_name(p)).join(&name),
                    dir.join(tls::role_name(r)).join(&name),
                )
                .unwrap();
            }
        }
        dir
    })
}

/// The key directory of `role`.
fn keys(role: &str) -> String {
    fixture().join(role).to_str().unwrap().to_string()
}

/// The ledger all parties of this test binary share.
fn ledger() -> String {
    fixture().join("ledger").to_str().unwrap().to_string()
}

/// Stderr lines of a child, as they arrive.
#[derive(Default)]
struct Lines {
    lines: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

/// A child process of the test; killed on drop.
struct Proc {
    name: String,
    child: Child,
    stderr: Arc<Lines>,
    stdout: Option<JoinHandle<String>>,
}

/// How a child ended.
struct Exit {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Lines::default());
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lines.lock().unwrap().0.push(line);
                sink.changed.notify_all();
            }
            sink.lines.lock().unwrap().1 = true;
            sink.changed.notify_all();
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Proc {
            name: name.to_string(),
            child,
            stderr,
            stdout: Some(stdout),
        }
    }

    fn stderr_now(&self) -> String {
        self.stderr.lines.lock().unwrap().0.join("\n")
    }

    /// Waits for a stderr line that starts with `prefix`; returns the rest of it.
    fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut g = self.stderr.lines.lock().unwrap();
        loop {
            if let Some(l) = g.0.iter().find(|l| l.starts_with(prefix)) {
                return l[prefix.len()..].trim().to_string();
            }
            let now = Instant::now();
            assert!(
                !g.1 && now < deadline,
                "{}: no line `{prefix}…` (ended: {}); stderr:\n{}",
                self.name,
                g.1,
                g.0.join("\n")
            );
            g = self
                .stderr
                .changed
                .wait_timeout(g, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// The address from the `listening on ADDR` line.
    fn address(&self) -> String {
        self.wait_line("listening on ")
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the exit (at most `limit`, else the test fails).
    fn finish(mut self, limit: Duration) -> Exit {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < limit,
                "{} still running after {limit:?}; stderr:\n{}",
                self.name,
                self.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // Wait for the reader thread to see the end of stderr.
        {
            let mut g = self.stderr.lines.lock().unwrap();
            while !g.1 {
                g = self
                    .stderr
                    .changed
                    .wait_timeout(g, Duration::from_secs(5))
                    .unwrap()
                    .0;
            }
        }
        Exit {
            status,
            stdout,
            stderr: self.stderr_now(),
        }
    }

    /// Waits for a successful exit and returns stdout.
    fn ok(self) -> String {
        let name = self.name.clone();
        let e = self.finish(WAIT);
        assert!(e.status.success(), "{name} failed:\n{}", e.stderr);
        assert!(!e.stderr.contains("panicked"), "{name}: {}", e.stderr);
        e.stdout
    }

    /// Waits (at most `limit`) for a failing exit whose stderr contains every one of
    /// `needles`; returns the exit.
    fn fails(self, limit: Duration, needles: &[&str]) -> Exit {
        let name = self.name.clone();
        let e = self.finish(limit);
        assert!(!e.status.success(), "{name} succeeded:\n{}", e.stderr);
        for n in needles {
            assert!(
                e.stderr.contains(n),
                "{name}: expected `{n}` in stderr:\n{}",
                e.stderr
            );
        }
        assert!(!e.stderr.contains("panicked"), "{name}: {}", e.stderr);
        assert!(
            e.stderr.lines().any(|l| l.starts_with("error: ")),
            "{name}: no error line:\n{}",
            e.stderr
        );
        e
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dealer(timeout: u64, extra: &[&str]) -> (Proc, String) {
    let t = timeout.to_string();
    let k = keys("dealer");
    let mut args = vec![
        "dealer",
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        &t,
        "--keys",
        &k,
    ];
    args.extend_from_slice(extra);
    let d = Proc::spawn("dealer", &args);
    let addr = d.address();
    (d, addr)
}

/// `tessera party` with the common options, then `circuit <aes> <job...>`.
fn party(id: usize, session: &str, opts: &[&str], job: &[&str]) -> Proc {
    let id_s = id.to_string();
    let circuit = aes();
    let (k, l) = (keys(&format!("party{id}")), ledger());
    let mut args = vec!["party", "--id", &id_s, "--session", session];
    if !opts.contains(&"--keys") && !opts.contains(&"--insecure") {
        args.extend_from_slice(&["--keys", &k]);
    }
    args.extend_from_slice(&["--ledger", &l]);
    args.extend_from_slice(opts);
    args.extend_from_slice(&["circuit", &circuit]);
    args.extend_from_slice(job);
    Proc::spawn(&format!("party {id}"), &args)
}

/// Dealer and party 0 (listening); returns them with party 0's address.
fn dealer_and_p0(
    session: &str,
    timeout: u64,
    p0_opts: &[&str],
    job0: &[&str],
) -> (Proc, String, Proc, String) {
    let (d, da) = dealer(timeout, &[]);
    let t = timeout.to_string();
    let mut opts = vec!["--listen", "127.0.0.1:0", "--dealer", &da, "--timeout", &t];
    opts.extend_from_slice(p0_opts);
    let p0 = party(0, session, &opts, job0);
    let pa = p0.address();
    (d, da, p0, pa)
}

#[test]
fn three_processes_gmw_known_answer_and_exact_metering() {
    let s = session();
    // Party 1 owns the key here, party 0 the plaintext.
    let owners = ["--protocol", "gmw", "--owners", "1,0"];
    let job0 = [&owners[..], &["--input", AES_PT]].concat();
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &["--json"], &job0);
    let job1 = [&owners[..], &["--input", AES_KEY]].concat();
    let p1 = party(1, &s, &["--connect", &pa, "--dealer", &da], &job1);
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    let v: serde_json::Value = serde_json::from_str(&p0.ok()).unwrap();
    assert_eq!(v["party"], 0);
    assert_eq!(v["session"], s);
    assert_eq!(v["outputs"], serde_json::json!([[AES_CT]]));
    // Measured in its own process = the cost function's prediction, byte for byte.
    for phase in ["online", "offline"] {
        assert_eq!(v["metering"][phase], v["predicted"][phase], "{phase}");
    }
    assert_eq!(v["metering"]["online"]["rounds"], 62);
    d.ok();
}

#[test]
fn three_processes_yao_known_answer() {
    let s = session();
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--protocol", "yao", "--input", AES_KEY]);
    // Options after the job are the party's too.
    let p1 = party(
        1,
        &s,
        &["--connect", &pa],
        &[
            "--protocol",
            "yao",
            "--input",
            AES_PT,
            "--dealer",
            &da,
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
    assert_eq!(v["outputs"], serde_json::json!([[AES_CT]]));
    assert_eq!(v["metering"]["online"], v["predicted"]["online"]);
    assert_eq!(p0.ok(), format!("{AES_CT}\n"));
    let served = d.finish(WAIT);
    assert!(served.status.success(), "{}", served.stderr);
    assert!(
        served.stderr.contains("dealer: served session"),
        "{}",
        served.stderr
    );
}

/// Runs the offline phase of both parties for `job` into `dir`; returns the files.
fn offline_files(dir: &Path, s: &str, job: &[&str]) -> (PathBuf, PathBuf) {
    let (d, da) = dealer(20, &[]);
    let files = (dir.join("p0.pre"), dir.join("p1.pre"));
    let fetch = |id: usize, f: &Path| {
        party(
            id,
            s,
            &[
                "--offline",
                "--dealer",
                &da,
                "--store",
                f.to_str().unwrap(),
                "--json",
            ],
            job,
        )
    };
    let (p0, p1) = (fetch(0, &files.0), fetch(1, &files.1));
    for (p, f) in [(p0, &files.0), (p1, &files.1)] {
        let v: serde_json::Value = serde_json::from_str(&p.ok()).unwrap();
        assert_eq!(v["session"], s);
        assert!(v["metering"]["offline"]["bytes_received"].as_u64().unwrap() > 0);
        assert!(f.is_file());
    }
    d.ok();
    (files.0, files.1)
}

/// The online phase of both parties from files; returns both stdouts.
fn online_from_files(s: &str, f0: &Path, f1: &Path, job0: &[&str], job1: &[&str]) -> (Proc, Proc) {
    let p0 = party(
        0,
        s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--preprocessed",
            f0.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        job0,
    );
    let pa = p0.address();
    let p1 = party(
        1,
        s,
        &[
            "--connect",
            &pa,
            "--preprocessed",
            f1.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        job1,
    );
    (p0, p1)
}

#[test]
fn offline_then_online_through_files() {
    let dir = tempfile::tempdir().unwrap();
    for proto in ["gmw", "yao"] {
        let sub = dir.path().join(proto);
        std::fs::create_dir(&sub).unwrap();
        let s = session();
        // The offline phase needs no inputs.
        let (f0, f1) = offline_files(&sub, &s, &["--protocol", proto]);
        // No dealer now: the online phase runs from the files alone.
        let (p0, p1) = online_from_files(
            &s,
            &f0,
            &f1,
            &["--protocol", proto, "--input", AES_KEY],
            &["--protocol", proto, "--input", AES_PT],
        );
        assert_eq!(p0.ok(), format!("{AES_CT}\n"), "{proto}");
        assert_eq!(p1.ok(), format!("{AES_CT}\n"), "{proto}");
    }
}

#[test]
fn consumed_foreign_and_damaged_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = session();
    let gmw = ["--protocol", "gmw"];
    let (f0, f1) = offline_files(dir.path(), &s, &gmw);
    let alone = |id: usize, s: &str, file: &Path, job: &[&str]| {
        let job = [job, &["--random"]].concat();
        party(
            id,
            s,
            &[
                "--connect",
                "127.0.0.1:9",
                "--preprocessed",
                file.to_str().unwrap(),
                "--timeout",
                "20",
            ],
            &job,
        )
    };
    // Each of these is refused before the party tries to connect: fast, and the
    // file stays usable.
    let quick = Duration::from_secs(10);
    alone(1, &session(), &f1, &gmw).fails(quick, &["made for another session or another job"]);
    alone(1, &s, &f1, &["--protocol", "gmw", "--batch", "2"])
        .fails(quick, &["made for another session or another job"]);
    alone(1, &s, &f1, &["--protocol", "yao"])
        .fails(quick, &["made for another session or another job"]);
    alone(1, &s, &f0, &gmw).fails(quick, &["holds party 0's material, this is party 1"]);
    let damaged = dir.path().join("damaged.pre");
    let mut bytes = std::fs::read(&f1).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    alone(1, &s, &damaged, &gmw).fails(quick, &["checksum mismatch"]);
    alone(1, &s, &dir.path().join("missing.pre"), &gmw).fails(quick, &["cannot read"]);

    // The files still run once ...
    let job0 = ["--protocol", "gmw", "--input", AES_KEY];
    let job1 = ["--protocol", "gmw", "--input", AES_PT];
    let (p0, p1) = online_from_files(&s, &f0, &f1, &job0, &job1);
    assert_eq!(p0.ok(), format!("{AES_CT}\n"));
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    // ... and only once.
    for (id, f) in [(0, &f0), (1, &f1)] {
        alone(id, &s, f, &gmw).fails(quick, &["already consumed", "used once"]);
    }
}

#[test]
fn mismatched_configurations_are_named_at_every_process() {
    let s = session();
    // Different batch sizes: the dealer and both parties name the field.
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--random", "--batch", "2"]);
    let p1 = party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da, "--timeout", "20"],
        &["--random", "--batch", "3"],
    );
    let quick = Duration::from_secs(10);
    d.fails(
        quick,
        &["the parties disagree in config.batch: party 0 has `2`, party 1 has `3`"],
    );
    for p in [p0, p1] {
        p.fails(quick, &["handshake mismatch in config.batch"]);
    }

    // Different sessions.
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--random"]);
    let p1 = party(
        1,
        &session(),
        &["--connect", &pa, "--dealer", &da, "--timeout", "20"],
        &["--random"],
    );
    d.fails(quick, &["disagree in session id"]);
    p0.fails(quick, &["handshake mismatch in session id"]);
    p1.fails(quick, &["handshake mismatch in session id"]);

    // One party fetches from the dealer, the other loads a file: refused at once.
    let dir = tempfile::tempdir().unwrap();
    let (f0, _) = offline_files(dir.path(), &s, &[]);
    let p0 = party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--preprocessed",
            f0.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        &["--random"],
    );
    let pa = p0.address();
    let (d, da) = dealer(2, &[]);
    let p1 = party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da, "--timeout", "20"],
        &["--random"],
    );
    p0.fails(quick, &["handshake mismatch in config.preprocessing"]);
    p1.fails(quick, &["handshake mismatch in config.preprocessing"]);
    // The dealer waits for a second party up to its (short) timeout.
    d.fails(quick, &["one party has connected", "timed out"]);
}

/// Limit for a survivor whose peer was killed: its own timeout is 20 s, so exiting
/// within this shows it noticed the disappearance, not a timeout.
const NOTICED: Duration = Duration::from_secs(8);

#[test]
fn peer_killed_before_connecting() {
    let s = session();
    let (d, da, p0, _) = dealer_and_p0(&s, 2, &[], &["--random"]);
    // Party 1 stops before it connects anywhere, and is killed there.
    let mut p1 = party(
        1,
        &s,
        &[
            "--connect",
            "127.0.0.1:9",
            "--dealer",
            &da,
            "--test-pause",
            "start",
        ],
        &["--random"],
    );
    p1.wait_line("paused at start");
    p1.kill();
    // Nobody ever connects: party 0 and the dealer give up after their 2 s timeout.
    let limit = Duration::from_secs(8);
    p0.fails(
        limit,
        &["waiting for party 1 to connect", "timed out after 2s"],
    );
    d.fails(limit, &["waiting for the parties to connect", "timed out"]);
    // A party whose peer never listens gives up connecting after its timeout too.
    let lonely = party(
        1,
        &s,
        &[
            "--connect",
            &free_port(),
            "--dealer",
            &free_port(),
            "--timeout",
            "1",
        ],
        &["--random"],
    );
    lonely.fails(limit, &["connecting to"]);
}

/// An address on which nothing listens.
fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn peer_killed_after_the_handshake() {
    let s = session();
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--random"]);
    let mut p1 = party(
        1,
        &s,
        &[
            "--connect",
            &pa,
            "--dealer",
            &da,
            "--timeout",
            "20",
            "--test-pause",
            "handshake",
        ],
        &["--random"],
    );
    p1.wait_line("paused at handshake");
    p1.kill();
    // Party 0 waits for its material: it sees party 1 go, or the dealer tells it why
    // none comes, whichever is first.
    let e = p0.fails(NOTICED, &["party 1"]);
    assert!(
        e.stderr
            .contains("party 1 has gone while this party waited for its preprocessing")
            || e.stderr
                .contains("party 1 failed before sending its demand"),
        "{}",
        e.stderr
    );
    d.fails(NOTICED, &["connection closed"]);
}

#[test]
fn dealer_killed_during_the_fetch() {
    let s = session();
    let (mut d, da) = dealer(20, &["--test-pause", "handshake"]);
    let common = ["--dealer", &da, "--timeout", "20"];
    let p0 = party(
        0,
        &s,
        &[&["--listen", "127.0.0.1:0"], &common[..]].concat(),
        &["--random"],
    );
    let pa = p0.address();
    let p1 = party(
        1,
        &s,
        &[&["--connect", &pa], &common[..]].concat(),
        &["--random"],
    );
    // Both parties have sent their demands and wait for the dealer's answer.
    d.wait_line("paused at handshake");
    d.kill();
    // Each party sees the dealer go, or the other party leave because it did.
    for p in [p0, p1] {
        let e = p.fails(NOTICED, &["offline phase", "connection closed"]);
        assert!(
            e.stderr
                .contains("offline phase: fetching preprocessing from the dealer")
                || e.stderr.contains("has gone while this party waited"),
            "{}",
            e.stderr
        );
    }
}

#[test]
fn party_killed_while_receiving_its_material() {
    let s = session();
    // Batch 64 of AES-128 under GMW: party 1 receives 51 kB of AND-triple
    // corrections; it stops after 1,000 bytes.
    let job = ["--random", "--batch", "64"];
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &job);
    let mut p1 = party(
        1,
        &s,
        &[
            "--connect",
            &pa,
            "--dealer",
            &da,
            "--timeout",
            "20",
            "--test-pause",
            "dealer-bytes=1000",
        ],
        &job,
    );
    p1.wait_line("paused at dealer-bytes=1000");
    p1.kill();
    // Party 0 has its material and waits for party 1 (to compare their dealings) —
    // or, on a loaded machine, still waits for its own: either way it names party 1.
    p0.fails(NOTICED, &["party 1", "connection closed"]);
    // The dealer may or may not have handed everything to the kernel in time; either
    // way it ends, well before its timeout.
    d.finish(NOTICED);
}

/// Party `victim` stops after receiving `bytes` online bytes and is killed; the
/// other party must fail quickly and name the online phase.
fn killed_mid_online(protocol: &str, victim: usize, bytes: u64, batch: &str) {
    let s = session();
    let job = ["--protocol", protocol, "--random", "--batch", batch];
    let pause = format!("peer-bytes={bytes}");
    let p0_extra: Vec<&str> = if victim == 0 {
        vec!["--test-pause", &pause]
    } else {
        vec![]
    };
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &p0_extra, &job);
    let mut p1_opts = vec!["--connect", &pa, "--dealer", &da, "--timeout", "20"];
    if victim == 1 {
        p1_opts.extend_from_slice(&["--test-pause", &pause]);
    }
    let p1 = party(1, &s, &p1_opts, &job);
    let (mut victim_p, survivor) = if victim == 0 { (p0, p1) } else { (p1, p0) };
    victim_p.wait_line(&format!("paused at {pause}"));
    victim_p.kill();
    survivor.fails(NOTICED, &[&format!("online phase with party {victim}")]);
    d.ok();
}

#[test]
fn peer_killed_mid_online_gmw() {
    // AES-128 under GMW: about 2.4 kB each way; party 1 stops after 500 bytes.
    killed_mid_online("gmw", 1, 500, "1");
}

#[test]
fn garbler_survives_evaluator_killed_mid_tables() {
    // 8 instances: 1.7 MB of garbled tables; the evaluator stops reading after 100 kB
    // of them, mid-evaluation. (The garbler's frames queue in its channel and socket,
    // so it learns of the loss when the connection closes, not from a blocked send.)
    killed_mid_online("yao", 1, 100_000, "8");
}

#[test]
fn evaluator_survives_garbler_killed_mid_online() {
    // The garbler stops after the first byte of the evaluator's OT corrections.
    killed_mid_online("yao", 0, 1, "8");
}

#[test]
fn silent_peer_times_out() {
    let s = session();
    let (d, da, p0, pa) = dealer_and_p0(&s, 2, &[], &["--random"]);
    // Party 1 stops reading mid-online and stays alive (its own timeout is long).
    let p1 = party(
        1,
        &s,
        &[
            "--connect",
            &pa,
            "--dealer",
            &da,
            "--timeout",
            "60",
            "--test-pause",
            "peer-bytes=500",
        ],
        &["--random"],
    );
    p1.wait_line("paused at peer-bytes=500");
    p0.fails(
        Duration::from_secs(8),
        &["online phase with party 1", "timed out after 2s"],
    );
    d.ok();
    drop(p1);
}

#[test]
fn bad_options_are_explained() {
    let quick = Duration::from_secs(10);
    let s = session();
    let run = |args: &[&str]| Proc::spawn("party", &[&["party"], args, &["--insecure"]].concat());
    let c = aes();
    run(&[
        "--session",
        &s,
        "--listen",
        "127.0.0.1:0",
        "--dealer",
        "x:1",
        "circuit",
        &c,
    ])
    .fails(quick, &["--id 0|1 is required"]);
    run(&["--id", "2", "--session", &s, "circuit", &c]).fails(quick, &["party 2 does not exist"]);
    run(&["--id", "0", "--listen", "127.0.0.1:0", "circuit", &c])
        .fails(quick, &["--session HEX is required"]);
    run(&["--id", "0", "--session", "xyz", "circuit", &c]).fails(quick, &["32 hex digits"]);
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--dealer",
        "x:1",
        "circuit",
        &c,
    ])
    .fails(quick, &["exactly one of --listen ADDR and --connect ADDR"]);
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--listen",
        "127.0.0.1:0",
        "circuit",
        &c,
    ])
    .fails(
        quick,
        &["exactly one of --dealer ADDR and --preprocessed FILE"],
    );
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--offline",
        "--dealer",
        "x:1",
        "circuit",
        &c,
    ])
    .fails(quick, &["exactly one of --listen ADDR and --connect ADDR"]);
    // With OT there is no dealer to give, and --store makes the preprocessing with the
    // other party.
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--offline",
        "ot",
        "--listen",
        "127.0.0.1:0",
        "--dealer",
        "x:1",
        "circuit",
        &c,
    ])
    .fails(quick, &["--offline ot", "give no --dealer"]);
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--offline",
        "ot",
        "--store",
        "f",
        "circuit",
        &c,
    ])
    .fails(quick, &["exactly one of --listen ADDR and --connect ADDR"]);
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--offline",
        "pigeon",
        "--listen",
        "127.0.0.1:0",
        "circuit",
        &c,
    ])
    .fails(quick, &["expected `dealer` or `ot`"]);
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--offline",
        "--dealer",
        "x:1",
        "--store",
        "/nonexistent/dir/f",
        "circuit",
        &c,
    ])
    .fails(quick, &["does not exist"]);
    // Party 0 owns one 128-bit value by default.
    run(&[
        "--id",
        "0",
        "--session",
        &s,
        "--listen",
        "127.0.0.1:0",
        "--dealer",
        "x:1",
        "circuit",
        &c,
        "--input",
        AES_KEY,
        AES_PT,
    ])
    .fails(quick, &["party 0 owns 1 of the circuit's input values"]);
    // The test hook is not advertised.
    let help = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["party", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--preprocessed"), "{help}");
    assert!(!help.contains("test-pause"), "{help}");
}

/// `tessera party` running the model job.
fn model_party(id: usize, session: &str, opts: &[&str], job: &[&str]) -> Proc {
    job_party(id, session, opts, "model", job)
}

/// `tessera party` running the job `name`.
fn job_party(id: usize, session: &str, opts: &[&str], name: &str, job: &[&str]) -> Proc {
    let id_s = id.to_string();
    let (k, l) = (keys(&format!("party{id}")), ledger());
    let mut args = vec![
        "party",
        "--id",
        &id_s,
        "--session",
        session,
        "--keys",
        &k,
        "--ledger",
        &l,
    ];
    args.extend_from_slice(opts);
    args.push(name);
    args.extend_from_slice(job);
    Proc::spawn(&format!("party {id}"), &args)
}

#[test]
fn three_processes_secure_inference_of_the_cnn() {
    let s = session();
    let (d, da) = dealer(20, &[]);
    let common = [
        "--model", "cnn", "--plan", "a+y", "--batch", "3", "--logits",
    ];
    let p0 = model_party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            &da,
            "--timeout",
            "20",
        ],
        &common,
    );
    let pa = p0.address();
    let job1 = [&common[..], &["--dataset", "mnist", "--json"]].concat();
    let p1 = model_party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da, "--timeout", "20"],
        &job1,
    );
    let v: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
    // The first three test digits' labels of the fixed-point reference.
    let (labels, scores) = reference("cnn", 3);
    assert_eq!(v["labels"], labels);
    // With --logits party 1 also reports the scores, named after the graph output,
    // exactly the reference's (a+y computes the CNN exactly).
    assert_eq!(v["outputs"][0]["name"], "logits");
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([10]));
    assert_eq!(logits(&v), scores);
    let out0 = p0.finish(WAIT);
    assert!(out0.status.success(), "{}", out0.stderr);
    assert!(out0.stderr.contains("learns nothing"), "{}", out0.stderr);
    assert!(out0.stdout.is_empty(), "party 0 printed {}", out0.stdout);
    d.ok();
}

#[test]
fn model_parties_with_different_plans_are_named() {
    let s = session();
    let (_d, da) = dealer(10, &[]);
    let p0 = model_party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            &da,
            "--timeout",
            "10",
        ],
        &["--model", "mlp", "--plan", "a+y"],
    );
    let pa = p0.address();
    let p1 = model_party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da, "--timeout", "10"],
        &["--model", "mlp", "--plan", "a+b", "--dataset", "mnist"],
    );
    let e = p1.finish(WAIT);
    assert!(!e.status.success());
    assert!(e.stderr.contains("plan"), "{}", e.stderr);
}

/// A fresh key directory for a stranger in `role`: its own self-signed key, and the
/// real certificates of the other roles (what a stranger can copy: they are public).
fn stranger_keys(dir: &Path, role: Role) -> String {
    let roles = [Role::Party0, Role::Party1, Role::Dealer];
    tls::keygen(dir, role).unwrap();
    for p in roles.into_iter().filter(|p| *p != role) {
        let name = format!("{}.crt", tls::role_name(p));
        std::fs::copy(
            fixture().join(tls::role_name(p)).join(&name),
            dir.join(&name),
        )
        .unwrap();
    }
    dir.to_str().unwrap().to_string()
}

/// A TCP proxy to `target` that records what its first client sends.
fn recording_proxy(target: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut s = std::net::TcpStream::connect(target).unwrap();
        let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
        std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        let mut buf = [0u8; 1 << 16];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
            rec.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
    });
    (addr, seen)
}

#[test]
fn strangers_idle_connections_and_replays_do_not_take_a_seat() {
    use std::io::Write;
    // A captured party-1 flight (TLS handshake and the encrypted hello) of one session.
    let s = session();
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--protocol", "yao", "--input", AES_KEY]);
    let (via, captured) = recording_proxy(pa);
    let p1 = party(
        1,
        &s,
        &["--connect", &via, "--dealer", &da],
        &["--protocol", "yao", "--input", AES_PT],
    );
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    p0.ok();
    d.ok();
    let captured = captured.lock().unwrap().clone();
    assert!(captured.len() > 1000, "{} bytes captured", captured.len());

    // A new session, attacked before the honest party 1 arrives.
    let s = session();
    let (d, da, p0, pa) = dealer_and_p0(&s, 20, &[], &["--protocol", "yao", "--input", AES_KEY]);
    // Idle connections to the dealer and to party 0, held open throughout.
    let _idle = [
        std::net::TcpStream::connect(&da).unwrap(),
        std::net::TcpStream::connect(&pa).unwrap(),
    ];
    // The captured flight replayed to party 0.
    let mut replay = std::net::TcpStream::connect(&pa).unwrap();
    replay.write_all(&captured).unwrap();
    p0.wait_line("party 0: refused a connection from");
    // A stranger with its own self-signed party-1 certificate, at party 0 and the dealer.
    let dir = tempfile::tempdir().unwrap();
    let sk = stranger_keys(dir.path(), Role::Party1);
    let stranger = party(
        1,
        &s,
        &[
            "--keys",
            &sk,
            "--connect",
            &pa,
            "--dealer",
            &da,
            "--timeout",
            "5",
        ],
        &["--protocol", "yao", "--input", AES_PT],
    );
    stranger.fails(Duration::from_secs(10), &["TLS"]);
    // The honest party 1 still gets its seat and the right answer.
    let p1 = party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da],
        &["--protocol", "yao", "--input", AES_PT],
    );
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    let e0 = p0.finish(WAIT);
    assert!(e0.status.success(), "{}", e0.stderr);
    assert!(
        e0.stderr.contains("not the pinned certificate of party 1"),
        "{}",
        e0.stderr
    );
    assert_eq!(e0.stdout, format!("{AES_CT}\n"));
    let ed = d.finish(WAIT);
    assert!(ed.status.success(), "{}", ed.stderr);
    assert!(
        ed.stderr.contains("dealer: refused a connection from"),
        "{}",
        ed.stderr
    );
}

#[test]
fn an_impostor_dealer_is_refused_before_the_session_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ik = stranger_keys(dir.path(), Role::Dealer);
    let impostor = Proc::spawn(
        "impostor",
        &[
            "dealer",
            "--listen",
            "127.0.0.1:0",
            "--keys",
            &ik,
            "--timeout",
            "5",
        ],
    );
    let ia = impostor.address();
    let p1 = party(
        1,
        &session(),
        &[
            "--offline",
            "--dealer",
            &ia,
            "--store",
            dir.path().join("p1.pre").to_str().unwrap(),
            "--timeout",
            "5",
        ],
        &[],
    );
    p1.fails(
        Duration::from_secs(10),
        &[
            "connecting to the dealer",
            "TLS handshake with dealer refused",
            "not the pinned certificate of dealer",
        ],
    );
    assert!(!dir.path().join("p1.pre").exists());
}

#[test]
fn a_copy_of_a_consumed_file_is_refused_by_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let s = session();
    let (f0, f1) = offline_files(dir.path(), &s, &["--protocol", "gmw"]);
    let backup = dir.path().join("p1.backup");
    std::fs::copy(&f1, &backup).unwrap();
    let job0 = ["--protocol", "gmw", "--input", AES_KEY];
    let job1 = ["--protocol", "gmw", "--input", AES_PT];
    let (p0, p1) = online_from_files(&s, &f0, &f1, &job0, &job1);
    assert_eq!(p0.ok(), format!("{AES_CT}\n"));
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    // The backup has no "consumed" mark, but the ledger remembers its dealing.
    let again = party(
        1,
        &s,
        &[
            "--connect",
            "127.0.0.1:9",
            "--preprocessed",
            backup.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        &job1,
    );
    again.fails(
        Duration::from_secs(10),
        &["already consumed by party 1", "ledger"],
    );
}

#[test]
fn mixed_dealings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = session();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    // Two dealings under one session id: party 0 gets the first, party 1 the second.
    let (f0, _) = offline_files(&a, &s, &["--protocol", "gmw"]);
    let (_, f1) = offline_files(&b, &s, &["--protocol", "gmw"]);
    let (p0, p1) = online_from_files(
        &s,
        &f0,
        &f1,
        &["--protocol", "gmw", "--input", AES_KEY],
        &["--protocol", "gmw", "--input", AES_PT],
    );
    for p in [p0, p1] {
        let e = p.fails(Duration::from_secs(10), &["different dealings"]);
        assert!(e.stdout.is_empty(), "{}", e.stdout);
    }
}

#[test]
fn a_party_stops_waiting_for_a_dead_dealer_when_its_peer_is_gone() {
    let s = session();
    let dead = free_port();
    let p0 = party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            &dead,
            "--timeout",
            "20",
        ],
        &["--random"],
    );
    let pa = p0.address();
    let p1 = party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &dead, "--timeout", "2"],
        &["--random"],
    );
    p1.fails(Duration::from_secs(8), &["connecting to the dealer"]);
    p0.fails(
        NOTICED,
        &["waiting for the dealer: the link to party 1 ended"],
    );
}

#[test]
fn keygen_writes_a_key_and_a_certificate_and_insecure_is_loud() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "keygen",
            "--out",
            dir.path().to_str().unwrap(),
            "--name",
            "party1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sha256 "), "{stdout}");
    assert!(dir.path().join("party1.key").is_file() && dir.path().join("party1.crt").is_file());
    let again = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "keygen",
            "--out",
            dir.path().to_str().unwrap(),
            "--name",
            "party1",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    // Neither --keys nor --insecure: refused with both named.
    let d = Proc::spawn("dealer", &["dealer", "--listen", "127.0.0.1:0"]);
    d.fails(Duration::from_secs(10), &["--keys DIR", "--insecure"]);
    // Plain TCP still works, with a warning at every process.
    let s = session();
    let d = Proc::spawn(
        "dealer",
        &[
            "dealer",
            "--listen",
            "127.0.0.1:0",
            "--insecure",
            "--timeout",
            "20",
        ],
    );
    let da = d.address();
    let p0 = party(
        0,
        &s,
        &["--insecure", "--listen", "127.0.0.1:0", "--dealer", &da],
        &["--input", AES_KEY],
    );
    let pa = p0.address();
    let p1 = party(
        1,
        &s,
        &["--insecure", "--connect", &pa, "--dealer", &da],
        &["--input", AES_PT],
    );
    for p in [p0, p1] {
        let e = p.finish(WAIT);
        assert!(e.status.success(), "{}", e.stderr);
        assert_eq!(e.stdout, format!("{AES_CT}\n"));
        assert!(e.stderr.contains("WARNING: --insecure"), "{}", e.stderr);
    }
    let e = d.finish(WAIT);
    assert!(
        e.status.success() && e.stderr.contains("WARNING: --insecure"),
        "{}",
        e.stderr
    );
}

/// Both parties with `--offline ot` (no dealer): party 0 listens, party 1 connects;
/// `extra0`/`extra1` are each one's further options, `job` the model or circuit job.
fn ot_parties(
    s: &str,
    model: bool,
    extra0: &[&str],
    job0: &[&str],
    extra1: &[&str],
    job1: &[&str],
) -> (Proc, Proc) {
    let spawn = |id: usize, opts: &[&str], job: &[&str]| {
        let opts = [&["--offline", "ot", "--timeout", "20"], opts].concat();
        if model {
            model_party(id, s, &opts, job)
        } else {
            party(id, s, &opts, job)
        }
    };
    let p0 = spawn(0, &[&["--listen", "127.0.0.1:0"], extra0].concat(), job0);
    let pa = p0.address();
    let p1 = spawn(1, &[&["--connect", &pa], extra1].concat(), job1);
    (p0, p1)
}

#[test]
fn two_processes_offline_ot_without_a_dealer() {
    let s = session();
    let (p0, p1) = ot_parties(
        &s,
        false,
        &["--json"],
        &["--protocol", "gmw", "--input", AES_KEY],
        &[],
        &["--protocol", "gmw", "--input", AES_PT],
    );
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    let v: serde_json::Value = serde_json::from_str(&p0.ok()).unwrap();
    assert_eq!(v["outputs"], serde_json::json!([[AES_CT]]));
    // The correlations travelled between the parties (6,400 AND triples from OTs, 8
    // bytes per OT); the online phase is the dealer run's, byte for byte.
    assert!(v["metering"]["offline"]["bytes_sent"].as_u64().unwrap() > 6_400 * 8);
    assert_eq!(v["metering"]["online"], v["predicted"]["online"]);
}

/// `--ot-pairing FILE` at both parties: the first session runs the base OTs and
/// writes each party's half (mode 0600), the second derives its set-up from the files
/// (fewer offline bytes, same output); a party given the other's half is refused
/// before connecting, and the option needs `--offline ot`.
#[test]
fn ot_pairing_files_let_a_second_session_skip_the_base_ots() {
    let dir = tempfile::tempdir().unwrap();
    let file = |p: usize| dir.path().join(format!("p{p}.pairing"));
    let (f0, f1) = (file(0), file(1));
    let (f0, f1) = (f0.to_str().unwrap(), f1.to_str().unwrap());
    let run = || {
        let (p0, p1) = ot_parties(
            &session(),
            false,
            &["--json", "--ot-pairing", f0],
            &["--protocol", "gmw", "--input", AES_KEY],
            &["--ot-pairing", f1],
            &["--protocol", "gmw", "--input", AES_PT],
        );
        let (e0, e1) = (p0.finish(WAIT), p1.finish(WAIT));
        assert!(
            e0.status.success() && e1.status.success(),
            "{}\n{}",
            e0.stderr,
            e1.stderr
        );
        assert_eq!(e1.stdout, format!("{AES_CT}\n"));
        let v: serde_json::Value = serde_json::from_str(&e0.stdout).unwrap();
        assert_eq!(v["outputs"], serde_json::json!([[AES_CT]]));
        let sent = v["metering"]["offline"]["bytes_sent"].as_u64().unwrap();
        (sent, e0.stderr, e1.stderr)
    };
    let (fresh, s0, s1) = run();
    for s in [&s0, &s1] {
        assert!(
            s.contains("base OTs run; the new OT pairing is kept in"),
            "{s}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file(0)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (paired, s0, s1) = run();
    for s in [&s0, &s1] {
        assert!(s.contains("derived from the pairing in"), "{s}");
    }
    // Party 0 no longer sends its 128 base-OT points (4 kB).
    assert_eq!(fresh - paired, 128 * 32 + 8 * 8, "{fresh} vs {paired}");
    // Refused before connecting: the other party's half, the option without
    // `--offline ot`, a file in a directory that does not exist.
    let refused = |opts: &[&str]| {
        let common = ["--insecure", "--listen", "127.0.0.1:0"];
        let job = ["--protocol", "gmw", "--input", AES_KEY];
        let o = party(0, &session(), &[&common[..], opts].concat(), &job).finish(WAIT);
        assert!(!o.status.success(), "{opts:?}");
        o.stderr
    };
    let e = refused(&["--offline", "ot", "--ot-pairing", f1]);
    assert!(e.contains("party 1's half"), "{e}");
    let e = refused(&["--dealer", "127.0.0.1:9", "--ot-pairing", f0]);
    assert!(e.contains("--offline ot only"), "{e}");
    let e = refused(&[
        "--offline",
        "ot",
        "--ot-pairing",
        "/nonexistent/dir/p0.pairing",
    ]);
    assert!(e.contains("does not exist"), "{e}");
}

/// The fixed-point reference of the MLP on the first test digit: labels and logits.
/// The fixed-point reference (16 fractional bits) of embedded `model` on the first `n`
/// test digits: their labels, and their scores decoded, in order.
fn reference(model: &str, n: usize) -> (serde_json::Value, Vec<f64>) {
    let model = tessera_models::assets::model(model).unwrap();
    let fm = tessera_models::FixedModel::<tessera_core::Z64>::new(
        &model,
        tessera_core::FixedPoint::new(16),
    )
    .unwrap();
    let mnist = tessera_models::assets::mnist().unwrap();
    let t = tessera_models::data::MNIST10K_TEST.start;
    let run = fm.run_f32(&mnist.images_f32(t..t + n).unwrap()).unwrap();
    (
        serde_json::json!(run.labels()),
        fm.fixed_point().decode_slice(&run.scores.values),
    )
}

fn mlp_reference() -> (serde_json::Value, Vec<f64>) {
    reference("mlp", 1)
}

fn logits(v: &serde_json::Value) -> Vec<f64> {
    v["outputs"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect()
}

#[test]
fn offline_ot_stored_then_run_online_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    // The circuit under Yao (random OTs), then the MLP under a+y (plaintext-weight
    // products, truncation, random OTs): each party saves its OT-made material,
    // then runs online from its file alone.
    let s = session();
    let (f0, f1) = (dir.path().join("c0.pre"), dir.path().join("c1.pre"));
    let yao = ["--protocol", "yao"];
    let (p0, p1) = ot_parties(
        &s,
        false,
        &["--store", f0.to_str().unwrap(), "--json"],
        &yao,
        &["--store", f1.to_str().unwrap()],
        &yao,
    );
    let v: serde_json::Value = serde_json::from_str(&p0.ok()).unwrap();
    assert_eq!(v["session"], s);
    assert!(v["metering"]["offline"]["bytes_received"].as_u64().unwrap() > 0);
    assert!(p1.ok().is_empty());
    #[cfg(unix)]
    for f in [&f0, &f1] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    let (p0, p1) = online_from_files(
        &s,
        &f0,
        &f1,
        &["--protocol", "yao", "--input", AES_KEY],
        &["--protocol", "yao", "--input", AES_PT],
    );
    assert_eq!(p0.ok(), format!("{AES_CT}\n"));
    assert_eq!(p1.ok(), format!("{AES_CT}\n"));
    // Consumed: a second run from the file is refused before connecting.
    let again = party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--preprocessed",
            f0.to_str().unwrap(),
        ],
        &["--protocol", "yao", "--input", AES_KEY],
    );
    again.fails(WAIT, &["already consumed"]);

    let s = session();
    let (m0, m1) = (dir.path().join("m0.pre"), dir.path().join("m1.pre"));
    let mlp = ["--model", "mlp", "--plan", "a+y", "--logits"];
    let (p0, p1) = ot_parties(
        &s,
        true,
        &["--store", m0.to_str().unwrap()],
        &mlp,
        &["--store", m1.to_str().unwrap()],
        &mlp,
    );
    p0.ok();
    p1.ok();
    let from_file = |id: usize, f: &Path, opts: &[&str], job: &[&str]| {
        let o = [
            &["--preprocessed", f.to_str().unwrap(), "--timeout", "20"],
            opts,
        ]
        .concat();
        model_party(id, &s, &o, job)
    };
    let p0 = from_file(0, &m0, &["--listen", "127.0.0.1:0"], &mlp);
    let pa = p0.address();
    let job1 = [&mlp[..], &["--dataset", "mnist", "--json"]].concat();
    let p1 = from_file(1, &m1, &["--connect", &pa], &job1);
    let v: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
    p0.ok();
    let (labels, scores) = mlp_reference();
    assert_eq!(v["labels"], labels);
    assert_eq!(logits(&v), scores);
}

/// A model session of three queries (one digit each): the masked weights are sent
/// once (party 0's set-up bytes those of a one-query session, up to the handshake's
/// longer configuration), every query's online
/// traffic is the same, and the client's labels and scores are the reference's for
/// the three digits in order.
#[test]
fn a_model_session_answers_several_queries_after_one_set_up() {
    let run = |queries: &str| {
        let s = session();
        let (d, da) = dealer(20, &[]);
        let common = [
            "--model",
            "mlp",
            "--plan",
            "a+y",
            "--logits",
            "--batch",
            "1",
            "--queries",
            queries,
        ];
        let opts = ["--dealer", &da, "--timeout", "20"];
        let job0 = [&common[..], &["--json"]].concat();
        let p0 = model_party(
            0,
            &s,
            &[&["--listen", "127.0.0.1:0"], &opts[..]].concat(),
            &job0,
        );
        let pa = p0.address();
        let job1 = [&common[..], &["--dataset", "mnist", "--json"]].concat();
        let p1 = model_party(1, &s, &[&["--connect", &pa], &opts[..]].concat(), &job1);
        let v1: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
        let v0: serde_json::Value = serde_json::from_str(&p0.ok()).unwrap();
        d.ok();
        (v0, v1)
    };
    let (one0, _) = run("1");
    let (v0, v1) = run("3");
    let setup = |v: &serde_json::Value| v["metering"]["setup"]["bytes_sent"].as_u64().unwrap();
    // Party 0's set-up (its masked weights, ≈ 0.9 MB, and the handshake) is paid once:
    // three queries' set-up is one query's but for the handshake's config, which
    // names the number of queries (a few bytes).
    assert!(setup(&one0) > 100_000, "{}", one0["metering"]);
    let extra = setup(&v0) - setup(&one0);
    assert!(extra < 100, "{} vs {}", setup(&v0), setup(&one0));
    for v in [&v0, &v1] {
        assert_eq!(v["queries"], 3);
        let q = v["per_query"].as_array().unwrap();
        assert_eq!(q.len(), 3);
        for k in q {
            assert_eq!(k["examples"], 1);
            assert_eq!(k["bytes_sent"], q[0]["bytes_sent"]);
            assert!(k["bytes_sent"].as_u64().unwrap() > 0);
        }
    }
    let (labels, scores) = reference("mlp", 3);
    assert_eq!(v1["labels"], labels);
    assert_eq!(logits(&v1), scores);
}

#[test]
fn model_with_offline_ot_equals_the_reference() {
    let s = session();
    let mlp = ["--model", "mlp", "--plan", "a+y", "--logits"];
    let job1 = [&mlp[..], &["--dataset", "mnist", "--json"]].concat();
    let (p0, p1) = ot_parties(&s, true, &[], &mlp, &[], &job1);
    let e0 = p0.finish(WAIT);
    assert!(e0.status.success(), "{}", e0.stderr);
    assert!(
        e0.stderr.contains("OT extension with party 1"),
        "{}",
        e0.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
    let (labels, scores) = mlp_reference();
    assert_eq!(v["labels"], labels);
    assert_eq!(logits(&v), scores);
}

#[test]
fn one_party_with_ot_and_the_other_with_the_dealer_both_say_so() {
    let s = session();
    let (_d, da) = dealer(10, &[]);
    let p0 = party(
        0,
        &s,
        &[
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "ot",
            "--timeout",
            "10",
        ],
        &["--input", AES_KEY],
    );
    let pa = p0.address();
    let p1 = party(
        1,
        &s,
        &["--connect", &pa, "--dealer", &da, "--timeout", "10"],
        &["--input", AES_PT],
    );
    // Named by the handshake at once, well within the timeout.
    let quick = Duration::from_secs(8);
    for p in [p1, p0] {
        let e = p.fails(quick, &["handshake with party", "preprocessing"]);
        assert!(
            e.stderr.contains("ot") && e.stderr.contains("dealer"),
            "{}",
            e.stderr
        );
    }
}

/// A model trained with its parameters never revealed, served by three processes,
/// each party loading only its own share file: the client's labels are those of
/// `tessera infer-shared` (same model, same digits); a party started with another
/// model's share is stopped at the handshake, which names the model key.
#[test]
fn three_processes_serve_a_model_kept_shared() {
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, seed: &str| {
        let prefix = dir.path().join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args([
                "train",
                "--model",
                "logreg",
                "--examples",
                "128",
                "--batch",
                "64",
            ])
            .args(["--seed", seed, "--reveal", "none", "--keep-shared"])
            .arg(&prefix)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        prefix
    };
    let (a, b) = (train("a", "1"), train("b", "2"));
    let share = |prefix: &Path, p: usize| format!("{}.party{p}.share", prefix.display());
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "infer-shared",
            "--examples",
            "6",
            "--batch",
            "4",
            "--plan",
            "a+b",
        ])
        .args(["--json", "--shares"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let single: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    let (a0, a1, b1) = (share(&a, 0), share(&a, 1), share(&b, 1));
    let common = ["--examples", "6", "--batch", "4"];
    // The dealer and both parties of one session, party 1 with `share1` and `extra`.
    let serve = |share1: &str, extra: &[&str]| {
        let s = session();
        let (d, da) = dealer(20, &[]);
        let p0_opts = [
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            &da,
            "--timeout",
            "20",
        ];
        let job0 = [&common[..], &["--share", &a0]].concat();
        let p0 = job_party(0, &s, &p0_opts, "shared-model", &job0);
        let pa = p0.address();
        let job1 = [
            &common[..],
            &["--share", share1, "--dataset", "mnist"],
            extra,
        ]
        .concat();
        let p1_opts = ["--connect", &pa, "--dealer", &da, "--timeout", "20"];
        let p1 = job_party(1, &s, &p1_opts, "shared-model", &job1);
        (d, p0, p1)
    };
    let (d, p0, p1) = serve(&a1, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
    assert_eq!(v["job"], "shared-model");
    // Secure truncations differ by a unit at most between runs; these six digits are
    // far from ties.
    assert_eq!(v["labels"].as_array().map(Vec::len), Some(6), "{v}");
    assert_eq!(v["labels"], single["labels"], "{v}");
    let out0 = p0.finish(WAIT);
    assert!(out0.status.success(), "{}", out0.stderr);
    assert!(out0.stderr.contains("learns nothing"), "{}", out0.stderr);
    d.ok();

    // Party 1 with the other model's share.
    let (d, p0, p1) = serve(&b1, &[]);
    // Every process names the key (a party through its handshake with the other party
    // or with the dealer, whichever compares first).
    let quick = Duration::from_secs(10);
    for p in [p0, p1] {
        p.fails(quick, &["config.model"]);
    }
    d.fails(quick, &["config.model"]);
    // Its own share given to the wrong party: refused before any connection.
    job_party(
        0,
        &session(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            "127.0.0.1:9",
            "--timeout",
            "5",
        ],
        "shared-model",
        &[&common[..], &["--share", &a1]].concat(),
    )
    .fails(quick, &["holds party 1's share; this is party 0"]);
}

/// Private training as three processes — the dealer, party 0 and party 1 holding the
/// digits (and, split, both holding half): both parties learn the same parameters (the
/// same test accuracy), each writes its own share under one model identifier derived
/// from the session, and the two files then serve secure inference
/// (`tessera infer-shared`), every label equal to the fixed-point reference's.
#[test]
fn three_processes_train_and_keep_the_model_shared() {
    let dir = tempfile::tempdir().unwrap();
    let file = |p: usize| format!("{}/m.party{p}.share", dir.path().display());
    let (f0, f1) = (file(0), file(1));
    let common = [
        "--model",
        "logreg",
        "--examples",
        "1024",
        "--batch",
        "64",
        "--json",
    ];
    for holders in ["client", "split"] {
        let s = session();
        let (d, da) = dealer(30, &[]);
        let p0_opts = [
            "--listen",
            "127.0.0.1:0",
            "--dealer",
            &da,
            "--timeout",
            "30",
        ];
        let data0: &[&str] = if holders == "split" {
            &["--dataset", "mnist"]
        } else {
            &[]
        };
        let job0 = [
            &common[..],
            &["--holders", holders, "--keep-shared", &f0],
            data0,
        ]
        .concat();
        let p0 = job_party(0, &s, &p0_opts, "train", &job0);
        let pa = p0.address();
        let job1 = [
            &common[..],
            &[
                "--holders",
                holders,
                "--keep-shared",
                &f1,
                "--dataset",
                "mnist",
            ],
        ]
        .concat();
        let p1_opts = ["--connect", &pa, "--dealer", &da, "--timeout", "30"];
        let p1 = job_party(1, &s, &p1_opts, "train", &job1);
        let v1: serde_json::Value = serde_json::from_str(&p1.ok()).unwrap();
        let v0: serde_json::Value = serde_json::from_str(&p0.ok()).unwrap();
        d.ok();
        assert_eq!(v0["job"], "train");
        let acc = &v0["epochs"][0]["test_accuracy"];
        assert!(acc.as_f64().unwrap() > 0.5, "{holders}: {v0}");
        assert_eq!(acc, &v1["epochs"][0]["test_accuracy"], "{holders}");
        assert_eq!(v0["epochs"][0]["rounds"], v1["epochs"][0]["rounds"]);
        // One model identifier in both files.
        assert_eq!(v0["share"][1], v1["share"][1], "{holders}");
        assert_eq!(v0["share"][0], f0.as_str());
    }
    // The last pair of files serves securely, with the reference's labels.
    let prefix = format!("{}/m", dir.path().display());
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "infer-shared",
            "--shares",
            &prefix,
            "--examples",
            "20",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["reference_agreement"].as_u64().unwrap() >= 19, "{r}");
    // A data holder without its data, and party 0 given data it does not hold.
    let quick = Duration::from_secs(10);
    let lone = [
        "--listen",
        "127.0.0.1:0",
        "--dealer",
        "127.0.0.1:9",
        "--timeout",
        "5",
    ];
    let lone1 = [
        "--connect",
        "127.0.0.1:9",
        "--dealer",
        "127.0.0.1:9",
        "--timeout",
        "5",
    ];
    job_party(1, &session(), &lone1, "train", &common).fails(
        quick,
        &["party 1 holds training examples", "--dataset mnist"],
    );
    job_party(
        0,
        &session(),
        &lone,
        "train",
        &[&common[..], &["--dataset", "mnist"]].concat(),
    )
    .fails(quick, &["party 0 holds no example"]);
}
