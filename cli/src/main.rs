//! tern: ternd's command line, as vtysh is FRR's.
//!
//! `tern [-N NAME] -c CMD [-c CMD ...]` runs commands and exits; without -c
//! it reads commands from standard input, one per line, with a `HOSTNAME#`
//! prompt when that is a terminal. Exit status: 0 when every command
//! succeeded, 1 when the daemon cannot be reached, 2 when a command failed.
use std::{
    io::{BufRead, IsTerminal, Write},
    process::ExitCode,
};

use clap::Parser;
use tern_cli::{
    bgp,
    client::Client,
    commands::{self, Action, Parsed},
    render,
};
use tern_control::{Reply, Request};

#[derive(Parser, Debug)]
#[command(name = "tern", version, about = "Tern's shell (like vtysh)")]
struct Args {
    /// Instance name of the ternd to talk to (like vtysh -N).
    #[arg(short = 'N', long = "pathspace")]
    instance: Option<String>,
    /// Command to run; repeat for several, run in order.
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
}

/// How one command ended.
enum Outcome {
    Ok,
    Failed,
    Exit,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut client = match Client::connect(args.instance.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    if !args.commands.is_empty() {
        for cmd in &args.commands {
            match run(&mut client, cmd) {
                Outcome::Ok => {}
                Outcome::Failed => failed = true,
                Outcome::Exit => break,
            }
        }
    } else {
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal();
        let prompt = format!("{}# ", hostname(&mut client));
        let mut lines = stdin.lock().lines();
        loop {
            if interactive {
                print!("{prompt}");
                let _ = std::io::stdout().flush();
            }
            let Some(Ok(line)) = lines.next() else { break };
            if line.trim().is_empty() || line.trim_start().starts_with('!') {
                continue;
            }
            match run(&mut client, &line) {
                Outcome::Ok => {}
                Outcome::Failed => failed = true,
                Outcome::Exit => break,
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn hostname(client: &mut Client) -> String {
    match client.request(&Request::ShowVersion) {
        Ok(Reply::Version(v)) => v.hostname,
        _ => "tern".to_owned(),
    }
}

fn run(client: &mut Client, line: &str) -> Outcome {
    let parsed = match commands::parse(line) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", commands::error_message(line, &e));
            return Outcome::Failed;
        }
    };
    if parsed.action == Action::Exit {
        return Outcome::Exit;
    }
    match execute(client, &parsed) {
        Ok(text) => {
            print!("{text}");
            Outcome::Ok
        }
        Err(msg) => {
            eprintln!("% {msg}");
            Outcome::Failed
        }
    }
}

fn execute(client: &mut Client, p: &Parsed) -> Result<String, String> {
    let req = match p.action {
        Action::ShowVersion => Request::ShowVersion,
        Action::ShowRunningConfig => Request::ShowRunningConfig,
        Action::ShowInterfaces | Action::ShowInterfacesBrief => {
            Request::ShowInterfaces { name: None }
        }
        Action::ShowInterface => Request::ShowInterfaces {
            name: p.ifname.clone(),
        },
        Action::ShowBgpSummary | Action::ShowBgpSummaryV4 | Action::ShowBgpSummaryV6 => {
            Request::ShowBgpSummary
        }
        Action::VipAdd | Action::VipDel => match p.prefix {
            Some(prefix) if p.action == Action::VipAdd => Request::AddVip { prefix },
            Some(prefix) => Request::DelVip { prefix },
            None => return Err("a prefix is needed".into()),
        },
        Action::ShowVips => Request::ShowVips,
        Action::Exit => return Ok(String::new()),
    };
    let mut reply = client.request(&req).map_err(|e| e.to_string())?;
    if let Reply::Interfaces { interfaces } = &mut reply {
        render::sort_interfaces(interfaces);
    }
    match (p.action, reply) {
        (_, Reply::Error { message }) => Err(message),
        (Action::ShowVersion, Reply::Version(v)) => Ok(render::version(&v, &kernel_release())),
        (Action::ShowRunningConfig, Reply::RunningConfig { text }) => Ok(format!(
            "Building configuration...\n\nCurrent configuration:\n{text}"
        )),
        (Action::ShowInterfacesBrief, Reply::Interfaces { interfaces }) => Ok(if p.json {
            render::pretty(&render::interfaces_json(&interfaces, true))
        } else {
            render::interfaces_brief(&interfaces)
        }),
        (Action::ShowInterfaces | Action::ShowInterface, Reply::Interfaces { interfaces }) => {
            Ok(if p.json {
                render::pretty(&render::interfaces_json(&interfaces, false))
            } else {
                render::interfaces(&interfaces)
            })
        }
        (
            Action::ShowBgpSummary | Action::ShowBgpSummaryV4 | Action::ShowBgpSummaryV6,
            Reply::BgpSummary(s),
        ) => {
            let family = match p.action {
                Action::ShowBgpSummaryV4 => Some("ipv4Unicast"),
                Action::ShowBgpSummaryV6 => Some("ipv6Unicast"),
                _ => None,
            };
            Ok(if p.json {
                render::pretty(&bgp::summary_json(&s, family))
            } else {
                bgp::summary_text(&s, family)
            })
        }
        (Action::VipAdd | Action::VipDel, Reply::Vips { .. }) => Ok(String::new()),
        (Action::ShowVips, Reply::Vips { vips }) => Ok(if p.json {
            let list: Vec<String> = vips.iter().map(ToString::to_string).collect();
            render::pretty(&serde_json::json!({ "vips": list }))
        } else {
            vips.iter().map(|v| format!("{v}\n")).collect()
        }),
        (_, other) => Err(format!("unexpected reply from ternd: {other:?}")),
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
