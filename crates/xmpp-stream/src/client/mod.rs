//! The client side: [`connect`] negotiates over any byte stream.

mod config;
pub mod core;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::StreamCodec;

pub use self::config::{ClientConfig, InvalidJid};
pub use self::core::{ClientAction, ClientCore, ClientNegotiated};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::observer::Observer;
use crate::session::{StreamInfo, XmppStream};

/// Negotiates a client stream over `io` (a connected TCP stream, or any
/// other byte stream): header, features, SASL, restart, bind and, if the
/// server requires it, the legacy session.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use xmpp_stream::client::{connect, ClientConfig};
///
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:5222").await?;
/// let config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")?;
/// let stream = connect(tcp, config, None).await?;
/// println!("bound as {}", stream.jid());
/// # Ok(()) }
/// ```
pub async fn connect<S>(
    io: S,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let codec = StreamCodec::new(config.limits.clone());
    let mut conn = Conn::new(io, codec, observer, true);
    let mut core = ClientCore::new(config, crate::now());
    loop {
        while let Some(action) = core.poll_action() {
            match action {
                ClientAction::Send(frame) => {
                    let mech = core.mechanism().map(str::to_owned);
                    conn.feed(frame, mech.as_deref()).await?;
                }
                ClientAction::ResetDecoder => conn.framed.codec_mut().reset(),
                ClientAction::Established(n) => {
                    conn.flush().await?;
                    let info = StreamInfo {
                        jid: n.jid,
                        stream_id: n.stream_id,
                        peer_header: n.header,
                        mechanism: n.mechanism,
                    };
                    return Ok(XmppStream::new(conn, info, None));
                }
                ClientAction::Fail(err) => {
                    // Best effort: the stream is failing anyway.
                    let _ = conn.flush().await;
                    return Err(err);
                }
            }
        }
        // Flush errors end the negotiation like read errors do.
        if let Err(e) = conn.flush().await {
            core.handle_frame(Err(e));
            continue;
        }
        let deadline = core.poll_timeout();
        let mech = core.mechanism().map(str::to_owned);
        tokio::select! {
            item = conn.next(mech.as_deref()) => match item {
                Some(frame) => core.handle_frame(frame),
                None => core.handle_eof(),
            },
            () = crate::sleep_until(deadline) => core.handle_timeout(crate::now()),
        }
    }
}
