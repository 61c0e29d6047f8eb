//! Helpers shared by the integration tests: loading hex fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Parses hex text: `#` starts a comment line, whitespace is ignored.
pub fn parse_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.bytes().filter(|b| !b.is_ascii_whitespace()))
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(s, 16).expect("hex digit")
        })
        .collect()
}

/// The bytes of `tests/fixtures/<speaker>/<name>.hex`.
pub fn fixture(speaker: &str, name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(speaker).join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_hex(&text)
}

/// Every fixture file of FRR and GoBGP peering with each other, as
/// (speaker, name, bytes).
pub fn all_fixtures() -> Vec<(String, String, Vec<u8>)> {
    fixtures_in(&["frr", "gobgp"])
}

/// The SRv6 VPN UPDATEs captured from GoBGP, FRR and ExaBGP (`srv6/`).
pub fn srv6_fixtures() -> Vec<(String, String, Vec<u8>)> {
    fixtures_in(&["srv6"])
}

fn fixtures_in(dirs: &[&str]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for &speaker in dirs {
        let dir = fixtures_dir().join(speaker);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "hex"))
            .collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("readable");
            out.push((speaker.to_string(), name, parse_hex(&text)));
        }
    }
    out
}
