//! The datapath benchmark's cases, their targets (from issue 4) and the
//! side-by-side table (plain text or markdown) with the machine line and the
//! per-case notes printed under it.

use std::fmt::Write as _;

use anyhow::{Result, bail};

use crate::measure::{Figures, Params};
use crate::table::{self, load_average, machine};

/// One case of the benchmark, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Case {
    A,
    B,
    C0,
    C,
    D,
    E,
    F,
    G,
}

impl Case {
    pub fn parse(s: &str) -> Result<Case> {
        Ok(match s.trim().trim_matches(|c| c == '(' || c == ')') {
            "a" => Case::A,
            "b" => Case::B,
            "c0" => Case::C0,
            "c" => Case::C,
            "d" => Case::D,
            "e" => Case::E,
            "f" => Case::F,
            "g" => Case::G,
            other => bail!("unknown case `{other}` (cases: a, b, c0, c, d, e, f, g)"),
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Case::A => "(a) node to node, no pods",
            Case::B => "(b) pod to pod, Tern native",
            Case::C0 => "(c0) pod to pod, kernel routing via veth",
            Case::C => "(c) pod to pod, veth + 1000 iptables rules",
            Case::D => "(d) pod to pod, Tern VXLAN",
            Case::E => "(e) pod to pod, Tern Geneve",
            Case::F => "(f) pod to pod, kernel VXLAN device",
            Case::G => "(g) pod to pod, Tern SRv6 L3VPN",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Case::A => "baseline",
            Case::B => ">= 0.95 x (a)",
            Case::C0 | Case::C | Case::F => "reference",
            Case::D | Case::E => ">= (f); aim 0.8 x (a)",
            Case::G => ">= 0.9 x (e)",
        }
    }
}

/// One case's rounds and what proved its path in each.
#[derive(Clone, Debug)]
pub struct Row {
    pub case: Case,
    pub rounds: Vec<Figures>,
    pub evidence: Vec<String>,
}

impl Row {
    pub fn new(case: Case, f: Figures, evidence: String) -> Row {
        Row {
            case,
            rounds: vec![f],
            evidence: vec![evidence],
        }
    }

    pub fn add(&mut self, f: Figures, evidence: String) {
        self.rounds.push(f);
        self.evidence.push(evidence);
    }

    /// The median over the rounds of one figure (the lower middle one for
    /// an even count).
    fn median(&self, figure: impl Fn(&Figures) -> f64) -> f64 {
        let mut v: Vec<f64> = self.rounds.iter().map(figure).collect();
        v.sort_by(f64::total_cmp);
        v.get((v.len().max(1) - 1) / 2).copied().unwrap_or(0.0)
    }
}

const HEADER: [&str; 7] = [
    "case",
    "Gbit/s",
    "ratio to (a)",
    "RR mean (us)",
    "RR p99 (us)",
    "target",
    "result",
];

fn find(rows: &[Row], c: Case) -> Option<&Row> {
    rows.iter().find(|r| r.case == c)
}

/// The median over the rounds of `r`'s throughput divided by `base`'s in
/// the same round: pairing the rounds keeps the machine's drift (other work
/// starting and stopping) out of the comparison.
fn ratio(r: &Row, base: &Row) -> f64 {
    let mut v: Vec<f64> = r
        .rounds
        .iter()
        .zip(&base.rounds)
        .filter(|(_, b)| b.gbps > 0.0)
        .map(|(x, b)| x.gbps / b.gbps)
        .collect();
    v.sort_by(f64::total_cmp);
    v.get((v.len().max(1) - 1) / 2).copied().unwrap_or(0.0)
}

/// Whether a case met its target, by the paired ratios; "-" where there is
/// none or the case it compares with was not measured.
fn verdict(rows: &[Row], r: &Row) -> String {
    let (a, f) = (find(rows, Case::A), find(rows, Case::F));
    let word = |ok: bool| if ok { "met" } else { "missed" };
    match r.case {
        Case::B => a.map_or("- (no (a))".into(), |a| word(ratio(r, a) >= 0.95).into()),
        Case::D | Case::E => {
            let vs_f = f.map_or("- (no (f))".to_owned(), |f| {
                format!("{} ({:.2} x (f))", word(ratio(r, f) >= 1.0), ratio(r, f))
            });
            let aim = a.map_or("-".to_owned(), |a| word(ratio(r, a) >= 0.8).to_owned());
            format!("{vs_f}; aim {aim}")
        }
        Case::G => find(rows, Case::E).map_or("- (no (e))".into(), |e| {
            format!("{} ({:.2} x (e))", word(ratio(r, e) >= 0.9), ratio(r, e))
        }),
        _ => "-".into(),
    }
}

/// The table, the machine line and the notes; `load` is the load average
/// when the run started.
pub fn render(rows: &[Row], p: &Params, load: &str, markdown: bool) -> String {
    let rounds = rows.iter().map(|r| r.rounds.len()).max().unwrap_or(0);
    let a = find(rows, Case::A);
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.case.label().to_owned(),
                format!("{:.2}", r.median(|f| f.gbps)),
                a.map_or("-".into(), |a| format!("{:.2}", ratio(r, a))),
                format!("{:.1}", r.median(|f| f.rr.mean_us)),
                format!("{:.1}", r.median(|f| f.rr.p99_us)),
                r.case.target().to_owned(),
                verdict(rows, r),
            ]
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Datapath: iperf3 TCP, {} stream(s), {} s per case (after 1 s left out); \
         request/response: 1-byte TCP ping-pong, {} s per case; median of {} round(s) (ratios: median of the per-round ratios); {}",
        p.streams,
        p.seconds,
        p.rr_seconds,
        rounds,
        if p.pin {
            "sender on CPU 0, receiver on CPU 1"
        } else {
            "unpinned"
        }
    );
    let _ = writeln!(
        out,
        "{}; load average {load} at start, {} now",
        machine(),
        load_average()
    );
    out.push('\n');
    let cells: Vec<Vec<String>> = cells.into_iter().map(Vec::from).collect();
    table::write(
        &mut out,
        &HEADER,
        &cells,
        |i| (1..=4).contains(&i),
        markdown,
    );
    out.push('\n');
    for r in rows {
        let list = |fig: &dyn Fn(&Figures) -> String| {
            r.rounds.iter().map(fig).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "- {}: Gbit/s {}; RR mean us {}; RR p99 us {}; TCP retransmits {}; \
             transactions timed {}; {}",
            r.case.label(),
            list(&|f| format!("{:.2}", f.gbps)),
            list(&|f| format!("{:.1}", f.rr.mean_us)),
            list(&|f| format!("{:.1}", f.rr.p99_us)),
            list(&|f| f.retransmits.to_string()),
            list(&|f| f.rr.transactions.to_string()),
            r.evidence.last().map_or("", String::as_str)
        );
    }
    out
}
