//! What the lines typed at the shell ask for: the commands' syntax, and
//! XML that may span several lines. No I/O: lines in, actions out.

use jid::Jid;
use xmpp_xml::Element;

use super::xml::{is_stanza, PartialElement, XmlInputError};

/// The commands, for `/help` (`--help` has the same list).
pub(crate) const HELP: &str = "\
a line that starts with < is XML: one <message>, <presence> or <iq>, sent as typed
(an element may span several lines; Ctrl-C drops an unfinished one)
  /msg <jid> <text>          a chat message
  /presence [show] [status]  presence; show: available, away, chat, dnd or xa
  /ping [jid]                an XMPP ping (XEP-0199) to the server or <jid>
  /raw <xml>                 any element, sent without checks
  /quit                      close the stream (Ctrl-D too)
  /help                      this list";

/// A presence `<show/>` (RFC 6121 §4.7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    /// Temporarily away.
    Away,
    /// Interested in chatting.
    Chat,
    /// Busy: do not disturb.
    Dnd,
    /// Away for an extended period.
    Xa,
}

impl Show {
    /// The element's text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
    }
}

/// What a complete input asks for.
#[derive(Debug)]
pub(crate) enum Action {
    /// A stanza typed as XML, to send as it is.
    Stanza(Element),
    /// `/raw`: any element, sent without checks.
    Raw(Element),
    /// `/msg`.
    Message {
        /// The recipient.
        to: Jid,
        /// The body.
        text: String,
    },
    /// `/presence`: available, with an optional show and status.
    Presence {
        /// `<show/>`, none for plain available.
        show: Option<Show>,
        /// `<status/>`.
        status: Option<String>,
    },
    /// `/ping`: to the server, or to `to`.
    Ping {
        /// The entity pinged; the server without one.
        to: Option<Jid>,
    },
    /// `/quit`.
    Quit,
    /// `/help`.
    Help,
}

/// Why a line was not taken. The session goes on after any of them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// `/something` that is not a command.
    #[error("unknown command {0:?} (/help lists the commands)")]
    UnknownCommand(String),
    /// A command with the wrong arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// An argument that should be a JID.
    #[error("{given:?} is not a JID: {source}")]
    Jid {
        /// What was typed.
        given: String,
        /// Why it is not one.
        source: jid::Error,
    },
    /// `/presence` with a first word that is not a show.
    #[error("{0:?} is not a presence show: available, away, chat, dnd or xa")]
    Show(String),
    /// Typed XML that is not a stanza.
    #[error(
        "<{name}> in namespace {ns:?} is not a stanza: type a <message>, <presence> or <iq> \
         (their namespace, jabber:client, is the default), or send it with /raw"
    )]
    NotAStanza {
        /// The element's name.
        name: String,
        /// Its namespace.
        ns: String,
    },
    /// Typed XML that could not be read.
    #[error(transparent)]
    Xml(#[from] XmlInputError),
    /// A line that is neither a command nor XML.
    #[error("not a command or XML: start a line with / for a command (/help) or < for a stanza")]
    Text,
}

/// What a line came to.
#[derive(Debug)]
pub(crate) enum Step {
    /// A complete input.
    Action(Action),
    /// The line was empty.
    Nothing,
    /// An element is unfinished: the next line continues it.
    More,
}

/// An element being typed, and whether it goes out as `/raw`.
struct Pending {
    element: PartialElement,
    raw: bool,
}

/// Turns lines into actions; an element may take several lines.
#[derive(Default)]
pub(crate) struct Interpreter {
    pending: Option<Pending>,
}

