//! `xmpp bench --resume`: stream management resumptions (XEP-0198 §5).
//!
//! Each worker logs in once with stream management (not counted), as a
//! resource of its own. Then, again and again: it sends a message to its
//! own full JID, drops the connection (TCP or WebSocket) at once (the
//! message and its echo are in flight, unacknowledged), and resumes the
//! session on a new connection. Only the resumptions are counted and timed. After each, the
//! worker reads until the message's echo arrives: one that never comes is
//! a resumed stanza lost, one that comes twice a duplicate. Both must be 0.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::ClientConfig;
use xmpp_stream::{SessionError, XmppStream};
use xmpp_xml::{ns, Element};

use super::{log_in, Plan, Totals};

/// Worker `i`: one session, resumed again and again.
pub(super) async fn worker(plan: Arc<Plan>, totals: Arc<Totals>, start_delay: Duration, i: u64) {
    tokio::time::sleep(start_delay).await;
    let base = match plan.config(i) {
        Ok(mut c) => {
            c.stream_management = true;
            // A resource per worker: workers share accounts (--users).
            c.resource = Some(format!("bench-resume-{i}-{}", std::process::id()));
            c
        }
        Err(f) => return totals.record_failure(f.message),
    };
    let Some(mut stream) = open(&plan, &totals, &base).await else {
        return;
    };
    // The ids of the echoes this worker has read.
    let mut seen = HashSet::new();
    while let Some(n) = plan.next(&totals) {
        let id = format!("bench-resume-{n}");
        let me = stream.jid().to_string();
        if let Err(e) = stream.send(message(&me, &id)).await {
            totals.record_failure(format!("send:{}", short(&e)));
            match open(&plan, &totals, &base).await {
                Some(s) => stream = s,
                None => return,
            }
            continue;
        }
        let Some(suspended) = stream.suspend() else {
            totals.record_failure("resume:not-resumable".to_owned());
            break;
        };
        // The connection is lost: no </stream:stream>, no final <a/>.
        drop(stream);
        let mut config = base.clone();
        config.resume = Some(suspended);
        let t0 = Instant::now();
        let resumed = match log_in(&plan, config, None).await {
            Ok(s) => {
                let resumed = s.info().resumed;
                if resumed {
                    totals.record_ok(t0.elapsed(), s.info());
                } else {
                    // A new session: what the old one had in flight is gone
                    // (StreamInfo::sm_lost), so there is no echo to wait for.
                    totals.record_failure("resume:new-session".to_owned());
                }
                stream = s;
                resumed
            }
            Err(cond) => {
                totals.record_failure(format!("resume:{cond}"));
                match open(&plan, &totals, &base).await {
                    Some(s) => stream = s,
                    None => return,
                }
                false
            }
        };
        if !resumed {
            continue;
        }
        match await_echo(&mut stream, &id, &mut seen, plan.timeout, &totals).await {
            Ok(true) => {}
            Ok(false) => {
                totals.sm_lost.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                totals.record_failure(format!("after-resume:{}", short(&e)));
                match open(&plan, &totals, &base).await {
                    Some(s) => stream = s,
                    None => return,
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.close()).await;
}

/// The uncounted login that starts a worker's session, with stream
/// management enabled with resumption; `None` (a failure counted) if not.
async fn open(
    plan: &Plan,
    totals: &Totals,
    config: &ClientConfig,
) -> Option<XmppStream<TcpStream>> {
    totals.password_logins.fetch_add(1, Ordering::Relaxed);
    let mut stream = match log_in(plan, config.clone(), None).await {
        Ok(s) => s,
        Err(cond) => {
            totals.record_failure(format!("login:{cond}"));
            return None;
        }
    };
    // The answer to <enable/> says whether the server keeps the session.
    let answered = tokio::time::timeout(plan.timeout, stream.flush_acked()).await;
    match answered {
        Ok(Ok(())) if stream.info().stream_management => Some(stream),
        Ok(Ok(())) => {
            totals.record_failure("login:no-stream-management".to_owned());
            None
        }
        Ok(Err(e)) => {
            totals.record_failure(format!("login:{}", short(&e)));
            None
        }
        Err(_) => {
            totals.record_failure("login:timeout".to_owned());
            None
        }
    }
}

/// Reads until the echo `id` arrives (`Ok(true)`) or `timeout` passes
/// (`Ok(false)`); an echo read before is counted as a duplicate.
async fn await_echo(
    stream: &mut XmppStream<TcpStream>,
    id: &str,
    seen: &mut HashSet<String>,
    timeout: Duration,
    totals: &Totals,
) -> Result<bool, SessionError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) => return Ok(false),
        };
        let el = match next {
            Some(Ok(el)) => el,
            Some(Err(e)) => return Err(e),
            None => return Err(SessionError::Io(std::io::ErrorKind::UnexpectedEof.into())),
        };
        let Some(echo) = el
            .is("message", ns::CLIENT)
            .then(|| el.attr("id"))
            .flatten()
        else {
            continue;
        };
        if !seen.insert(echo.to_owned()) {
            totals.sm_duplicated.fetch_add(1, Ordering::Relaxed);
        } else if echo == id {
            return Ok(true);
        }
    }
}

/// `<message to='me' id='id' type='chat'><body>…</body></message>`
fn message(me: &str, id: &str) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", me)
        .attr("id", id)
        .attr("type", "chat")
        .append(
            Element::builder("body", ns::CLIENT)
                .text("xmpp bench --resume")
                .build(),
        )
        .build()
}

/// A short name for a session error, for the failure table.
fn short(e: &SessionError) -> String {
    match e {
        SessionError::Received { condition, .. } => format!("stream:{condition}"),
        SessionError::Sent(condition) => format!("sent:{condition}"),
        SessionError::Io(e) => format!("io:{:?}", e.kind()),
        SessionError::StreamManagement(_) => "stream-management".to_owned(),
        SessionError::QueueFull(_) => "queue-full".to_owned(),
        SessionError::Unacknowledged(_) => "unacknowledged".to_owned(),
        SessionError::ResumedElsewhere => "resumed-elsewhere".to_owned(),
        _ => "session".to_owned(),
    }
}
