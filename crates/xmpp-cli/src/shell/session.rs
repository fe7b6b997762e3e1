//! The shell's session: lines in, stanzas out, incoming stanzas printed
//! as they arrive, and the close at `/quit` or at the end of input.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use xmpp_stream::SessionError;
use xmpp_xml::Element;

use super::command::{Action, Interpreter, Step, HELP};
use super::connect::{Lost, Stream};
use super::console::Console;
use super::input::{Event, Input};
use super::stanza;
use crate::send::{condition, message_id};

/// The prompts: for a new input, and for the next line of an element.
const PROMPT: &str = "xmpp> ";
const CONTINUE: &str = "  ... ";

/// How long the server has to answer our `</stream:stream>`.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// An IQ request we sent, waiting for its answer.
enum Pending {
    /// `/ping`: to whom, and when.
    Ping { to: String, sent: Instant },
    /// One the user typed: its answer is printed like any stanza.
    Request,
}

/// How the session is being closed.
#[derive(Clone, Copy)]
enum Closing {
    /// `/quit`: at once, after the acknowledgements.
    Quit,
    /// The end of input: also wait (until the deadline) for answers.
    Eof { deadline: Instant },
}

/// How a session on one stream ended.
pub(crate) enum Outcome {
    /// Closed by us.
    Closed,
    /// The stream ended without our close.
    Lost(Lost),
}

/// What a line did.
enum Flow {
    Continue,
    Close(Closing),
    Lost(Lost),
}

/// The session, across the streams [`Connector`](super::connect::Connector)
/// gives it: what was typed, the requests waiting for answers, how it is
/// closing.
pub(crate) struct Session {
    input: Input,
    console: Console,
    interpreter: Interpreter,
    pending: HashMap<String, Pending>,
    closing: Option<Closing>,
    /// At the end of input: how long to wait for answers.
    wait: Duration,
    /// How long the server has to acknowledge our stanzas at the close.
    ack_timeout: Duration,
}

impl Session {
    /// A session reading `input` and writing to `console`.
    pub(crate) fn new(
        input: Input,
        console: Console,
        wait: Duration,
        ack_timeout: Duration,
    ) -> Self {
        Session {
            input,
            console,
            interpreter: Interpreter::default(),
            pending: HashMap::new(),
            closing: None,
            wait,
            ack_timeout,
        }
    }

    /// Runs the session on `stream` until it is closed or lost. Called
    /// again with a new stream after a loss, it goes on where it was
    /// (still closing, if it was).
    pub(crate) async fn drive(&mut self, stream: &mut Stream) -> Outcome {
        if self.closing.is_none() {
            match self.converse(stream).await {
                Ok(closing) => self.closing = Some(closing),
                Err(lost) => return Outcome::Lost(lost),
            }
        }
        match self.close(stream).await {
            Ok(()) => Outcome::Closed,
            Err(lost) => Outcome::Lost(lost),
        }
    }

