//! XMPP client-to-server stream negotiation (RFC 6120) over tokio, as
//! client and as server: stream headers and features, SASL, the stream
//! restart, resource binding and the legacy session.
//!
//! Each side is a sans-IO core ([`client::ClientCore`],
//! [`server::ServerCore`]) that consumes decoded frames and the time and
//! produces actions, and a thin tokio shell ([`client::connect`],
//! [`server::accept`]) that drives it over any `AsyncRead + AsyncWrite` with
//! the [`xmpp_xml::StreamCodec`]. A successful negotiation yields an
//! [`XmppStream`]: a `Stream` of incoming elements and a `Sink` for outgoing
//! ones.
//!
//! The cores never touch a socket, a clock or a credential store: the
//! shell performs those as actions and reports back. Driving a client core
//! against a server core in memory, with a fake clock, is how the crate's
//! `tests/core_pair.rs` covers every mechanism and failure path.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use xmpp_sasl::MemoryStore;
//! use xmpp_stream::{client, server, Security};
//!
//! let store = MemoryStore::default();
//! store.add("juliet", "r0m30myr0m30", &["example.com"]).unwrap();
//! let config = Arc::new(server::ServerConfig::new("example.com", Arc::new(store)));
//! let (a, b) = tokio::io::duplex(4096);
//! let server = tokio::spawn(server::accept(a, config, Security::Cleartext, None));
//! let client = client::connect(
//!     b,
//!     client::ClientConfig::new("juliet@example.com/balcony", "r0m30myr0m30")?
//!         .with_tls(client::TlsMode::Off),
//!     None,
//! )
//! .await?;
//! assert_eq!(client.jid().as_str(), "juliet@example.com/balcony");
//! assert_eq!(server.await??.jid(), client.jid());
//! # Ok(()) }
//! ```

pub mod client;
mod condition;
mod conn;
#[cfg(feature = "tls")]
pub mod danger;
#[cfg(feature = "dns")]
pub mod dns;
mod error;
mod fixed;
mod ids;
mod negotiation;
mod observer;
mod registry;
mod sasl2;
pub mod server;
mod session;
pub mod sm;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
#[cfg(feature = "websocket")]
pub mod websocket;
mod wire;

/// The `jid` crate, whose [`jid::FullJid`] and [`jid::BareJid`] the API uses.
pub use jid;

pub use condition::{StanzaCondition, StreamCondition, UnknownCondition};
pub use error::{ClientError, ErrorKind, ServerError};
pub use negotiation::{ChannelBindings, Security, StreamInfo};
pub use observer::{Direction, Observed, Observer};
pub use session::{SessionError, XmppStream};
pub use transport::{Rewind, Transport};
pub use wire::{iq_error, iq_result, stanza_error};

/// The current time on tokio's clock (virtual when the clock is paused).
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
