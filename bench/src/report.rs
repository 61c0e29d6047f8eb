//! The side-by-side table (plain text or markdown), the machine line and the
//! notes printed under the table.

use std::fmt::Write as _;

use crate::measure::{Mark, Outcome};
use crate::table::{self, load_average, machine};

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
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    table::write(&mut out, &HEADER, &rows, |i| i >= 2, markdown);
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
