//! The `tern-lab` command: `up`, `down`, `status` and `exec` for a
//! containerlab topology built with network namespaces on this machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tern_lab::{DEFAULT_TOPOLOGY, LabStatus, Options, Topology};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "tern-lab",
    version,
    about = "Builds a containerlab topology on this machine with network namespaces",
    after_help = "Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more detail."
)]
struct Cli {
    /// The containerlab topology file.
    #[arg(short = 't', long = "topology", global = true, default_value = DEFAULT_TOPOLOGY)]
    topology: PathBuf,
    #[command(subcommand)]
    command: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Create the namespaces, links and daemons; wait until every daemon answers.
    Up {
        /// Seconds to wait for the daemons to answer.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Stop the lab's processes and delete its namespaces (also after a crashed `up`).
    Down {
        /// Tear down this lab by name instead of reading the topology file.
        #[arg(long, value_name = "LAB")]
        lab: Option<String>,
    },
    /// Show each node's namespace, processes and daemon state; exit 1 if unhealthy.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node's network namespace (e.g. `exec node1 -- bash`).
    Exec {
        /// The node, as named in the topology file.
        node: String,
        /// The command and its arguments.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

/// Restores the default SIGPIPE action, so that `tern-lab ... | head` ends
/// quietly when the reader goes away instead of panicking in println!.
fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler
    // and runs before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    // The verbs print their own report on stdout; logs are for problems
    // (RUST_LOG=info shows every step).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Result<Topology> {
    Ok(Topology::load(path)?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut opts = Options::default();
    match cli.command {
        Verb::Up { timeout } => {
            opts.ready_timeout = Duration::from_secs(timeout);
            let topo = load(&cli.topology)?;
            let report = tern_lab::up(&topo, &opts)?;
            println!(
                "lab {} is up in {:.1} s ({} nodes, {} links); state in {}",
                report.lab,
                report.elapsed.as_secs_f64(),
                report.nodes.len(),
                report.links,
                report.state_dir.display()
            );
            println!("{:<16} {:<5} {:<28} PROCESSES", "NODE", "ROLE", "NAMESPACE");
            for node in &report.nodes {
                let procs: Vec<String> = node
                    .processes
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.pid))
                    .collect();
                println!(
                    "{:<16} {:<5} {:<28} {}",
                    node.name,
                    node.role.to_string(),
                    node.namespace,
                    if procs.is_empty() {
                        "-".to_owned()
                    } else {
                        procs.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Down { lab } => {
            let report = match lab {
                Some(lab) => tern_lab::down_lab(&lab, &opts)?,
                None => tern_lab::down(&load(&cli.topology)?, &opts)?,
            };
            if !report.found_anything {
                println!("lab {} is not up: nothing to tear down", report.lab);
                return Ok(ExitCode::SUCCESS);
            }
            for line in &report.stopped {
                println!("stopped {line}");
            }
            for ns in &report.namespaces {
                println!("deleted namespace {ns}");
            }
            for dir in &report.removed {
                println!("removed {}", dir.display());
            }
            for note in &report.notes {
                println!("note: {note}");
            }
            println!("lab {} is down", report.lab);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Status { json } => {
            let topo = load(&cli.topology)?;
            let status = tern_lab::status(&topo, &opts)?;
            if json {
                let text =
                    serde_json::to_string_pretty(&status).context("encoding status as JSON")?;
                println!("{text}");
            } else {
                print_status(&status);
            }
            Ok(if status.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Verb::Exec { node, command } => {
            let topo = load(&cli.topology)?;
            let status = tern_lab::exec(&topo, &node, &command)?;
            Ok(exit_code_of(status))
        }
    }
}

fn print_status(status: &LabStatus) {
    let phase = match status.phase {
        None => "not up",
        Some(tern_lab::Phase::Starting) => "starting (or a crashed up: run tern-lab down)",
        Some(tern_lab::Phase::Up) => "up",
    };
    println!(
        "lab {}: {phase}, {}",
        status.lab,
        if status.healthy {
            "healthy"
        } else {
            "UNHEALTHY"
        }
    );
    for node in &status.nodes {
        println!(
            "\n== {} ({}) namespace {}: {}{}",
            node.name,
            node.role,
            node.namespace,
            if node.namespace_present {
                "present"
            } else {
                "MISSING"
            },
            if node.healthy { "" } else { " [unhealthy]" }
        );
        for p in &node.processes {
            println!(
                "   {} pid {} ({}): {}",
                p.name,
                p.pid,
                p.program.display(),
                if p.alive { "alive" } else { "DEAD" }
            );
        }
        for check in &node.checks {
            println!(
                "   $ {}{}",
                check.command,
                if check.success { "" } else { "   [failed]" }
            );
            for line in check.output.lines() {
                println!("   {line}");
            }
        }
    }
}

/// The exit code to pass on: the command's, or 128 + signal like a shell.
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
