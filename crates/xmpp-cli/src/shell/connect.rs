//! Where the shell's stream comes from: the one place that logs in, and
//! the one that decides what happens when the stream is lost.
//!
//! The session loop never logs in itself: it asks [`Connector::connect`]
//! for its first stream and, when that stream ends without our close,
//! hands it to [`Connector::recover`] with the reason ([`Lost`]). Today
//! `recover` ends the session; reconnecting and resuming the XEP-0198
//! session (with a "resumed" or "new session, N stanzas lost" line) go
//! there, and the session loop goes on with whatever stream it returns.

use tokio::net::TcpStream;
use xmpp_stream::{SessionError, XmppStream};

use crate::cli::ConnectArgs;
use crate::exit::{Code, Failure};
use crate::login;

use super::console::Console;

/// The shell's stream.
pub(crate) type Stream = XmppStream<TcpStream>;

/// Why a stream ended before we closed it.
#[derive(Debug)]
pub(crate) struct Lost {
    /// What happened, for `connection lost: <why>`.
    pub(crate) why: String,
    /// The exit code if the session ends here: what a login that failed
    /// the same way exits with (4 stream or protocol, 5 network).
    pub(crate) code: Code,
}

impl Lost {
    /// The stream failed.
    pub(crate) fn error(e: &SessionError) -> Lost {
        // The connection failed, or closed while stanzas waited for
        // their acknowledgement: a network failure; the rest is the
        // protocol's (stream errors either way).
        let code = match e {
            SessionError::Io(_) | SessionError::Unacknowledged(_) => Code::Network,
            _ => Code::Protocol,
        };
        Lost {
            why: e.to_string(),
            code,
        }
    }

    /// The server closed the stream, or the connection, without an error.
    pub(crate) fn closed() -> Lost {
        Lost {
            why: "the server closed the stream".to_owned(),
            code: Code::Network,
        }
    }

    /// The server did not acknowledge our stanzas in time.
    pub(crate) fn unacknowledged(unacked: usize) -> Lost {
        Lost {
            why: format!("the server did not acknowledge {unacked} stanzas in time"),
            code: Code::Network,
        }
    }
}

/// Logs in for the shell, with the options `xmpp login` takes.
pub(crate) struct Connector {
    jid: String,
    args: ConnectArgs,
    console: Console,
}

impl Connector {
    /// For `jid` with `args`; what it has to say goes to `console`.
    pub(crate) fn new(jid: String, args: ConnectArgs, console: Console) -> Self {
        Connector { jid, args, console }
    }

    /// How to connect and log in.
    pub(crate) fn args(&self) -> &ConnectArgs {
        &self.args
    }

    /// Logs in, asking for stream management (XEP-0198), which the shell
    /// uses to know that what it sent arrived before it closes.
    pub(crate) async fn connect(&mut self) -> Result<Stream, Failure> {
        let stream = login::session(&self.jid, &self.args, true).await?;
        self.console
            .status(format!("logged in as {}", stream.jid()));
        Ok(stream)
    }

    /// `old` ended without our close, for the reason `lost`: the stream
    /// the session goes on with, or the failure that ends it. For now the
    /// session ends: `connection lost: <why>`, exiting with `lost.code`.
    /// `old` keeps what resuming needs (its stream management state).
    pub(crate) async fn recover(&mut self, old: Stream, lost: Lost) -> Result<Stream, Failure> {
        drop(old);
        Err(Failure::new(
            lost.code,
            format!("connection lost: {}", lost.why),
        ))
    }
}
