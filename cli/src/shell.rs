//! The interactive shell: `tern` on a terminal, as vtysh is. Line editing
//! and history (~/.tern_history) come from rustyline; `?` anywhere on the
//! line lists what may come next and gives the line back without the `?`;
//! TAB completes a word (a second TAB lists the candidates when there are
//! several, as readline does); Ctrl-Z in a config mode is `end`; Ctrl-C
//! drops the line; Ctrl-D leaves.
use std::{
    cell::RefCell,
    io::Write,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Config, Context, Editor, Event, EventContext,
    EventHandler, Helper, KeyEvent, RepeatCount,
    completion::{Completer, Pair},
    error::ReadlineError,
    highlight::Highlighter,
    hint::Hinter,
    history::DefaultHistory,
    validate::Validator,
};
use tern_control::{Reply, Request};

use crate::{
    client::Client,
    help, render,
    session::{Mode, Outcome, Session},
};

/// The history file, like vtysh's ~/.history_frr.
const HISTORY_FILE: &str = ".tern_history";

/// Width used for `?`'s value lists when the terminal does not say.
const DEFAULT_COLUMNS: usize = 80;

/// Interface names for `?` and TAB, asked of ternd over a connection of
/// their own (opened when first needed), so that completing never disturbs
/// the session's config mode.
struct IfNames {
    instance: Option<String>,
    client: RefCell<Option<Client>>,
}

impl IfNames {
    fn get(&self) -> Vec<String> {
        let mut slot = self.client.borrow_mut();
        if slot.is_none() {
            *slot = Client::connect(self.instance.as_deref()).ok();
        }
        let Some(client) = slot.as_mut() else {
            return Vec::new();
        };
        match client.request(&Request::ShowInterfaces { name: None }) {
            Ok(Reply::Interfaces { mut interfaces }) => {
                render::sort_interfaces(&mut interfaces);
                interfaces.into_iter().map(|i| i.name).collect()
            }
            Ok(_) => Vec::new(),
            Err(_) => {
                *slot = None;
                Vec::new()
            }
        }
    }
}

/// rustyline's helper: TAB completion in the shell's current mode.
struct ShellHelper {
    mode: Mode,
    ifnames: IfNames,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let left = line.get(..pos).unwrap_or(line);
        let (start, words) = help::complete_in_mode(&self.mode, left, &mut || self.ifnames.get());
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                replacement: format!("{w} "),
                display: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// The line and cursor position at the moment `?` was typed.
type HelpRequest = Arc<Mutex<Option<(String, usize)>>>;

/// `?`: note the line, and end the read so the help can be printed below it.
struct HelpKey(HelpRequest);

impl ConditionalEventHandler for HelpKey {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((ctx.line().to_owned(), ctx.pos()));
        }
        Some(Cmd::AcceptLine)
    }
}

/// Ctrl-Z: end the read and leave config mode.
struct EndKey(Arc<AtomicBool>);

impl ConditionalEventHandler for EndKey {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        self.0.store(true, Ordering::SeqCst);
        Some(Cmd::AcceptLine)
    }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(HISTORY_FILE))
}

/// Runs the interactive shell until `exit`, Ctrl-D or a terminal error.
pub fn run(session: &mut Session<Client>, instance: Option<&str>) -> rustyline::Result<()> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(1000)?
        .build();
    let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper {
        mode: Mode::Exec,
        ifnames: IfNames {
            instance: instance.map(str::to_owned),
            client: RefCell::new(None),
        },
    }));
    let help_request: HelpRequest = Arc::default();
    let end_request = Arc::new(AtomicBool::new(false));
    editor.bind_sequence(
        KeyEvent::from('?'),
        EventHandler::Conditional(Box::new(HelpKey(help_request.clone()))),
    );
    editor.bind_sequence(
        KeyEvent::ctrl('Z'),
        EventHandler::Conditional(Box::new(EndKey(end_request.clone()))),
    );
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    session.refresh_hostname();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    // The line to give back after `?`: text left and right of the cursor.
    let mut pending: Option<(String, String)> = None;
    loop {
        if let Some(h) = editor.helper_mut() {
            h.mode = session.mode().clone();
        }
        let prompt = session.prompt();
        let read = match pending.take() {
            Some((left, right)) => editor.readline_with_initial(&prompt, (&left, &right)),
            None => editor.readline(&prompt),
        };
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        };
        let asked = help_request.lock().ok().and_then(|mut slot| slot.take());
        if let Some((text, pos)) = asked {
            let pos = if text.is_char_boundary(pos) {
                pos
            } else {
                text.len()
            };
            let (left, right) = text.split_at(pos);
            let cols = editor
                .dimensions()
                .map_or(DEFAULT_COLUMNS, |(cols, _)| usize::from(cols));
            let answer = match editor.helper() {
                Some(h) => help::describe_in_mode(session.mode(), left, &mut || h.ifnames.get()),
                None => help::Describe::NoMatch,
            };
            let _ = stdout.write_all(help::render(&answer, cols).as_bytes());
            let _ = stdout.flush();
            pending = Some((left.to_owned(), right.to_owned()));
            continue;
        }
        if end_request.swap(false, Ordering::SeqCst) {
            session.end_config(&mut stderr);
            continue;
        }
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                let _ = editor.append_history(path);
            }
        }
        let outcome = session.run_line(&line, &mut stdout, &mut stderr);
        let _ = stdout.flush();
        if outcome == Outcome::Exit {
            break;
        }
    }
    Ok(())
}