    /// Lines and incoming stanzas, until the user closes or the stream ends.
    async fn converse(&mut self, stream: &mut Stream) -> Result<Closing, Lost> {
        loop {
            let prompt = if self.interpreter.is_continuing() {
                CONTINUE
            } else {
                PROMPT
            };
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(el)) => self.incoming(stream, el, true).await?,
                    Some(Err(e)) => return Err(Lost::error(&e)),
                    None => return Err(Lost::closed(stream)),
                },
                event = self.input.next(prompt) => match self.event(stream, event).await {
                    Flow::Continue => {}
                    Flow::Close(closing) => return Ok(closing),
                    Flow::Lost(lost) => return Err(lost),
                },
            }
        }
    }

    /// Acts on what reading gave.
    async fn event(&mut self, stream: &mut Stream, event: Event) -> Flow {
        let eof = || Closing::Eof {
            deadline: Instant::now() + self.wait,
        };
        match event {
            Event::Line(line) => match self.interpreter.line(&line) {
                Ok(Step::Action(action)) => self.act(stream, action).await,
                Ok(Step::Nothing | Step::More) => Flow::Continue,
                Err(e) => {
                    self.input_error(&e);
                    Flow::Continue
                }
            },
            Event::NotUtf8 => {
                let n = self.input.line_number();
                self.console.status(format!("line {n}: not UTF-8, ignored"));
                Flow::Continue
            }
            Event::Interrupted => {
                if self.interpreter.discard() {
                    self.console.status("unfinished element dropped");
                } else {
                    self.console.status("/quit or Ctrl-D closes the session");
                }
                Flow::Continue
            }
            Event::Eof => {
                if self.interpreter.discard() {
                    self.input_error(&"the input ended inside an element, which was not sent");
                }
                Flow::Close(eof())
            }
            Event::Failed(why) => {
                self.console
                    .status(format!("cannot read more input: {why}; closing"));
                Flow::Close(eof())
            }
        }
    }

    /// Says what was wrong with the input: with its line number when it
    /// does not come from a terminal, where the line is not on screen.
    fn input_error(&self, e: &dyn std::fmt::Display) {
        if self.input.is_terminal() {
            self.console.status(e);
        } else {
            let n = self.input.line_number();
            self.console.status(format!("line {n}: {e}"));
        }
    }

    /// Carries out a complete input.
    async fn act(&mut self, stream: &mut Stream, action: Action) -> Flow {
        let element = match action {
            Action::Quit => return Flow::Close(Closing::Quit),
            Action::Help => {
                self.console.text(HELP);
                return Flow::Continue;
            }
            Action::Stanza(el) => {
                if let Some(id) = stanza::request_id(&el) {
                    self.pending.insert(id.to_owned(), Pending::Request);
                }
                el
            }
            Action::Raw(el) => el,
            Action::Message { to, text } => stanza::message(&to, &text, &message_id()),
            Action::Presence { show, status } => stanza::presence(show, status.as_deref()),
            Action::Ping { to } => {
                let to = to.map_or_else(|| stream.jid().domain().to_string(), |j| j.to_string());
                let id = message_id();
                let ping = stanza::ping(&to, &id);
                let sent = Instant::now();
                self.pending.insert(id, Pending::Ping { to, sent });
                ping
            }
        };
        match stream.send(element).await {
            Ok(()) => Flow::Continue,
            Err(SessionError::QueueFull(e)) => {
                self.input_error(&format!("not sent: {e}"));
                Flow::Continue
            }
            Err(e) => Flow::Lost(Lost::error(&e)),
        }
    }

    /// An incoming stanza: printed, or the answer to our `/ping`. A ping
    /// to us is answered (`reply`: unless closing).
    async fn incoming(
        &mut self,
        stream: &mut Stream,
        el: Element,
        reply: bool,
    ) -> Result<(), Lost> {
        if let Some(id) = stanza::answer_id(&el) {
            match self.pending.remove(id) {
                Some(Pending::Ping { to, sent }) => {
                    self.pong(&el, &to, sent.elapsed());
                    return Ok(());
                }
                Some(Pending::Request) | None => {}
            }
        }
        self.console.stanza(&el);
        if reply && stanza::is_ping(&el) {
            match stream.send(xmpp_stream::iq_result(&el)).await {
                Ok(()) | Err(SessionError::QueueFull(_)) => {}
                Err(e) => return Err(Lost::error(&e)),
            }
        }
        Ok(())
    }

    /// The answer to a `/ping`.
    fn pong(&self, answer: &Element, to: &str, rtt: Duration) {
        let ms = rtt.as_secs_f64() * 1000.0;
        if answer.attr("type") == Some("result") {
            self.console
                .status(format!("ping {to}: answered in {ms:.1} ms"));
        } else {
            let condition = condition(answer);
            self.console
                .status(format!("ping {to}: error {condition} after {ms:.1} ms"));
        }
    }

    /// Closes: waits for the acknowledgement of everything sent, at the end
    /// of input for the answers still pending too (until the deadline),
    /// then sends `</stream:stream>` and prints what still comes.
    async fn close(&mut self, stream: &mut Stream) -> Result<(), Lost> {
        // Stream management may still be enabling (`<enabled/>` on its
        // way): what was sent counts already.
        if stream.info().stream_management || stream.unacked() > 0 {
            match tokio::time::timeout(self.ack_timeout, stream.flush_acked()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Lost::error(&e)),
                Err(_) => return Err(Lost::unacknowledged(stream.unacked())),
            }
        }
        if let Some(Closing::Eof { deadline }) = self.closing {
            while !self.pending.is_empty() {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Err(_) => break,
                    Ok(Some(Ok(el))) => self.incoming(stream, el, true).await?,
                    Ok(Some(Err(e))) => return Err(Lost::error(&e)),
                    Ok(None) => return Err(Lost::closed(stream)),
                }
            }
            for (id, pending) in self.pending.drain() {
                let what = match pending {
                    Pending::Ping { to, .. } => format!("ping {to}"),
                    Pending::Request => format!("iq {id:?}"),
                };
                self.console
                    .status(format!("no answer to {what} within --wait"));
            }
        }
        // The server's close may follow stanzas already on their way.
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            if stream.close().await.is_ok() {
                while let Some(Ok(el)) = stream.next().await {
                    let _ = self.incoming(stream, el, false).await;
                }
            }
        })
        .await;
        Ok(())
    }
}
