//! What both benchmarks print around their figures: a side-by-side table
//! (aligned plain text or markdown) and the machine line.

use std::fmt::Write as _;
use std::fs;

/// Appends the table of `header` and `rows` to `out`: markdown, or plain
/// text with aligned columns; the columns for which `right` holds are
/// right-aligned (numbers), the others left-aligned.
pub fn write(
    out: &mut String,
    header: &[&str],
    rows: &[Vec<String>],
    right: impl Fn(usize) -> bool,
    markdown: bool,
) {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    if markdown {
        let line = |cells: &[String]| format!("| {} |", cells.join(" | "));
        let align: Vec<String> = (0..header.len())
            .map(|i| if right(i) { "---:" } else { "---" }.to_owned())
            .collect();
        let _ = writeln!(out, "{}", line(&header));
        let _ = writeln!(out, "{}", line(&align));
        for r in rows {
            let _ = writeln!(out, "{}", line(r));
        }
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for r in rows {
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
                if right(i) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let _ = writeln!(out, "{}", fmt(&header));
    let _ = writeln!(out, "{}", fmt(&rule));
    for r in rows {
        let _ = writeln!(out, "{}", fmt(r));
    }
}

/// CPUs, CPU model, memory and kernel of this machine.
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

/// The 1, 5 and 15-minute load averages: other work on the machine skews
/// the numbers.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_markdown_tables() {
        let rows = vec![
            vec!["ternd".to_owned(), "1.5".to_owned()],
            vec!["bird".to_owned(), "12.25".to_owned()],
        ];
        let mut plain = String::new();
        write(&mut plain, &["daemon", "s"], &rows, |i| i == 1, false);
        assert_eq!(
            plain,
            "daemon      s\n------  -----\nternd     1.5\nbird    12.25\n"
        );
        let mut md = String::new();
        write(&mut md, &["daemon", "s"], &rows, |i| i == 1, true);
        assert_eq!(
            md,
            "| daemon | s |\n| --- | ---: |\n| ternd | 1.5 |\n| bird | 12.25 |\n"
        );
    }
}
