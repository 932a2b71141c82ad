//! Human-readable outputs: `results.md` (a Markdown table per network) and SVG bar
//! charts (median online time with its min–max range, and online bytes, per scenario
//! and network).
//!
//! The charts are hand-written SVG (about a hundred lines, no dependency):
//! horizontal bars on a logarithmic axis, because the scenarios span six orders of
//! magnitude (a Y2B of one value to SHA-256 on WAN). `plotters` 0.3 with only its SVG
//! backend would be cheap too (6 crates, 5.8 s for a release build of a crate using
//! it on the 2-core development machine, measured in an empty project), but a chart
//! that is a list of rectangles, lines and labels needs none of its coordinate
//! systems, fonts or backends, and the `tessera` binary gets no dependency for it.
//! The one dependency the harness adds is `indicatif` for the progress bar (7 crates,
//! 10.5 s measured the same way).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::results::{Results, ScenarioResult, write_atomic};

/// `1.23 ms`, `45.6 µs`, `2.10 s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if v >= 1e9 {
        format!("{:.2} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// `812 B`, `1.61 MB` (decimal units).
pub fn fmt_bytes(b: u64) -> String {
    let v = b as f64;
    if v >= 1e9 {
        format!("{:.2} GB", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kB", v / 1e3)
    } else {
        format!("{b} B")
    }
}

/// An axis tick: a power of ten in the largest unit that keeps it ≥ 1 (`100 µs`).
fn tick(v: u64, units: &[(f64, &str)]) -> String {
    let x = v as f64;
    let (scale, unit) = units
        .iter()
        .rev()
        .find(|(s, _)| x >= *s)
        .copied()
        .unwrap_or(units[0]);
    let n = format!("{:.3}", x / scale);
    format!("{} {unit}", n.trim_end_matches('0').trim_end_matches('.'))
}

/// An axis tick for nanoseconds (`100 ns`, `10 µs`, …).
pub fn tick_ns(v: u64) -> String {
    tick(v, &[(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")])
}

/// An axis tick for bytes (`1 kB`, `10 MB`, …).
pub fn tick_bytes(v: u64) -> String {
    tick(v, &[(1.0, "B"), (1e3, "kB"), (1e6, "MB"), (1e9, "GB")])
}

fn label(s: &ScenarioResult) -> String {
    s.id.rsplit_once('@')
        .map_or(s.id.clone(), |(l, _)| l.to_string())
}

/// The scenarios of each network, in run order.
fn by_network(r: &Results) -> Vec<(String, Vec<&ScenarioResult>)> {
    let mut out: Vec<(String, Vec<&ScenarioResult>)> = Vec::new();
    for s in &r.scenarios {
        match out.iter_mut().find(|(n, _)| *n == s.network) {
            Some((_, v)) => v.push(s),
            None => out.push((s.network.clone(), vec![s])),
        }
    }
    out
}

fn correlations(c: &BTreeMap<String, u64>) -> String {
    if c.is_empty() {
        return "—".into();
    }
    c.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown report.
pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let or = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
    let mut s = String::new();
    let _ = writeln!(s, "# Tessera benchmark results\n");
    let _ = writeln!(
        s,
        "- machine: {}, {} cores, {}/{}; {} build, {}",
        or(&m.cpu_model),
        m.cores,
        m.os,
        m.arch,
        m.build,
        or(&m.rustc)
    );
    let _ = writeln!(
        s,
        "- commit: {}{}",
        or(&m.git_commit),
        if m.git_dirty == Some(true) {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "- settings: {}{} measured repetitions after {} warm-up, networks {}, offline \
         phase from the {}\n",
        if r.settings.quick { "quick, " } else { "" },
        r.settings.reps,
        r.settings.warmup,
        r.settings.networks.join(", "),
        match r.settings.offline.as_str() {
            "ot" => "parties by OT extension (`--offline ot`)",
            "ot-paired" => {
                "parties by OT extension, base OTs once per scenario (`--offline ot \
                 --ot-pairing`: an untimed repetition pairs the parties first)"
            }
            _ => "dealer",
        }
    );
    let _ = writeln!(
        s,
        "Times are the later party's, median over the repetitions with the interquartile \
         range and the extremes. Bytes, messages and rounds are exact (the channels' \
         meters) and identical in every repetition: *online* is the peer channel inside \
         the timed window, *offline* {}. p0 / p1 = party 0 / party 1.\n",
        if r.settings.offline.starts_with("ot") {
            "the offline phase on the channel between the parties (correlations by OT \
             extension, `--offline ot`: no dealer)"
        } else {
            "each party's channel to the dealer"
        }
    );
    for n in &r.not_run {
        let _ = writeln!(s, "- not run with `--offline ot`: {}: {}", n.id, n.reason);
    }
    if !r.not_run.is_empty() {
        let _ = writeln!(s);
    }
    for (net, list) in by_network(r) {
        let _ = writeln!(s, "## Network `{net}`\n");
        let _ = writeln!(
            s,
            "![online time]({}) ![online bytes]({})\n",
            chart_file("time", &net),
            chart_file("bytes", &net)
        );
        let _ = writeln!(
            s,
            "| scenario | online (median) | of it waiting for the peer | IQR | min – max | offline (median) | online bytes sent p0 / p1 | online msgs p0 / p1 | online rounds | offline bytes received p0 / p1 | AND gates | correlations taken online |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for x in &list {
            let (a, b) = (&x.counters.party0, &x.counters.party1);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} – {} | {} – {} | {} | {} / {} | {} / {} | {} | {} / {} | {} | {} |",
                label(x),
                fmt_ns(x.online_ns.median),
                x.online_waiting_ns
                    .map_or_else(|| "—".to_string(), |w| fmt_ns(w.median)),
                fmt_ns(x.online_ns.q1),
                fmt_ns(x.online_ns.q3),
                fmt_ns(x.online_ns.min),
                fmt_ns(x.online_ns.max),
                fmt_ns(x.offline_ns.median),
                a.online.bytes_sent,
                b.online.bytes_sent,
                a.online.messages_sent,
                b.online.messages_sent,
                a.online.rounds.max(b.online.rounds),
                a.offline.bytes_received,
                b.offline.bytes_received,
                x.counters
                    .and_gates
                    .map_or_else(|| "—".to_string(), |g| g.to_string()),
                correlations(&x.counters.correlations)
            );
        }
        let _ = writeln!(s);
        let predicted: Vec<_> = list
            .iter()
            .filter_map(|x| x.predicted.as_ref().map(|p| (x, p)))
            .collect();
        if !predicted.is_empty() {
            let _ = writeln!(
                s,
                "Against the planner's prediction (calibration: {}); *error* is (measured − \
                 predicted) / measured of the online time:\n\n\
                 | scenario | sharings | online predicted | online measured | error | offline predicted | offline measured | online bytes (p0 + p1) predicted / measured | rounds predicted / measured |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|---:|",
                r.settings
                    .calibration
                    .as_deref()
                    .unwrap_or("the embedded one of the commit")
            );
            for (x, p) in predicted {
                let (a, b) = (&x.counters.party0, &x.counters.party1);
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | {:+.0} % | {} | {} | {} / {} | {} / {} |",
                    label(x),
                    p.sharings.replace('|', "&#124;"),
                    fmt_ns(p.online_ns),
                    fmt_ns(x.online_ns.median),
                    error_percent(p.online_ns, x.online_ns.median),
                    fmt_ns(p.offline_ns),
                    fmt_ns(x.offline_ns.median),
                    p.bytes,
                    a.online.bytes_sent + b.online.bytes_sent,
                    p.rounds,
                    a.online.rounds.max(b.online.rounds)
                );
            }
            let _ = writeln!(s);
        }
        latency(&mut s, &list);
    }
    if !r.predicted_only.is_empty() {
        let _ = writeln!(
            s,
            "## Priced, not run\n\n\
             Predicted online + offline time per repetition above the budget: the planner's \
             prediction only (bytes and rounds exact, times predicted).\n\n\
             | scenario | network | sharings | online predicted | offline predicted | online bytes (p0 + p1) | rounds | budget |\n\
             |---|---|---|---:|---:|---:|---:|---:|"
        );
        for x in &r.predicted_only {
            let p = &x.predicted;
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | {} | {} | {} | {} |",
                x.id.rsplit_once('@').map_or(x.id.as_str(), |(l, _)| l),
                x.network,
                p.sharings.replace('|', "&#124;"),
                fmt_ns(p.online_ns),
                fmt_ns(p.offline_ns),
                fmt_bytes(p.bytes),
                p.rounds,
                fmt_ns(x.budget_ns)
            );
        }
        let _ = writeln!(s);
    }
    s
}

/// A scenario's `batch` parameter, if it has one.
fn batch(x: &ScenarioResult) -> Option<u64> {
    x.params.get("batch").and_then(|b| b.parse().ok())
}

/// For every scenario measured at batch 1 and at a larger batch in the same run: its
/// batch-1 online time against its online time per instance at the largest batch, the
/// fixed cost of a small run (issue #18's yardstick: EMP's AES-128 is 4.7x).
fn latency(s: &mut String, list: &[&ScenarioResult]) {
    let mut rows = Vec::new();
    for one in list.iter().filter(|x| batch(x) == Some(1)) {
        let largest = list
            .iter()
            .filter(|x| x.family == one.family && x.name == one.name && x.id != one.id)
            .filter_map(|x| batch(x).filter(|&b| b > 1).map(|b| (b, x)))
            .filter(|(_, x)| {
                let mut p = x.params.clone();
                p.insert("batch".into(), "1".into());
                p == one.params
            })
            .max_by_key(|(b, _)| *b);
        if let Some((b, big)) = largest {
            let per = big.online_ns.median as f64 / b as f64;
            rows.push(format!(
                "| {}/{} | {} | {} | {} | {:.1}x |",
                one.family,
                one.name,
                fmt_ns(one.online_ns.median),
                b,
                fmt_ns(per.round() as u64),
                one.online_ns.median as f64 / per.max(1.0)
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "Batch 1 against the largest batch of this run (online medians): what a single query \
         pays beyond its share of the work.\n\n\
         | scenario | batch 1 online | largest batch | online per instance there | ratio |\n\
         |---|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(s, "{r}");
    }
    let _ = writeln!(s);
}

fn chart_file(kind: &str, network: &str) -> String {
    let safe: String = network
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{kind}-{safe}.svg")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar: label, value, optional range (whisker), value text.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The label left of the bar.
    pub label: String,
    /// The bar's length (log scale).
    pub value: u64,
    /// A whisker `(min, max)`, if any.
    pub range: Option<(u64, u64)>,
    /// The text right of the bar.
    pub text: String,
}

/// A horizontal bar chart on a log₁₀ axis. Zero values get no bar.
pub fn bar_chart(title: &str, bars: &[Bar], tick: fn(u64) -> String) -> String {
    let (left, width, row, top) = (330.0, 560.0, 18.0, 46.0);
    let positive = bars
        .iter()
        .flat_map(|b| [Some(b.value), b.range.map(|r| r.0), b.range.map(|r| r.1)])
        .flatten()
        .filter(|v| *v > 0);
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for v in positive {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi == 0 {
        (lo, hi) = (1, 10);
    }
    let d0 = (lo as f64).log10().floor();
    let d1 = ((hi as f64).log10().ceil()).max(d0 + 1.0);
    let x = |v: u64| -> f64 {
        if v == 0 {
            left
        } else {
            left + ((v as f64).log10() - d0) / (d1 - d0) * width
        }
    };
    let height = top + row * bars.len() as f64 + 34.0;
    let total = left + width + 110.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{height}" viewBox="0 0 {total} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        left,
        xml(title)
    );
    let axis_y = top + row * bars.len() as f64;
    let mut d = d0;
    while d <= d1 {
        let xv = left + (d - d0) / (d1 - d0) * width;
        let _ = writeln!(
            s,
            r##"<line x1="{xv:.1}" y1="{}" x2="{xv:.1}" y2="{axis_y}" stroke="#ddd"/><text x="{xv:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            top - 6.0,
            axis_y + 14.0,
            xml(&tick(10f64.powf(d).round() as u64))
        );
        d += 1.0;
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + 12.0,
            xml(&b.label)
        );
        if b.value > 0 {
            let _ = writeln!(
                s,
                r##"<rect x="{left}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7fb5"/>"##,
                y + 3.0,
                (x(b.value) - left).max(1.0),
                row - 6.0
            );
        }
        if let Some((a, c)) = b.range.filter(|r| r.0 > 0) {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/>"##,
                x(a),
                y + row / 2.0,
                x(c),
                y + row / 2.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            x(b.range.map_or(b.value, |r| r.1.max(b.value))) + 4.0,
            y + 12.0,
            xml(&b.text)
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// Writes `results.md` and the charts into `dir`; returns the files written.
///
/// # Errors
/// If a file cannot be written.
pub fn write_human(r: &Results, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let md = dir.join("results.md");
    write_atomic(&md, markdown(r))?;
    files.push(md);
    for (net, list) in by_network(r) {
        let time: Vec<Bar> = list
            .iter()
            .map(|x| Bar {
                label: label(x),
                value: x.online_ns.median,
                range: Some((x.online_ns.min, x.online_ns.max)),
                text: fmt_ns(x.online_ns.median),
            })
            .collect();
        let bytes: Vec<Bar> = list
            .iter()
            .map(|x| {
                let b = x.counters.party0.online.bytes_sent + x.counters.party1.online.bytes_sent;
                Bar {
                    label: label(x),
                    value: b,
                    range: None,
                    text: fmt_bytes(b),
                }
            })
            .collect();
        for (kind, title, bars, tick) in [
            (
                "time",
                format!("Online time, network {net} (median; line: min–max; log scale)"),
                time,
                tick_ns as fn(u64) -> String,
            ),
            (
                "bytes",
                format!("Online bytes sent by both parties, network {net} (log scale)"),
                bytes,
                tick_bytes,
            ),
        ] {
            let path = dir.join(chart_file(kind, &net));
            write_atomic(&path, bar_chart(&title, &bars, tick))?;
            files.push(path);
        }
    }
    Ok(files)
}

/// (measured − predicted) / measured, in percent (0 for a zero measurement).
fn error_percent(predicted_ns: u64, measured_ns: u64) -> f64 {
    if measured_ns == 0 {
        return 0.0;
    }
    100.0 * (measured_ns as f64 - predicted_ns as f64) / measured_ns as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_values_read_in_units() {
        assert_eq!(tick_ns(100), "100 ns");
        assert_eq!(tick_ns(10_000), "10 µs");
        assert_eq!(tick_ns(1_000_000_000), "1 s");
        assert_eq!(tick_bytes(1_000_000), "1 MB");
        assert_eq!(fmt_ns(1_234_567), "1.23 ms");
        assert_eq!(fmt_bytes(32_016), "32.0 kB");
        assert_eq!(format!("{:+.0}", error_percent(90, 100)), "+10");
        assert_eq!(format!("{:+.0}", error_percent(110, 100)), "-10");
        assert_eq!(error_percent(5, 0), 0.0);
    }
}
