//! Where ternd's log goes: stderr always (`log stdout LEVEL`, or
//! `RUST_LOG`), a file (`log file PATH [LEVEL]`) and syslog through the
//! local socket /dev/log (`log syslog [LEVEL]`), each with its own level
//! and changeable while ternd runs. A new log file is opened (append,
//! created 0600) before the old one is let go, so a path that cannot be
//! opened refuses the line and leaves logging as it was. At the
//! debugging level, only ternd's own modules log debug lines; the
//! libraries it uses stay at informational.
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{Config, LogLevel};

/// The local syslog socket.
const SYSLOG_SOCKET: &str = "/dev/log";
/// syslog's facility "daemon" (3), as FRR's daemons log.
const FACILITY_DAEMON: u8 = 3;

/// ternd's own crates: their debug lines go to a file or syslog at the
/// debugging level.
const OWN_TARGETS: &[&str] = &[
    "ternd",
    "tern_bgpd",
    "tern_bgp_wire",
    "tern_netlink",
    "tern_ebpf",
    "tern_services",
    "tern_egressgw",
    "tern_bfd",
];

/// The live destinations and their level filters.
struct Sinks {
    /// The open log file and its path.
    file: Mutex<Option<(String, Arc<File>)>>,
    file_filter: reload::Handle<Targets, Registry>,
    syslog: Mutex<Option<UnixDatagram>>,
    syslog_filter: reload::Handle<Targets, Registry>,
}

static SINKS: OnceLock<Sinks> = OnceLock::new();

/// The tracing level of FRR's level name.
fn level_of(l: LogLevel) -> Level {
    match l {
        LogLevel::Emergencies | LogLevel::Alerts | LogLevel::Critical | LogLevel::Errors => {
            Level::ERROR
        }
        LogLevel::Warnings => Level::WARN,
        LogLevel::Notifications | LogLevel::Informational => Level::INFO,
        LogLevel::Debugging => Level::DEBUG,
    }
}

/// The filter of a destination at `level` (None: off).
fn targets(level: Option<LogLevel>) -> Targets {
    let Some(l) = level.map(level_of) else {
        return Targets::new().with_default(LevelFilter::OFF);
    };
    let others = if l == Level::DEBUG { Level::INFO } else { l };
    OWN_TARGETS
        .iter()
        .fold(Targets::new().with_default(others), |t, own| {
            t.with_target(*own, l)
        })
}

/// Writes each event to the current log file, if any.
struct FileSink;

struct FileWriter(Option<Arc<File>>);

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(f) => (&**f).write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileSink {
    type Writer = FileWriter;

    fn make_writer(&'a self) -> FileWriter {
        let file = SINKS.get().and_then(|s| {
            s.file
                .lock()
                .ok()
                .and_then(|f| f.as_ref().map(|(_, f)| Arc::clone(f)))
        });
        FileWriter(file)
    }
}

/// Sends each event as one syslog datagram (RFC 3164 framing, as
/// syslog(3) does) with the event's severity.
struct SyslogSink;

struct SyslogWriter {
    severity: u8,
    line: Vec<u8>,
}

impl Write for SyslogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let pri = FACILITY_DAEMON * 8 + self.severity;
        let msg = format!("<{pri}>ternd[{}]: {text}", std::process::id());
        if let Some(Ok(sock)) = SINKS.get().map(|s| s.syslog.lock())
            && let Some(sock) = sock.as_ref()
        {
            // Nothing to tell if syslog is gone: this is the log.
            let _ = sock.send_to(msg.as_bytes(), SYSLOG_SOCKET);
        }
    }
}

impl<'a> MakeWriter<'a> for SyslogSink {
    type Writer = SyslogWriter;

