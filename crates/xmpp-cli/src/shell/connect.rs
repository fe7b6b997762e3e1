//! Where the shell's stream comes from: the one place that logs in, and
//! the one that decides what happens when the stream is lost.
//!
//! The session loop never logs in itself: it asks [`Connector::connect`]
//! for its first stream and, when that stream ends without our close,
//! hands it to [`Connector::recover`] with the reason ([`Lost`]), which
//! reconnects with backoff and resumes the XEP-0198 session (or starts a
//! new one and says what may have been lost); the session loop goes on
//! with the stream it returns.

use tokio::net::TcpStream;
use xmpp_stream::client::ReconnectPolicy;
use xmpp_stream::{SessionError, StreamCondition, XmppStream};

use crate::cli::ConnectArgs;
use crate::exit::{Code, Failure};
use crate::login::Relogin;

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
    /// Worth reconnecting: the connection failed, or the server went down
    /// (rather than ending the session: `<conflict/>`, a clean close).
    pub(crate) retry: bool,
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
        let retry = match e {
            SessionError::Io(_) | SessionError::Unacknowledged(_) => true,
            SessionError::Received { condition, .. } => matches!(
                condition,
                StreamCondition::SystemShutdown
                    | StreamCondition::Reset
                    | StreamCondition::ConnectionTimeout
                    | StreamCondition::InternalServerError
            ),
            _ => false,
        };
        Lost {
            why: e.to_string(),
            code,
            retry,
        }
    }

    /// The server closed the stream (for good: no reconnection), or the
    /// connection without closing the stream.
    pub(crate) fn closed(stream: &Stream) -> Lost {
        let clean = stream.ended_cleanly();
        Lost {
            why: if clean {
                "the server closed the stream".to_owned()
            } else {
                "the server closed the connection".to_owned()
            },
            code: Code::Network,
            retry: !clean,
        }
    }

    /// The server did not acknowledge our stanzas in time.
    pub(crate) fn unacknowledged(unacked: usize) -> Lost {
        Lost {
            why: format!("the server did not acknowledge {unacked} stanzas in time"),
            code: Code::Network,
            retry: true,
        }
    }
}

/// Logs in for the shell, with the options `xmpp login` takes.
pub(crate) struct Connector {
    jid: String,
    args: ConnectArgs,
    console: Console,
    relogin: Option<Relogin>,
    policy: ReconnectPolicy,
}

impl Connector {
    /// For `jid` with `args`; what it has to say goes to `console`. After a
    /// loss it makes up to `attempts` attempts to reconnect.
    pub(crate) fn new(jid: String, args: ConnectArgs, console: Console, attempts: u32) -> Self {
        Connector {
            jid,
            args,
            console,
            relogin: None,
            policy: ReconnectPolicy {
                max_attempts: attempts,
                ..ReconnectPolicy::default()
            },
        }
    }

    /// How to connect and log in.
    pub(crate) fn args(&self) -> &ConnectArgs {
        &self.args
    }

    /// Logs in, asking for stream management (XEP-0198), which the shell
    /// uses to know that what it sent arrived before it closes.
    pub(crate) async fn connect(&mut self) -> Result<Stream, Failure> {
        let (relogin, stream) = Relogin::first(&self.jid, &self.args).await?;
        self.relogin = Some(relogin);
        self.console
            .status(format!("logged in as {}", stream.jid()));
        Ok(stream)
    }

    /// `old` ended without our close, for the reason `lost`: reconnects
    /// with backoff and resumes its XEP-0198 session, or starts a new one
    /// and lists what the server never acknowledged. The session ends
    /// (`connection lost: <why>`, exiting with `lost.code`) when the loss
    /// is for good or no attempt succeeds.
    pub(crate) async fn recover(&mut self, mut old: Stream, lost: Lost) -> Result<Stream, Failure> {
        let gone = || Failure::new(lost.code, format!("connection lost: {}", lost.why));
        let Some(relogin) = self.relogin.as_mut() else {
            return Err(gone());
        };
        if !lost.retry || self.policy.max_attempts == 0 {
            return Err(gone());
        }
        let suspended = old.suspend();
        let mut lost_now = old.take_unacked();
        drop(old);
        self.console.status(format!(
            "connection lost: {}; reconnecting{}",
            lost.why,
            if suspended.is_some() {
                " to resume the session"
            } else {
                ""
            }
        ));
        let mut attempt = 0;
        let mut wait = self.policy.delay(0);
        loop {
            tokio::time::sleep(wait).await;
            match relogin.again(suspended.clone()).await {
                Ok(stream) if stream.info().resumed => {
                    self.console.status(format!(
                        "resumed the session as {}: nothing was lost",
                        stream.jid()
                    ));
                    return Ok(stream);
                }
                Ok(stream) => {
                    lost_now.extend(stream.info().sm_lost.iter().cloned());
                    self.console.status(format!(
                        "new session as {}: the old one could not be resumed; {} stanzas sent \
                         before the loss were never acknowledged and may be lost{}",
                        stream.jid(),
                        lost_now.len(),
                        if lost_now.is_empty() { "" } else { ":" }
                    ));
                    for el in &lost_now {
                        self.console.status(format!("  {}", el.to_xml()));
                    }
                    return Ok(stream);
                }
                Err(f) if f.code == Code::Network && attempt + 1 < self.policy.max_attempts => {
                    attempt += 1;
                    wait = self.policy.delay(attempt);
                    self.console.status(format!(
                        "reconnecting failed ({}); trying again in {:.1} s",
                        f.message,
                        wait.as_secs_f64()
                    ));
                }
                Err(f) => return Err(f),
            }
        }
    }
}
