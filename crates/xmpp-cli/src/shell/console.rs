//! The shell's output: incoming stanzas on stdout, status lines on stderr,
//! written in order by one thread. On a terminal they go through the line
//! editor's printer, which redraws the prompt and the half-typed line
//! below them instead of writing over them.

use std::fmt;
use std::io::Write as _;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rustyline::ExternalPrinter;

/// The line editor's printer, as the console thread owns it.
pub(crate) type Printer = Box<dyn ExternalPrinter + Send>;

enum Out {
    Stanza(String),
    Status(String),
    /// Text for stderr as it is (`/help`).
    Text(String),
    Stop,
}

/// Where the shell writes; cheap to clone.
#[derive(Clone)]
pub(crate) struct Console {
    tx: mpsc::Sender<Out>,
}

/// The console's writer thread, to wait for at the end.
pub(crate) struct Writer {
    tx: mpsc::Sender<Out>,
    thread: JoinHandle<()>,
}

/// Which streams go through the printer: those that are the terminal
/// (with stdout redirected, stanzas go to the file, not the screen).
pub(crate) struct Routing {
    /// Stanzas through the printer.
    pub(crate) stanzas: bool,
    /// Status lines through the printer.
    pub(crate) status: bool,
}

impl Console {
    /// Starts the writer thread; `printer` with the streams that use it.
    pub(crate) fn start(printer: Option<(Printer, Routing)>) -> (Console, Writer) {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || write_all(&rx, printer));
        let console = Console { tx: tx.clone() };
        (console, Writer { tx, thread })
    }

    /// Prints an incoming stanza (indented XML).
    pub(crate) fn stanza(&self, el: &xmpp_xml::Element) {
        let _ = self.tx.send(Out::Stanza(el.to_xml_pretty()));
    }

    /// Prints a status line: `xmpp: ` and `line`.
    pub(crate) fn status(&self, line: impl fmt::Display) {
        let _ = self.tx.send(Out::Status(format!("xmpp: {line}")));
    }

    /// Prints `text` where status lines go, as it is.
    pub(crate) fn text(&self, text: &str) {
        let _ = self.tx.send(Out::Text(text.to_owned()));
    }
}

impl Writer {
    /// Waits until everything sent before was written.
    pub(crate) fn finish(self) {
        let _ = self.tx.send(Out::Stop);
        let _ = self.thread.join();
    }
}

fn write_all(rx: &mpsc::Receiver<Out>, printer: Option<(Printer, Routing)>) {
    let (mut printer, routing) = match printer {
        Some((p, r)) => (Some(p), r),
        None => (
            None,
            Routing {
                stanzas: false,
                status: false,
            },
        ),
    };
    while let Ok(out) = rx.recv() {
        let (text, via_printer, stdout) = match out {
            Out::Stanza(text) => (text, routing.stanzas, true),
            Out::Status(text) | Out::Text(text) => (text, routing.status, false),
            Out::Stop => break,
        };
        if let (Some(p), true) = (printer.as_mut(), via_printer) {
            // Between two prompts the printer writes as it is given: the
            // line break is ours (at a prompt it would add one).
            if p.print(format!("{text}\n")).is_ok() {
                continue;
            }
            // The terminal is gone: write directly from now on.
            printer = None;
        }
        // A closed stdout or stderr (`| head`) is no reason to stop.
        let _ = if stdout {
            writeln!(std::io::stdout().lock(), "{text}")
        } else {
            writeln!(std::io::stderr().lock(), "{text}")
        };
    }
}
