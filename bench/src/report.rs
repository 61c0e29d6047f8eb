//! The side-by-side tables (plain text or markdown), the machine line and
//! the notes printed under them: one configuration's table, and the scale
//! mode's table of a row per (configuration, daemon).

use std::fmt::Write as _;

use crate::daemons::Kind;
use crate::measure::{Mark, Outcome};
use crate::table::{self, load_average, machine};

const HEADER: [&str; 8] = [
    "daemon",
    "version",
    "converged (s)",
    "DUT CPU (s)",
    "peak RSS (MB)",
    "FIB complete (s)",
    "FIB routes/s",
    "sessions down",
];

const SCALE_HEADER: [&str; 8] = [
    "config",
    "daemon",
    "version",
    "to the monitor (s)",
    "into the FIB (s)",
    "peak RSS (MB)",
    "DUT CPU (s)",
    "sessions down",
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
    let rows: Vec<[String; 8]> = outcomes.iter().map(row).collect();
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
    out.push_str(&notes(outcomes, false));
    out
}

/// The scale mode's table: a row per (configuration, daemon), in the order
/// run; under it ternd's time(30 x 100k) / time(10 x 100k) and the notes.
pub fn render_scale(outcomes: &[Outcome], load: &str, markdown: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BGP scale: per configuration N x M, N injecting peers each announce the same M prefixes (prefix k's best path from injector k mod N, the others prepend their AS); the monitor must hold the M best paths, the FIB the M routes via their best injector"
    );
    let _ = writeln!(
        out,
        "{}; load average {load} at start, {} now",
        machine(),
        load_average()
    );
    out.push('\n');
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                config_name(o.peers, o.prefixes),
                o.kind.name().to_owned(),
                o.version.clone(),
                mark(&o.converged, o.total),
                mark(&o.fib, o.total),
                rss(o.peak_rss_mb),
                o.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
                sessions_down(o),
            ]
        })
        .collect();
    table::write(&mut out, &SCALE_HEADER, &rows, |i| i >= 3, markdown);
    out.push('\n');
    let _ = writeln!(out, "{}", ternd_ratio(outcomes));
    out.push_str(&notes(outcomes, true));
    out
}

const SHOW_HEADER: [&str; 13] = [
    "show",
    "daemon (client)",
    "first line (s)",
    "whole (s)",
    "client peak RSS (MB)",
    "client CPU (s)",
    "serving process",
    "its CPU (s)",
    "its RSS before (MB)",
    "peak during (MB)",
    "after (MB)",
    "longest silence (s)",
    "sessions down",
];

