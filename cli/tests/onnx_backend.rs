//! ONNX backend conformance: the ONNX project's `pytorch-converted` backend test cases
//! (80 of its 82; see `tests/fixtures/onnx-backend/pytorch-converted/README.md`, made by
//! `scripts/onnx_backend_cases.py`) run through the real `tessera infer` binary under the
//! plans `auto`, `a+b` and `a+y`.
//!
//! Each (case, plan) is one process,
//! `tessera infer --model <case>/model.onnx --input <case>/input.npy --logits
//! --output <tmp>/out.npy --plan <plan> --batch N --count N` (N the input's leading
//! dimension, so the whole tensor is one session), at most [`WORKERS`] at a time, each
//! killed after [`DEADLINE`]. `--logits` makes the client receive the output's values
//! rather than its argmax (and `--output` requires it); with `--input`, `infer` takes the
//! batch size from the file (`--count` only counts dataset examples), reads float32 only,
//! and itself exits 1 if the secure output leaves the plaintext fixed-point reference's
//! bound; it prints its report on stdout and, on failure, `error: …` on stderr.
//! A run **passes** iff it exits 0 and `out.npy` has the shape
//! of `expected.npy` and every element satisfies
//! `|got − expected| ≤ 0.02 + 0.01·|expected|` — the tolerance of the issue that asked for
//! this suite (NaN never passes).
//!
//! A run that does not pass must fail **cleanly**: a nonzero exit with a message on
//! stderr, whose first line is recorded. A run that exits 0 without the expected values
//! fails too, with what was wrong as its line (`WRONG` in the table when values are
//! beyond the tolerance: the binary did not know, e.g. an approximated activation; an
//! ordinary failure, not a reason to fail the test). Whatever the lists say, the test fails if
//! any run panics (exit code 101, or `panicked` on stderr — passing or not), hangs (killed
//! at the deadline), dies of a signal, or exits nonzero without a message.
//!
//! The runs expected to pass are listed in `tests/fixtures/onnx-backend/EXPECTED_PASS`
//! (one case per line, optionally followed by the plans it passes under, else all three).
//! The test fails if a listed run fails (a regression) and if an unlisted run passes
//! ("now passes, add it to EXPECTED_PASS"), so the list is the measured state.
//!
//! `TESSERA_BACKEND_CASES=test_Conv2d,test_ReLU` runs only those cases (exact names,
//! comma-separated; an unknown name is an error), checking the list for them only.
//! The summary table (case × plan: pass and largest error, or the first error line) is
//! printed on stderr: `cargo test -p tessera-cli --test onnx_backend -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tessera_models::NpyF32;

/// The plans every case runs under.
const PLANS: [&str; 3] = ["auto", "a+b", "a+y"];
/// How long one `tessera infer` process may run before it is killed and its run
/// counted as a hang.
const DEADLINE: Duration = Duration::from_secs(120);
/// Processes run at a time (the machine the suite is sized for has two cores).
const WORKERS: usize = 2;
/// The tolerance: `|got − expected| ≤ ABS_TOL + REL_TOL·|expected|`.
const ABS_TOL: f64 = 0.02;
/// See [`ABS_TOL`].
const REL_TOL: f64 = 0.01;
/// Cases in the fixtures (82 in onnx 1.23.2, less the two stress cases).
const CASES: usize = 80;
/// The environment variable selecting a subset of the cases.
const SUBSET_VAR: &str = "TESSERA_BACKEND_CASES";
/// Characters of an error line shown in the table (the whole line is in the failure
/// messages).
const TABLE_LINE: usize = 150;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx-backend")
}

fn cases_dir() -> PathBuf {
    suite_dir().join("pytorch-converted")
}