    fn make_writer(&'a self) -> SyslogWriter {
        SyslogWriter {
            severity: 6,
            line: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogWriter {
        let severity = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        SyslogWriter {
            severity,
            line: Vec::new(),
        }
    }
}

/// Sets up logging for `config` (stderr at `log stdout`'s level unless
/// `RUST_LOG` says otherwise); the file and syslog as configured. A log
/// file that cannot be opened is reported on stderr, and ternd runs on.
pub fn init(config: &Config) {
    let default = config.log_level.map_or("info", |l| l.tracing_directive());
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (file_filter, file_handle) = reload::Layer::new(targets(None));
    let (syslog_filter, syslog_handle) = reload::Layer::new(targets(None));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(env)
        .boxed();
    let file = tracing_subscriber::fmt::layer()
        .with_writer(FileSink)
        .with_ansi(false)
        .with_filter(file_filter)
        .boxed();
    let syslog = tracing_subscriber::fmt::layer()
        .with_writer(SyslogSink)
        .with_ansi(false)
        .without_time()
        .with_filter(syslog_filter)
        .boxed();
    let _ = SINKS.set(Sinks {
        file: Mutex::new(None),
        file_filter: file_handle,
        syslog: Mutex::new(None),
        syslog_filter: syslog_handle,
    });
    let _ = tracing_subscriber::registry()
        .with(vec![stderr, file, syslog])
        .try_init();
    if let Err(e) = apply(config) {
        eprintln!("ternd: {e}");
    }
}

/// Opens a log file for appending (created with mode 0600).
fn open(path: &str) -> Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open log file {path}: {e}"))
}

/// Puts the `log file` and `log syslog` lines of `config` in force. The
/// new file is opened first: when that fails nothing changes and the
/// reason is returned. Without [`init`] (tests) it only checks the file.
pub fn apply(config: &Config) -> Result<(), String> {
    let Some(sinks) = SINKS.get() else {
        if let Some(f) = &config.log_file {
            open(&f.path)?;
        }
        return Ok(());
    };
    let mut file = sinks
        .file
        .lock()
        .map_err(|_| "log file lock poisoned".to_owned())?;
    match &config.log_file {
        Some(f) => {
            let same = file.as_ref().is_some_and(|(p, _)| *p == f.path);
            if !same {
                *file = Some((f.path.clone(), Arc::new(open(&f.path)?)));
            }
        }
        None => *file = None,
    }
    drop(file);
    let _ = sinks
        .file_filter
        .reload(targets(config.log_file.as_ref().map(|f| f.level)));
    let mut syslog = sinks
        .syslog
        .lock()
        .map_err(|_| "syslog lock poisoned".to_owned())?;
    match config.log_syslog {
        Some(_) if syslog.is_none() => {
            *syslog = Some(
                UnixDatagram::unbound().map_err(|e| format!("cannot open a syslog socket: {e}"))?,
            );
        }
        Some(_) => {}
        None => *syslog = None,
    }
    drop(syslog);
    let _ = sinks.syslog_filter.reload(targets(config.log_syslog));
    if config.log_syslog.is_some() && !std::path::Path::new(SYSLOG_SOCKET).exists() {
        tracing::warn!(
            socket = SYSLOG_SOCKET,
            "log syslog: no syslog socket here; lines are dropped until one appears"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_targets() {
        let t = targets(Some(LogLevel::Debugging));
        assert!(t.would_enable("tern_bgpd::speaker", &Level::DEBUG));
        assert!(!t.would_enable("netlink_proto::connection", &Level::DEBUG));
        assert!(t.would_enable("netlink_proto::connection", &Level::INFO));
        let t = targets(Some(LogLevel::Warnings));
        assert!(!t.would_enable("tern_bgpd", &Level::INFO));
        assert!(t.would_enable("tern_bgpd", &Level::WARN));
        assert!(!targets(None).would_enable("tern_bgpd", &Level::ERROR));
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_refused() {
        let c = Config {
            log_file: Some(crate::config::LogFile {
                path: "/nonexistent-dir-for-tern/ternd.log".into(),
                level: LogLevel::Debugging,
            }),
            ..Config::default()
        };
        let e = apply(&c).expect_err("no such directory");
        assert!(
            e.starts_with("cannot open log file /nonexistent-dir-for-tern/ternd.log: "),
            "{e}"
        );
    }
}
