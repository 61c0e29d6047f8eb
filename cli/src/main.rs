//! tern: ternd's command line, as vtysh is FRR's.
//!
//! `tern [-N NAME] -c CMD [-c CMD ...]` runs commands and exits; a
//! `configure terminal` among them makes the commands after it config lines,
//! as with vtysh. Without -c, on a terminal, it opens the interactive shell
//! (prompt `HOSTNAME#`, modes, `?`, TAB, history); from a pipe or a file it
//! reads commands one per line, without a prompt. Exit status: 0 when every
//! command succeeded (the interactive shell always ends with 0), 1 when the
//! daemon cannot be reached, 2 when a command failed.
use std::{
    io::{BufRead, IsTerminal},
    process::ExitCode,
};

use clap::Parser;
use tern_cli::{
    client::Client,
    session::{Outcome, Session},
    shell,
};

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

/// Restores the default SIGPIPE action, so that `tern ... | head` ends
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
    let args = Args::parse();
    let client = match Client::connect(args.instance.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut session = Session::new(client);
    let stdin = std::io::stdin();
    if args.commands.is_empty() && stdin.is_terminal() && std::io::stdout().is_terminal() {
        return match shell::run(&mut session, args.instance.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("% terminal: {e}");
                ExitCode::from(2)
            }
        };
    }
    let lines: Box<dyn Iterator<Item = String>> = if args.commands.is_empty() {
        Box::new(stdin.lock().lines().map_while(Result::ok))
    } else {
        Box::new(args.commands.into_iter())
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut failed = false;
    for line in lines {
        match session.run_line(&line, &mut out, &mut err) {
            Outcome::Ok => {}
            Outcome::Failed => failed = true,
            Outcome::Exit => break,
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