/// The case directories, sorted.
fn all_cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("the fixtures directory tests/fixtures/onnx-backend/pytorch-converted")
        .map(|e| e.expect("a directory entry of the fixtures"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// The runs `EXPECTED_PASS` lists: `case` (all plans) or `case plan…` per line, `#`
/// comments.
fn expected_pass(cases: &[String]) -> Result<BTreeSet<(String, String)>, String> {
    let path = suite_dir().join("EXPECTED_PASS");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut runs = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(case) = words.next() else { continue };
        if !cases.iter().any(|c| c == case) {
            return Err(format!("EXPECTED_PASS line {}: no case `{case}`", i + 1));
        }
        let plans: Vec<&str> = words.collect();
        let plans = if plans.is_empty() {
            PLANS.to_vec()
        } else {
            plans
        };
        for plan in plans {
            if !PLANS.contains(&plan) {
                return Err(format!(
                    "EXPECTED_PASS line {}: `{plan}` is not one of the plans {PLANS:?}",
                    i + 1
                ));
            }
            if !runs.insert((case.to_string(), plan.to_string())) {
                return Err(format!(
                    "EXPECTED_PASS line {}: `{case} {plan}` listed twice",
                    i + 1
                ));
            }
        }
    }
    Ok(runs)
}

/// The shape in an `.npy` file's header, whatever its dtype (the input of
/// `test_Embedding*` is int64).
fn npy_shape(path: &Path) -> Result<Vec<usize>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |why: &str| format!("{}: {why}", path.display());
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file"));
    }
    let (start, len) = match b[6] {
        1 => (10, usize::from(u16::from_le_bytes([b[8], b[9]]))),
        2 | 3 if b.len() >= 12 => (12, u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize),
        _ => return Err(bad("unknown .npy version")),
    };
    let header = b
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header"))?;
    let tuple = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split_once('('))
        .and_then(|(_, s)| s.split_once(')'))
        .map(|(t, _)| t)
        .ok_or_else(|| bad("no shape in the header"))?;
    tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| bad("a dimension is not a number")))
        .collect()
}

/// How a run ended.
#[derive(Clone, Debug)]
enum Verdict {
    /// Exit 0 and every value within the tolerance; the largest |got − expected|.
    Pass(f64),
    /// A clean failure: nonzero exit with a message (its first line), or exit 0 without
    /// a readable `out.npy` of the expected shape (what was wrong).
    Fail(String),
    /// Exit 0 but values beyond the tolerance: the largest |got − expected| and the
    /// description.
    Wrong(f64, String),
    /// Not a clean failure (panic, hang, signal, nonzero exit without a message); fails
    /// the test whatever the lists say.
    Unclean(String),
}

impl Verdict {
    fn passed(&self) -> bool {
        matches!(self, Verdict::Pass(_))
    }

    /// The table cell.
    fn cell(&self) -> String {
        match self {
            Verdict::Pass(e) => format!("pass {e:.1e}"),
            Verdict::Fail(_) => "fail".into(),
            Verdict::Wrong(e, _) => format!("WRONG {e:.1e}"),
            Verdict::Unclean(_) => "UNCLEAN".into(),
        }
    }

    /// The first error line (or what was wrong), if not a pass.
    fn line(&self) -> Option<&str> {
        match self {
            Verdict::Pass(_) => None,
            Verdict::Fail(l) | Verdict::Wrong(_, l) | Verdict::Unclean(l) => Some(l),
        }
    }
}

/// One run's outcome.
struct Outcome {
    verdict: Verdict,
    elapsed: Duration,
}

/// Waits for `child` until the deadline; kills it then. `None`: killed at the deadline.
fn wait_with_deadline(child: &mut std::process::Child) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() >= DEADLINE => {
                // Killing may fail only if it has just exited; wait reaps it either way.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for tessera infer: {e}"),
        }
    }
}

/// Compares `out` (written by `tessera infer`) with `expected` elementwise.
fn compare(out: &Path, expected: &Path) -> Verdict {
    let want = NpyF32::from_file(expected).expect("the fixture's expected.npy (float32)");
    let got = match NpyF32::from_file(out) {
        Ok(g) => g,
        Err(e) => return Verdict::Fail(format!("exit 0 but no readable out.npy: {e}")),
    };
    if got.shape != want.shape {
        return Verdict::Fail(format!(
            "exit 0 but out.npy has shape {:?}, expected {:?}",
            got.shape, want.shape
        ));
    }
    // The largest error and where; NaN (never within the tolerance) counts as the largest.
    let mut worst: Option<(usize, f64)> = None;
    let mut beyond = 0;
    for (i, (&g, &w)) in got.data.iter().zip(&want.data).enumerate() {
        let err = (f64::from(g) - f64::from(w)).abs();
        let within = err <= ABS_TOL + REL_TOL * f64::from(w).abs();
        if !within {
            beyond += 1;
        }
        if worst.is_none_or(|(_, e)| !e.is_nan() && (err.is_nan() || err > e)) {
            worst = Some((i, err));
        }
    }
    let (i, max_err) = worst.unwrap_or((0, 0.0));
    if beyond == 0 {
        return Verdict::Pass(max_err);
    }
    let (g, w) = (got.data[i], want.data[i]);
    Verdict::Wrong(
        max_err,
        format!(
            "exit 0 but {beyond} of {} values beyond 0.02 + 0.01·|expected|: largest |got − expected| {max_err:.4} at flat index {i} (got {g}, expected {w})",
            want.data.len()
        ),
    )
}