impl Interpreter {
    /// An element is unfinished (the prompt says so).
    pub(crate) fn is_continuing(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops an unfinished element: whether there was one.
    pub(crate) fn discard(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Takes one line (without its line break). While an element is
    /// unfinished every line belongs to it, whatever it starts with.
    pub(crate) fn line(&mut self, line: &str) -> Result<Step, InputError> {
        if let Some(mut pending) = self.pending.take() {
            return match pending.element.push(line)? {
                Some(el) => finished(el, pending.raw),
                None => {
                    self.pending = Some(pending);
                    Ok(Step::More)
                }
            };
        }
        let line = line.trim();
        if line.is_empty() {
            return Ok(Step::Nothing);
        }
        if line.starts_with('<') {
            return self.xml(line, false);
        }
        let Some(command) = line.strip_prefix('/') else {
            return Err(InputError::Text);
        };
        let (name, rest) = match command.split_once(char::is_whitespace) {
            Some((name, rest)) => (name, rest.trim_start()),
            None => (command, ""),
        };
        let action = match name {
            "msg" => message(rest)?,
            "presence" => presence(rest)?,
            "ping" => ping(rest)?,
            "raw" if rest.starts_with('<') => return self.xml(rest, true),
            "raw" => return Err(InputError::Usage("/raw <xml>")),
            "quit" if rest.is_empty() => Action::Quit,
            "quit" => return Err(InputError::Usage("/quit")),
            "help" => Action::Help,
            _ => return Err(InputError::UnknownCommand(format!("/{name}"))),
        };
        Ok(Step::Action(action))
    }

    /// The first line of an element.
    fn xml(&mut self, first: &str, raw: bool) -> Result<Step, InputError> {
        let mut element = PartialElement::new();
        match element.push(first)? {
            Some(el) => finished(el, raw),
            None => {
                self.pending = Some(Pending { element, raw });
                Ok(Step::More)
            }
        }
    }
}

/// A complete element: a stanza, or anything with `/raw`.
fn finished(el: Element, raw: bool) -> Result<Step, InputError> {
    if raw {
        return Ok(Step::Action(Action::Raw(el)));
    }
    if !is_stanza(&el) {
        return Err(InputError::NotAStanza {
            name: el.name().to_owned(),
            ns: el.ns().to_owned(),
        });
    }
    Ok(Step::Action(Action::Stanza(el)))
}

fn jid(given: &str) -> Result<Jid, InputError> {
    Jid::new(given).map_err(|source| InputError::Jid {
        given: given.to_owned(),
        source,
    })
}

/// `/msg <jid> <text>`.
fn message(args: &str) -> Result<Action, InputError> {
    const USAGE: &str = "/msg <jid> <text>";
    let Some((to, text)) = args.split_once(char::is_whitespace) else {
        return Err(InputError::Usage(USAGE));
    };
    let text = text.trim_start();
    if text.is_empty() {
        return Err(InputError::Usage(USAGE));
    }
    Ok(Action::Message {
        to: jid(to)?,
        text: text.to_owned(),
    })
}

/// `/presence [show] [status]`: `available` stands for no show, so that a
/// status can be given without one.
fn presence(args: &str) -> Result<Action, InputError> {
    if args.is_empty() {
        return Ok(Action::Presence {
            show: None,
            status: None,
        });
    }
    let (word, status) = match args.split_once(char::is_whitespace) {
        Some((word, status)) => (word, status.trim_start()),
        None => (args, ""),
    };
    let show = match word {
        "available" => None,
        "away" => Some(Show::Away),
        "chat" => Some(Show::Chat),
        "dnd" => Some(Show::Dnd),
        "xa" => Some(Show::Xa),
        other => return Err(InputError::Show(other.to_owned())),
    };
    let status = (!status.is_empty()).then(|| status.to_owned());
    Ok(Action::Presence { show, status })
}

/// `/ping [jid]`.
fn ping(args: &str) -> Result<Action, InputError> {
    if args.is_empty() {
        return Ok(Action::Ping { to: None });
    }
    if args.contains(char::is_whitespace) {
        return Err(InputError::Usage("/ping [jid]"));
    }
    Ok(Action::Ping {
        to: Some(jid(args)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(i: &mut Interpreter, line: &str) -> Action {
        match i.line(line) {
            Ok(Step::Action(a)) => a,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        match Interpreter::default().line(line) {
            Err(e) => e.to_string(),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn commands() {
        let mut i = Interpreter::default();
        let Action::Message { to, text } = action(&mut i, "/msg juliet@example.com  hi there ")
        else {
            panic!()
        };
        assert_eq!(
            (to.as_str(), text.as_str()),
            ("juliet@example.com", "hi there")
        );
        let Action::Presence { show, status } = action(&mut i, "/presence") else {
            panic!()
        };
        assert_eq!((show, status), (None, None));
        let Action::Presence { show, status } = action(&mut i, "/presence dnd in a meeting") else {
            panic!()
        };
        assert_eq!(
            (show, status.as_deref()),
            (Some(Show::Dnd), Some("in a meeting"))
        );
        let Action::Presence { show, status } = action(&mut i, "/presence available back") else {
            panic!()
        };
        assert_eq!((show, status.as_deref()), (None, Some("back")));
        assert!(matches!(action(&mut i, "/ping"), Action::Ping { to: None }));
        let Action::Ping { to: Some(to) } = action(&mut i, "/ping example.com") else {
            panic!()
        };
        assert_eq!(to.as_str(), "example.com");
        assert!(matches!(action(&mut i, "/quit"), Action::Quit));
        assert!(matches!(action(&mut i, "  /help"), Action::Help));
        assert!(matches!(i.line("   "), Ok(Step::Nothing)));
    }

    #[test]
    fn command_errors() {
        assert_eq!(
            error("/frobnicate now"),
            "unknown command \"/frobnicate\" (/help lists the commands)"
        );
        assert_eq!(error("/msg juliet@example.com"), "usage: /msg <jid> <text>");
        assert_eq!(error("/msg"), "usage: /msg <jid> <text>");
        assert!(error("/msg @ hi").starts_with("\"@\" is not a JID: "));
        assert_eq!(
            error("/presence busy"),
            "\"busy\" is not a presence show: available, away, chat, dnd or xa"
        );
        assert_eq!(error("/ping a b"), "usage: /ping [jid]");
        assert_eq!(error("/raw"), "usage: /raw <xml>");
        assert_eq!(error("/quit now"), "usage: /quit");
        assert!(error("hello").starts_with("not a command or XML"));
    }

    #[test]
    fn xml_over_several_lines_then_commands_again() {
        let mut i = Interpreter::default();
        assert!(matches!(
            i.line("<message to='a@example.com'>"),
            Ok(Step::More)
        ));
        assert!(i.is_continuing());
        // Inside an element a line is XML, even one that looks like a command.
        assert!(matches!(i.line("<body>/quit</body>"), Ok(Step::More)));
        let Action::Stanza(m) = action(&mut i, "</message>") else {
            panic!()
        };
        assert_eq!(m.children().next().unwrap().text(), "/quit");
        assert!(!i.is_continuing());
        assert!(matches!(action(&mut i, "/quit"), Action::Quit));
        // /raw continues too, and takes what is not a stanza.
        assert!(matches!(i.line("/raw <r"), Ok(Step::More)));
        let Action::Raw(r) = action(&mut i, "xmlns='urn:xmpp:sm:3'/>") else {
            panic!()
        };
        assert_eq!((r.name(), r.ns()), ("r", "urn:xmpp:sm:3"));
        // Ctrl-C drops an unfinished element.
        assert!(matches!(i.line("<presence>"), Ok(Step::More)));
        assert!(i.discard());
        assert!(!i.discard());
        assert!(matches!(action(&mut i, "/help"), Action::Help));
    }

    #[test]
    fn xml_errors_leave_the_interpreter_ready() {
        let mut i = Interpreter::default();
        let e = i.line("<message><body>x</b></message>").unwrap_err();
        assert!(e.to_string().starts_with("bad XML: "), "{e}");
        assert!(!i.is_continuing());
        let e = i.line("<r xmlns='urn:xmpp:sm:3'/>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "<r> in namespace \"urn:xmpp:sm:3\" is not a stanza: type a <message>, <presence> \
             or <iq> (their namespace, jabber:client, is the default), or send it with /raw"
        );
        // An error on a later line of an element ends the element.
        assert!(matches!(i.line("<message>"), Ok(Step::More)));
        assert!(i.line("</presence>").is_err());
        assert!(!i.is_continuing());
        assert!(matches!(action(&mut i, "<presence/>"), Action::Stanza(_)));
    }
}
