//! The side-by-side table (plain text or markdown), the machine line and the
//! notes printed under the table.

use std::fmt::Write as _;
use std::fs;

use crate::measure::{Mark, Outcome};

const HEADER: [&str; 7] = [
    "daemon",
    "version",
    "converged (s)",
    "DUT CPU (s)",
    "peak RSS (MB)",
    "FIB complete (s)",
    "FIB routes/s",
];

/// The table, the machine line and the notes; `load` is the load average
/// when the run started.
pub fn render(
    outcomes: &[Outcome],
    peers: usize,
    prefixes: usize,
    load: &str,
    markdown: bool,
) -> String {
    let rows: Vec<[String; 7]> = outcomes.iter().map(row).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BGP convergence: {peers} injecting peers x {prefixes} prefixes = {} routes to one monitor peer",
        peers * prefixes
    );
    let _ = writeln!(
        out,
        "{}; load average {load} at start, {} now",
        machine(),
        load_average()
    );
    out.push('\n');
    if markdown {
        let line = |cells: &[String]| format!("| {} |", cells.join(" | "));
        let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
        let _ = writeln!(out, "{}", line(&header));
        let align: Vec<String> = HEADER
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { "---" } else { "---:" }.to_owned())
            .collect();
        let _ = writeln!(out, "{}", line(&align));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
    } else {
        let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let fmt = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i < 2 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
        let _ = writeln!(out, "{}", fmt(&header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "{}", fmt(&rule));
        for r in &rows {
            let _ = writeln!(out, "{}", fmt(r));
        }
    }
    let mut notes = String::new();
    for o in outcomes {
        let mut facts = Vec::new();
        if let Some(s) = o.injected {
            facts.push(format!("injectors had written all UPDATEs at {s:.2} s"));
        }
        if let (Some(c), Mark::Done(_)) = (o.cpu_at_converged, &o.fib) {
            facts.push(format!("DUT CPU {c:.2} s when the monitor had converged"));
        }
        if let Some(c) = o.bench_cpu_seconds {
            facts.push(format!(
                "the bench's peers and FIB counter used {c:.2} CPU-s"
            ));
        }
        if !facts.is_empty() {
            let _ = writeln!(notes, "- {}: {}", o.kind.name(), facts.join("; "));
        }
        for n in &o.notes {
            let indented = n.trim_end().replace('\n', "\n    ");
            let _ = writeln!(notes, "- {}: {indented}", o.kind.name());
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

fn row(o: &Outcome) -> [String; 7] {
    let fib_rate = match o.fib {
        Mark::Done(s) if s > 0.0 => thousands((o.total as f64 / s).round() as u64),
        _ => "-".into(),
    };
    [
        o.kind.name().to_owned(),
        o.version.clone(),
        mark(&o.converged, o.total),
        o.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
        o.peak_rss_mb.map_or("-".into(), |m| {
            if m >= 100.0 {
                format!("{m:.0}")
            } else {
                format!("{m:.1}")
            }
        }),
        mark(&o.fib, o.total),
        fib_rate,
    ]
}

/// A [`Mark`] as the table shows it.
pub fn mark(m: &Mark, total: usize) -> String {
    match m {
        Mark::Done(s) => format!("{s:.2}"),
        Mark::Timeout { seen } => format!("timeout ({seen}/{total})"),
        Mark::NotApplicable => "-".into(),
        Mark::Failed => "failed".into(),
    }
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "machine: 2 CPUs (model), 24 GiB RAM, Linux 6.18.44".
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("?".to_owned(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: nproc {cpus} ({model}), {mem_gib} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// The 1-minute load average: other work on the machine skews the numbers.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
