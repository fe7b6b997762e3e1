//! Lines in: from a line editor on a terminal, or plain lines from a pipe
//! or file. Reading blocks, so it runs on a thread of its own and hands
//! each line over a channel.

use std::io::BufRead as _;

use rustyline::config::Behavior;
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};
use tokio::sync::mpsc;

use super::console::Printer;

/// What reading gave.
#[derive(Debug)]
pub(crate) enum Event {
    /// A line, without its line break.
    Line(String),
    /// A line that is not UTF-8 (from a pipe), skipped.
    NotUtf8,
    /// Ctrl-C at the prompt.
    Interrupted,
    /// The end of input (Ctrl-D at the prompt).
    Eof,
    /// Reading failed; nothing more comes.
    Failed(String),
}

/// The line editor's side, when reading from a terminal.
struct Terminal {
    /// Asks the editor thread for one line, with this prompt.
    prompts: std::sync::mpsc::Sender<String>,
    /// A line was asked for and has not come: the editor holds the terminal
    /// in raw mode.
    reading: bool,
    /// The terminal's settings before the editor changed them.
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

/// The source of lines.
pub(crate) struct Input {
    rx: mpsc::Receiver<Event>,
    terminal: Option<Terminal>,
    lines: u64,
}

impl Input {
    /// Plain lines from stdin, read ahead, with no prompt; `before` lines
    /// were read already (the password's), so that line numbers are those
    /// of the input.
    ///
    /// Reads through the standard library's shared stdin buffer, where
    /// whatever followed the `--password-stdin` line already is.
    pub(crate) fn piped(before: u64) -> Input {
        let (tx, rx) = mpsc::channel(64);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = Vec::new();
                let event = match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => Event::Eof,
                    Ok(_) => {
                        let end = line.strip_suffix(b"\n").unwrap_or(&line);
                        let end = end.strip_suffix(b"\r").unwrap_or(end).len();
                        line.truncate(end);
                        String::from_utf8(line).map_or(Event::NotUtf8, Event::Line)
                    }
                    Err(e) => Event::Failed(e.to_string()),
                };
                let last = matches!(event, Event::Eof | Event::Failed(_));
                if tx.blocking_send(event).is_err() || last {
                    break;
                }
            }
        });
        Input {
            rx,
            terminal: None,
            lines: before,
        }
    }

    /// A line editor on the terminal (in-memory history), and its printer
    /// for output that must not clobber the prompt, if the terminal allows.
    pub(crate) fn terminal() -> Result<(Input, Option<Printer>), String> {
        #[cfg(unix)]
        let saved = rustix::termios::tcgetattr(std::io::stdin()).ok();
        // The terminal itself, not stdin and stdout: with stdout redirected
        // the prompt still goes to the screen, not into the file.
        let config = Config::builder()
            .behavior(Behavior::PreferTerm)
            .auto_add_history(true)
            .build();
        let mut editor = DefaultEditor::with_config(config)
            .map_err(|e| format!("cannot start the line editor: {e}"))?;
        let printer = editor
            .create_external_printer()
            .ok()
            .map(|p| Box::new(p) as Printer);
        let (tx, rx) = mpsc::channel(1);
        let (prompts, asked) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            while let Ok(prompt) = asked.recv() {
                let event = match editor.readline(&prompt) {
                    Ok(line) => Event::Line(line),
                    Err(ReadlineError::Interrupted) => Event::Interrupted,
                    Err(ReadlineError::Eof) => Event::Eof,
                    Err(e) => Event::Failed(e.to_string()),
                };
                let last = matches!(event, Event::Eof | Event::Failed(_));
                if tx.blocking_send(event).is_err() || last {
                    break;
                }
            }
        });
        let terminal = Terminal {
            prompts,
            reading: false,
            #[cfg(unix)]
            saved,
        };
        let input = Input {
            rx,
            terminal: Some(terminal),
            lines: 0,
        };
        Ok((input, printer))
    }

    /// Whether lines come from the line editor.
    pub(crate) fn is_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// The number of the last line read (from 1).
    pub(crate) fn line_number(&self) -> u64 {
        self.lines
    }

    /// The next line or event; on a terminal `prompt` is shown first.
    /// Cancel-safe: dropped before a line came, the next call waits for
    /// the same line (its prompt is already shown).
    pub(crate) async fn next(&mut self, prompt: &str) -> Event {
        if let Some(t) = &mut self.terminal {
            if !t.reading {
                if t.prompts.send(prompt.to_owned()).is_err() {
                    return Event::Eof;
                }
                t.reading = true;
            }
        }
        let event = self.rx.recv().await.unwrap_or(Event::Eof);
        if let Some(t) = &mut self.terminal {
            t.reading = false;
        }
        if matches!(event, Event::Line(_) | Event::NotUtf8) {
            self.lines += 1;
        }
        event
    }
}

impl Drop for Terminal {
    /// The session ended while the editor was waiting for a line (the
    /// connection was lost): give the terminal its settings back, since the
    /// process exits without the editor returning, and end its prompt line.
    fn drop(&mut self) {
        if !self.reading {
            return;
        }
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let now = rustix::termios::OptionalActions::Now;
            let _ = rustix::termios::tcsetattr(std::io::stdin(), now, saved);
        }
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            use std::io::Write as _;
            let _ = tty.write_all(b"\n");
        }
    }
}