/// Runs one case under one plan.
fn run(case: &str, plan: &str, n: usize, tmp: &Path) -> Outcome {
    let dir = cases_dir().join(case);
    let work = tmp.join(case).join(plan);
    std::fs::create_dir_all(&work).expect("a temporary directory per run");
    let out = work.join("out.npy");
    let stdout = work.join("stdout.txt");
    let stderr = work.join("stderr.txt");
    let n = n.to_string();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("infer")
        .arg("--model")
        .arg(dir.join("model.onnx"))
        .arg("--input")
        .arg(dir.join("input.npy"))
        .arg("--logits")
        .arg("--output")
        .arg(&out)
        .args(["--plan", plan, "--batch", &n, "--count", &n])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("a stdout file"))
        .stderr(File::create(&stderr).expect("a stderr file"))
        .spawn()
        .expect("starting tessera infer");
    let status = wait_with_deadline(&mut child);
    let elapsed = start.elapsed();
    let err = std::fs::read(&stderr).expect("the stderr file");
    let err = String::from_utf8_lossy(&err);
    let first = err
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string();
    let panic_line = err.lines().find(|l| l.contains("panicked")).map(str::trim);
    let verdict = match status {
        None => Verdict::Unclean(format!(
            "HANG: killed after {} s (stderr: {first})",
            DEADLINE.as_secs()
        )),
        Some(s) if s.code() == Some(101) || panic_line.is_some() => Verdict::Unclean(format!(
            "PANIC (exit {}): {}",
            s.code().map_or("by signal".into(), |c| c.to_string()),
            panic_line.unwrap_or(&first)
        )),
        Some(s) if s.code().is_none() => Verdict::Unclean(format!("killed by a signal ({s})")),
        Some(s) if !s.success() && first.is_empty() => {
            Verdict::Unclean(format!("{s} without a message on stderr"))
        }
        Some(s) if !s.success() => Verdict::Fail(first),
        Some(_) => compare(&out, &dir.join("expected.npy")),
    };
    Outcome { verdict, elapsed }
}

/// The cases to run: all, or those `TESSERA_BACKEND_CASES` names.
fn selected(all: &[String]) -> (Vec<String>, bool) {
    let Ok(spec) = std::env::var(SUBSET_VAR) else {
        return (all.to_vec(), false);
    };
    let names: Vec<String> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        return (all.to_vec(), false);
    }
    let unknown: Vec<&String> = names.iter().filter(|n| !all.contains(n)).collect();
    assert!(
        unknown.is_empty(),
        "{SUBSET_VAR}: no such case(s) {unknown:?}; the cases are the directories of {}",
        cases_dir().display()
    );
    let mut names = names;
    names.sort();
    names.dedup();
    (names, true)
}

fn shorten(line: &str) -> String {
    if line.chars().count() <= TABLE_LINE {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(TABLE_LINE).collect::<String>())
    }
}

/// The summary table on stderr.
fn print_table(cases: &[String], results: &BTreeMap<(String, String), Outcome>) {
    let width = cases.iter().map(String::len).max().unwrap_or(4).max(4);
    eprintln!(
        "\nONNX backend conformance, pytorch-converted: {} case(s) × {PLANS:?}; pass iff exit 0 and |got − expected| ≤ 0.02 + 0.01·|expected| everywhere; time: the three runs' wall times summed",
        cases.len()
    );
    eprintln!(
        "{:width$}  {:13} {:13} {:13} {:>8}  first error line",
        "case", PLANS[0], PLANS[1], PLANS[2], "time"
    );
    for case in cases {
        let outs: Vec<&Outcome> = PLANS
            .iter()
            .map(|p| &results[&(case.clone(), p.to_string())])
            .collect();
        let time: Duration = outs.iter().map(|o| o.elapsed).sum();
        let lines: Vec<(&str, &str)> = PLANS
            .iter()
            .zip(&outs)
            .filter_map(|(p, o)| o.verdict.line().map(|l| (*p, l)))
            .collect();
        let note = match lines.as_slice() {
            [] => String::new(),
            [(_, l), rest @ ..] if rest.iter().all(|(_, m)| m == l) => shorten(l),
            _ => lines
                .iter()
                .map(|(p, l)| format!("[{p}] {}", shorten(l)))
                .collect::<Vec<_>>()
                .join("; "),
        };
        eprintln!(
            "{case:width$}  {:13} {:13} {:13} {:>5.0} ms  {note}",
            outs[0].verdict.cell(),
            outs[1].verdict.cell(),
            outs[2].verdict.cell(),
            time.as_secs_f64() * 1e3
        );
    }
}

