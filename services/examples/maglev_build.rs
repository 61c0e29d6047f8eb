//! Times Maglev table builds: by default the benchmark of issue 12, 10,000
//! services of 100 backends over 16381 entries, one after the other on one
//! core. `cargo run --release -p tern-services --example maglev_build --
//! [SERVICES [BACKENDS [TABLE_SIZE]]]`.
use std::process::ExitCode;

use tern_services::maglev::{bench_build, is_prime};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i)
            .map_or(Ok(default), |a| a.parse().map_err(|e| format!("{a}: {e}")))
    };
    let parsed = (|| -> Result<(usize, usize, u32), String> {
        let services = usize::try_from(arg(0, 10_000)?).map_err(|e| e.to_string())?;
        let backends = usize::try_from(arg(1, 100)?).map_err(|e| e.to_string())?;
        let size = u32::try_from(arg(2, 16_381)?).map_err(|e| e.to_string())?;
        if !is_prime(size) {
            return Err(format!("table size {size} is not a prime"));
        }
        Ok((services, backends, size))
    })();
    let (services, backends, size) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("maglev_build: {e}");
            return ExitCode::FAILURE;
        }
    };
    let took = bench_build(services, backends, size);
    println!(
        "{services} services x {backends} backends x {size} entries: {:.3} s, {:.1} us per table",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / services.max(1) as f64
    );
    ExitCode::SUCCESS
}