/// The show mode's table: a row per (show, daemon), the daemons of one
/// show together; above it how each daemon was loaded, under it the notes.
pub fn render_show(
    outcomes: &[Outcome],
    loads: &[crate::show::Load],
    shows: &[crate::show::ShowRun],
    spec: &crate::show::Spec,
    load: &str,
    markdown: bool,
) -> String {
    let (routes, peers, hold_time) = (spec.total, spec.peers, spec.hold_time);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Shows at {} routes: {peers} injecting peers x {} distinct prefixes, passed on to one monitor peer and installed in the FIB; hold time {hold_time} s (keepalives every {} s); each show run once by the daemon's own CLI while every session stays up",
        thousands(routes as u64),
        thousands((routes / peers.max(1)) as u64),
        hold_time / 3
    );
    let _ = writeln!(
        out,
        "{}; load average {load} at start, {} now",
        machine(),
        load_average()
    );
    for l in loads {
        let loaded: Vec<String> = l
            .rss_mb
            .iter()
            .map(|(name, mb)| format!("{name} {mb:.1}"))
            .collect();
        let _ = writeln!(
            out,
            "- {} {}: to the monitor {} s, into the FIB {} s, peak RSS {} MB while loading; RSS once loaded (MB): {}",
            l.kind.name(),
            l.version,
            mark(&l.converged, routes),
            mark(&l.fib, routes),
            rss(l.peak_rss_mb),
            if loaded.is_empty() {
                "-".to_owned()
            } else {
                loaded.join(", ")
            }
        );
    }
    out.push('\n');
    let mut commands: Vec<&str> = Vec::new();
    for s in shows {
        if !commands.contains(&s.command.as_str()) {
            commands.push(&s.command);
        }
    }
    let mut rows = Vec::new();
    for c in &commands {
        for s in shows.iter().filter(|s| s.command == *c) {
            let client = match s.kind {
                Kind::Ternd => "tern",
                Kind::Frr => "vtysh",
                _ => "?",
            };
            let whole = if s.sessions_down > 0 {
                mark(&Mark::SessionsDown(s.sessions_down), routes)
            } else if s.incomplete.is_some() {
                "incomplete".to_owned()
            } else {
                s.whole.map_or("-".into(), |w| format!("{w:.2}"))
            };
            rows.push(vec![
                format!("`{c}`"),
                format!("{} ({client})", s.kind.name()),
                s.first_line.map_or("-".into(), |f| format!("{f:.3}")),
                whole,
                rss(s.client_peak_mb),
                cpu(s.client_cpu),
                s.daemon.clone(),
                cpu(s.daemon_cpu),
                rss(s.rss_before_mb),
                rss(s.rss_peak_mb),
                rss(s.rss_after_mb),
                s.longest_silence.map_or("-".into(), |x| format!("{x:.1}")),
                s.sessions_down.to_string(),
            ]);
        }
    }
    table::write(
        &mut out,
        &SHOW_HEADER,
        &rows,
        |i| i >= 2 && i != 6,
        markdown,
    );
    let mut notes = String::new();
    for s in shows {
        let who = format!("{} `{}`", s.kind.name(), s.command);
        if let Some(why) = &s.incomplete {
            let _ = writeln!(notes, "- {who}: not complete: {why}");
        }
        for n in &s.notes {
            let _ = writeln!(notes, "- {who}: {}", n.trim_end().replace('\n', "\n    "));
        }
        let _ = writeln!(
            notes,
            "- {who}: {} lines, {} bytes",
            thousands(s.lines),
            thousands(s.bytes)
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out.push_str(&self::notes(outcomes, false));
    out
}

/// "ternd: time(30 x 100k) / time(10 x 100k) = R", or why there is none.
fn ternd_ratio(outcomes: &[Outcome]) -> String {
    let time = |peers: usize| {
        outcomes
            .iter()
            .find(|o| o.kind == Kind::Ternd && o.peers == peers && o.prefixes == 100_000)
            .map(|o| &o.converged)
    };
    let what = "ternd: time(30 x 100k) / time(10 x 100k)";
    match (time(30), time(10)) {
        (Some(Mark::Done(a)), Some(Mark::Done(b))) if *b > 0.0 => {
            format!("{what} = {:.2} ({a:.2} s / {b:.2} s)", a / b)
        }
        (Some(a), Some(b)) => format!(
            "{what}: none (30 x 100k: {}, 10 x 100k: {})",
            mark(a, 100_000),
            mark(b, 100_000)
        ),
        _ => format!("{what}: none (ternd did not run both configurations)"),
    }
}

/// "10x100k", "1x1M", "2x10000".
pub fn config_name(peers: usize, prefixes: usize) -> String {
    let m = if prefixes >= 1_000_000 && prefixes.is_multiple_of(1_000_000) {
        format!("{}M", prefixes / 1_000_000)
    } else if prefixes >= 1000 && prefixes.is_multiple_of(1000) {
        format!("{}k", prefixes / 1000)
    } else {
        prefixes.to_string()
    };
    format!("{peers}x{m}")
}

/// The notes under a table; `scale` names the configuration too.
fn notes(outcomes: &[Outcome], scale: bool) -> String {
    let mut notes = String::new();
    for o in outcomes {
        let who = if scale {
            format!("{} {}", config_name(o.peers, o.prefixes), o.kind.name())
        } else {
            o.kind.name().to_owned()
        };
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
            let _ = writeln!(notes, "- {who}: {}", facts.join("; "));
        }
        for n in &o.notes {
            let indented = n.trim_end().replace('\n', "\n    ");
            let _ = writeln!(notes, "- {who}: {indented}");
        }
    }
    if notes.is_empty() {
        notes
    } else {
        format!("\n{notes}")
    }
}

/// Our peers' count, with the DUT's where it differs.
fn sessions_down(o: &Outcome) -> String {
    match (o.sessions_down, o.dut_sessions_down) {
        (None, None) => "-".into(),
        (Some(n), Some(d)) if d != n => format!("{n} (DUT: {d})"),
        (Some(n), _) => n.to_string(),
        (None, Some(d)) => format!("- (DUT: {d})"),
    }
}

fn cpu(seconds: Option<f64>) -> String {
    seconds.map_or("-".into(), |c| format!("{c:.2}"))
}

fn rss(mb: Option<f64>) -> String {
    mb.map_or("-".into(), |m| {
        if m >= 100.0 {
            format!("{m:.0}")
        } else {
            format!("{m:.1}")
        }
    })
}

fn row(o: &Outcome) -> [String; 8] {
    let fib_rate = match o.fib {
        Mark::Done(s) if s > 0.0 => thousands((o.total as f64 / s).round() as u64),
        _ => "-".into(),
    };
    [
        o.kind.name().to_owned(),
        o.version.clone(),
        mark(&o.converged, o.total),
        o.cpu_seconds.map_or("-".into(), |c| format!("{c:.2}")),
        rss(o.peak_rss_mb),
        mark(&o.fib, o.total),
        fib_rate,
        sessions_down(o),
    ]
}

/// A [`Mark`] as the table shows it.
pub fn mark(m: &Mark, total: usize) -> String {
    match m {
        Mark::Done(s) => format!("{s:.2}"),
        Mark::Timeout { seen } => format!("timeout ({seen}/{total})"),
        Mark::NotApplicable => "-".into(),
        Mark::Failed => "failed".into(),
        Mark::SessionsDown(n) => {
            format!("FAILED: {n} session{} down", if *n == 1 { "" } else { "s" })
        }
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

    #[test]
    fn config_names_and_failed_marks() {
        assert_eq!(config_name(10, 100_000), "10x100k");
        assert_eq!(config_name(1, 1_000_000), "1x1M");
        assert_eq!(config_name(2, 10_000), "2x10k");
        assert_eq!(config_name(3, 1234), "3x1234");
        assert_eq!(mark(&Mark::SessionsDown(3), 10), "FAILED: 3 sessions down");
        assert_eq!(mark(&Mark::SessionsDown(1), 10), "FAILED: 1 session down");
    }
}
