//! Decodes BGP messages stored as hex (one message per file, `#` comment
//! lines allowed, as under tests/fixtures) and prints them, for looking at a
//! capture. Usage: `cargo run -p tern-bgp-wire --example decode_hex -- [--four-octet-as]
//! [--add-path-rx AFI/SAFI]... FILE...` (AFI/SAFI as numbers, e.g. 1/1).

use std::process::ExitCode;

use tern_bgp_wire::{Afi, AfiSafi, Codec, Message, Safi};

fn main() -> ExitCode {
    let mut ctx = Codec::default();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--four-octet-as" => ctx.four_octet_as = true,
            "--extended-message" => ctx.extended_message = true,
            "--add-path-rx" => {
                let Some(fam) = args.next().and_then(|s| parse_family(&s)) else {
                    eprintln!("--add-path-rx needs AFI/SAFI");
                    return ExitCode::FAILURE;
                };
                ctx.add_path_receive.push(fam);
            }
            _ => files.push(arg),
        }
    }
    let mut failed = false;
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: {e}");
                failed = true;
                continue;
            }
        };
        let hex: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let Some(bytes) = decode_hex(&hex) else {
            eprintln!("{file}: not hex");
            failed = true;
            continue;
        };
        match Message::decode(&bytes, &ctx) {
            Ok(m) => println!("{file}: {m:?}"),
            Err(e) => {
                println!("{file}: error {e} -> NOTIFICATION {}", e.notification());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_family(s: &str) -> Option<AfiSafi> {
    let (a, b) = s.split_once('/')?;
    Some(AfiSafi::new(Afi(a.parse().ok()?), Safi(b.parse().ok()?)))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
