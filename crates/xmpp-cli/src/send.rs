//! `xmpp send`: log in, send one message, make sure the server accepted it.

use std::io::Read as _;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

use crate::cli::SendArgs;
use crate::exit::{CmdResult, Code, Failure};
use crate::login;

/// Runs `xmpp send`.
pub async fn run(args: SendArgs) -> CmdResult {
    let to = jid::Jid::new(&args.to)
        .map_err(|e| Failure::usage(format!("{:?} is not a JID: {e}", args.to)))?;
    let text = match args.text {
        Some(text) => text,
        None if args.connect.password_stdin => {
            return Err(Failure::usage(
                "--password-stdin cannot be used when the message text comes from stdin: give \
                 the text as an argument, or let the password come from the prompt or \
                 --fast-token-file",
            ))
        }
        None => read_text()?,
    };
    if text.is_empty() {
        return Err(Failure::usage("the message is empty"));
    }
    let id = message_id();
    let message = Element::builder("message", ns::CLIENT)
        .attr("to", to.as_str())
        .attr("type", args.kind.as_str())
        .attr("id", &id)
        .append(Element::builder("body", ns::CLIENT).text(&text).build())
        .build();
    let mut stream = login::session(&args.from, &args.connect, true).await?;
    let result = deliver(&mut stream, message, &id, args.wait, args.connect.timeout).await;
    login::close(stream, Duration::from_secs(1)).await;
    let acknowledged = result?;
    if acknowledged {
        eprintln!("xmpp: sent, acknowledged by the server (XEP-0198)");
    } else {
        eprintln!(
            "xmpp: sent; the server offers no stream management (XEP-0198), so only the absence \
             of a bounce within --wait was checked"
        );
    }
    Ok(())
}

/// The message text: stdin until EOF, without the final line break.
fn read_text() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("cannot read the message from stdin: {e}")))?;
    let end = text.trim_end_matches(['\r', '\n']).len();
    text.truncate(end);
    Ok(text)
}

/// A message id from the OS's random source.
pub(crate) fn message_id() -> String {
    let mut bytes = [0u8; 12];
    // A failing OS random number generator leaves nothing sane to do.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends `message`, waits for the server's acknowledgement when stream
/// management is on, then `wait` for a bounce. Whether the server
/// acknowledged the message.
async fn deliver<S>(
    stream: &mut XmppStream<S>,
    message: Element,
    id: &str,
    wait: Duration,
    timeout: Duration,
) -> Result<bool, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let broken = |e: xmpp_stream::SessionError| {
        Failure::new(
            Code::Protocol,
            format!("the stream failed after login: {e}"),
        )
    };
    stream.send(message).await.map_err(broken)?;
    // Stream management may still be enabling (`<enabled/>` on its way):
    // the message counts already.
    if stream.info().stream_management || stream.unacked() > 0 {
        tokio::time::timeout(timeout, stream.flush_acked())
            .await
            .map_err(|_| {
                Failure::new(
                    Code::Network,
                    "the server did not acknowledge the message in time",
                )
            })?
            .map_err(broken)?;
    }
    let acknowledged = stream.info().stream_management;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Ok(acknowledged),
            Ok(None) if acknowledged => return Ok(true),
            Ok(None) => {
                return Err(Failure::new(
                    Code::Network,
                    "the server closed the stream before the message could be confirmed",
                ))
            }
            Ok(Some(Err(e))) => return Err(broken(e)),
            Ok(Some(Ok(el))) if is_bounce(&el, id) => {
                return Err(Failure::new(
                    Code::Bounced,
                    format!("the server bounced the message: {}", condition(&el)),
                ))
            }
            Ok(Some(Ok(el))) => {
                tracing::debug!(
                    name = el.name(),
                    "ignoring a stanza while waiting for a bounce"
                );
            }
        }
    }
}

/// `<message type='error' id=our id>` (RFC 6120 §8.3).
fn is_bounce(el: &Element, id: &str) -> bool {
    el.is("message", ns::CLIENT) && el.attr("type") == Some("error") && el.attr("id") == Some(id)
}

/// The stanza error's condition as `<name/>`, with its text if any.
pub(crate) fn condition(el: &Element) -> String {
    let Some(error) = el.child("error", ns::CLIENT) else {
        return "no <error/> element".to_owned();
    };
    let name = error
        .children()
        .find(|c| c.ns() == ns::STANZAS && c.name() != "text")
        .map_or_else(|| "undefined-condition".to_owned(), |c| c.name().to_owned());
    match error.child("text", ns::STANZAS).map(|t| t.text()) {
        Some(text) if !text.is_empty() => format!("<{name}/> ({text})"),
        _ => format!("<{name}/>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_condition() {
        let bounce = Element::builder("message", ns::CLIENT)
            .attr("type", "error")
            .attr("id", "x1")
            .append(
                Element::builder("error", ns::CLIENT)
                    .attr("type", "cancel")
                    .append(Element::builder("service-unavailable", ns::STANZAS).build())
                    .build(),
            )
            .build();
        assert!(is_bounce(&bounce, "x1"));
        assert!(!is_bounce(&bounce, "x2"));
        assert_eq!(condition(&bounce), "<service-unavailable/>");
        assert_ne!(message_id(), message_id());
    }
}