/// Every case under every plan through the binary; see the module documentation.
#[test]
fn pytorch_converted_cases_under_auto_a_plus_b_a_plus_y() {
    let all = all_cases();
    assert_eq!(
        all.len(),
        CASES,
        "cases in {} (rerun scripts/onnx_backend_cases.py?)",
        cases_dir().display()
    );
    let expected = expected_pass(&all).unwrap_or_else(|e| panic!("{e}"));
    let (cases, subset) = selected(&all);
    let jobs: Vec<(String, &str, usize)> = cases
        .iter()
        .flat_map(|case| {
            let shape = npy_shape(&cases_dir().join(case).join("input.npy"))
                .unwrap_or_else(|e| panic!("{e}"));
            let n = *shape
                .first()
                .unwrap_or_else(|| panic!("{case}: input.npy is a scalar"));
            PLANS.iter().map(move |p| (case.clone(), *p, n))
        })
        .collect();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while let Some((case, plan, n)) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let o = run(case, plan, *n, tmp.path());
                    results
                        .lock()
                        .expect("no worker panicked holding the results")
                        .insert((case.clone(), plan.to_string()), o);
                }
            });
        }
    });
    let wall = start.elapsed();
    let results = results.into_inner().expect("the results");
    print_table(&cases, &results);

    let all_three = cases
        .iter()
        .filter(|c| {
            PLANS
                .iter()
                .all(|p| results[&(c.to_string(), p.to_string())].verdict.passed())
        })
        .count();
    for p in PLANS {
        let n = cases
            .iter()
            .filter(|c| results[&(c.to_string(), p.to_string())].verdict.passed())
            .count();
        eprintln!("{p}: {n} of {} cases pass", cases.len());
    }
    eprintln!(
        "{all_three} of {} cases pass under all three plans{}",
        cases.len(),
        if subset {
            format!(" (the subset {SUBSET_VAR} selects)")
        } else {
            String::new()
        }
    );
    eprintln!(
        "{} runs in {:.1} s, {WORKERS} processes at a time",
        jobs.len(),
        wall.as_secs_f64()
    );

    let mut problems = Vec::new();
    for ((case, plan), o) in &results {
        let listed = expected.contains(&(case.clone(), plan.clone()));
        match &o.verdict {
            Verdict::Unclean(l) => {
                problems.push(format!("{case} {plan}: not a clean failure: {l}"))
            }
            Verdict::Pass(_) if !listed => problems.push(format!(
                "{case} {plan}: now passes, add it to EXPECTED_PASS"
            )),
            v if listed && !v.passed() => problems.push(format!(
                "{case} {plan}: REGRESSION, listed in EXPECTED_PASS but {}",
                v.line().unwrap_or_default()
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        eprintln!("\n{} problem(s):", problems.len());
        for p in &problems {
            eprintln!("  {p}");
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s), first: {}",
        problems.len(),
        problems[0]
    );
}

/// The fixtures are the files `SHA256SUMS` lists, each with its hash, and nothing else;
/// `EXPECTED_PASS` names existing cases and plans. Fast: no process is run.
#[test]
fn fixtures_match_sha256sums_and_expected_pass_is_well_formed() {
    let dir = cases_dir();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    let mut listed = BTreeSet::new();
    for (i, line) in sums.lines().enumerate() {
        let (hash, name) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("SHA256SUMS line {}: not `<sha256>  <path>`", i + 1));
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "SHA256SUMS line {}: `{hash}` is not a SHA-256",
            i + 1
        );
        assert!(
            !name.starts_with('/') && name.split('/').all(|c| !c.is_empty() && c != ".."),
            "SHA256SUMS line {}: `{name}` is not a path inside the fixtures",
            i + 1
        );
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            hash,
            "{name} differs from SHA256SUMS (rerun scripts/onnx_backend_cases.py)"
        );
        assert!(listed.insert(name.to_string()), "{name} listed twice");
    }
    let mut on_disk = BTreeSet::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("a fixtures directory") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&dir).expect("a path under the fixtures");
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                on_disk.insert(rel.join("/"));
            }
        }
    }
    on_disk.remove("SHA256SUMS");
    assert_eq!(on_disk, listed, "the files on disk and in SHA256SUMS");
    let cases = all_cases();
    assert_eq!(cases.len(), CASES);
    for case in &cases {
        for f in ["model.onnx", "input.npy", "expected.npy"] {
            assert!(listed.contains(&format!("{case}/{f}")), "{case}/{f}");
        }
    }
    expected_pass(&cases).unwrap_or_else(|e| panic!("{e}"));
}
