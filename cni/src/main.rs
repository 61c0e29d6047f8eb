//! tern-cni: the binary a container runtime execs. Parameters come from
//! the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
//! CNI_PATH) and the network configuration from stdin; the result or the
//! error document goes to stdout, diagnostics to stderr. Exit status 0 on
//! success, 1 with an error document otherwise.
use std::{
    io::{Read, Write},
    process::ExitCode,
};

use tern_cni::spec::{self, CniError, Code};

/// Largest network configuration read from stdin.
const MAX_STDIN: u64 = 1024 * 1024;

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let read = std::io::stdin().take(MAX_STDIN + 1).read_to_end(&mut stdin);
    let version = spec::requested_version(&stdin).unwrap_or(spec::LATEST_VERSION);
    let outcome = match read {
        Err(e) => Err(CniError::new(Code::Io, "cannot read stdin").details(e.to_string())),
        Ok(_) if stdin.len() as u64 > MAX_STDIN => Err(CniError::new(
            Code::InvalidConfig,
            format!("network configuration longer than {MAX_STDIN} bytes"),
        )),
        Ok(_) => {
            spec::parse_env(|k| std::env::var(k).ok()).and_then(|env| tern_cni::run(&env, &stdin))
        }
    };
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(serde_json::Value::Null) => ExitCode::SUCCESS,
        Ok(v) => {
            let _ = writeln!(out, "{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tern-cni: {e}");
            let _ = writeln!(out, "{}", e.to_json(version));
            ExitCode::FAILURE
        }
    }
}
