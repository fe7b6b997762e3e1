//! Sessions whose connection was lost (XEP-0198 §5): parked until their
//! client resumes them, or bounced when their time is up.

use std::sync::Arc;

use xmpp_stream::server::{EndReason, ParkEnd};
use xmpp_stream::{StanzaCondition, XmppStream};
use xmpp_xml::Element;

use super::queue::Outbox;
use super::router::Router;
use super::session::Shared;

/// Parks the session of a stream whose connection was lost, if it is
/// resumable, until its client resumes it or its time is up; then bounces
/// what it never delivered. Returns at once for a session that cannot be
/// resumed.
pub async fn park<S>(stream: XmppStream<S>, inbox: Option<Outbox>, shared: &Arc<Shared>) {
    let Some(sessions) = shared.config.resumable.clone() else {
        return;
    };
    let Some(detached) = stream.detach() else {
        return;
    };
    let jid = detached.jid().clone();
    tracing::info!(
        jid = jid.as_str(),
        max_s = detached.max().as_secs(),
        "connection lost; the session waits to be resumed"
    );
    let waiting = sessions.park(detached, Box::new(inbox));
    let end = tokio::select! {
        end = waiting => end,
        // At shutdown, the session goes with the server.
        () = shared.stopping.cancelled() => return,
    };
    match end {
        ParkEnd::Resumed => tracing::debug!(jid = jid.as_str(), "session resumed elsewhere"),
        ParkEnd::Ended(ended) => {
            let mut pending = ended.unacked;
            if let Ok(inbox) = ended.state.downcast::<Option<Outbox>>() {
                if let Some(mut inbox) = *inbox {
                    while let Ok(el) = inbox.try_recv() {
                        pending.push(*el);
                    }
                }
            }
            let bounced = bounce(&shared.router, &pending);
            let reason = match ended.reason {
                EndReason::Expired => "nobody resumed it in time".to_owned(),
                EndReason::Closed(c) => format!("closed by the server (<{c}/>)"),
                EndReason::ResumeFailed => "its resumption failed".to_owned(),
                _ => "it ended".to_owned(),
            };
            tracing::info!(
                jid = jid.as_str(),
                undelivered = pending.len(),
                bounced,
                "detached session ended: {reason}"
            );
        }
    }
}

/// Sends each message and IQ request back to its sender with
/// `<recipient-unavailable/>` (RFC 6120 §8.3.3.13): it was routed to a
/// session that is gone. Errors, results and presence are dropped (never
/// answer an error with an error; presence is never bounced). How many were
/// bounced.
pub fn bounce(router: &Router, stanzas: &[Element]) -> usize {
    let mut bounced = 0;
    for el in stanzas {
        let kind = el.attr("type");
        let answerable = match el.name() {
            "message" => kind != Some("error"),
            "iq" => matches!(kind, Some("get" | "set")),
            _ => false,
        };
        let Some(to) = el.attr("from").and_then(|f| jid::Jid::new(f).ok()) else {
            continue;
        };
        if !answerable {
            continue;
        }
        let error = xmpp_stream::stanza_error(el, StanzaCondition::RecipientUnavailable);
        router.deliver(&to, &error);
        bounced += 1;
    }
    bounced
}
