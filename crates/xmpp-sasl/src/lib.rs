//! Sans-IO SASL mechanisms for XMPP: DIGEST-MD5 (RFC 2831), PLAIN (RFC 4616),
//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), client and server, and their
//! channel-binding `-PLUS` variants (tls-exporter, RFC 9266; tls-server-end-point,
//! RFC 5929) when the stream layer supplies [`ChannelBinding`] data.
//!
//! Mechanisms take decoded bytes and return decoded bytes; base64 and XML are the
//! stream layer's job. Nothing here does I/O, reads a clock or needs a runtime:
//! nonces come from a CSPRNG (`rand`'s `ThreadRng`, seeded from the OS) and can
//! be injected for tests (`with_nonce` / `with_cnonce` constructors). The server side never touches the
//! credential store itself: it asks for credentials with
//! [`ServerStep::NeedCredentials`] and the driver answers with
//! [`ServerMechanism::credentials`].
//!
//! A user the store does not know, or who has no secret for the chosen
//! mechanism, is verified against a decoy ([`Decoys`], keyed by a
//! [`ServerSecret`]): the same answer, round trips and work as a known user
//! with a wrong password, and for SCRAM a salt that never changes. A server
//! should persist the secret (the default is random per process).
//!
//! Every server failure is a [`ServerError`] whose cause maps to exactly one
//! RFC 6120 §6.5 [`Condition`]; [`ErrorKind`] tells a malformed message from a
//! protocol violation from a wrong credential.
//!
//! Names are typed: a [`Mechanism`] is one this crate implements, with the
//! policy the stream layer needs ([`Mechanism::is_plus`],
//! [`Mechanism::needs_secure_channel`], [`Mechanism::DEFAULT_OFFER`]); a
//! [`MechanismName`] is whatever a peer sent, kept as sent when we do not
//! know it. [`client_mechanism`] and [`server_mechanism`] build one by name,
//! [`MechanismSelector`] picks one from a server's offer.
//!
//! # Example: a client and a server in memory
//!
//! ```
//! use xmpp_sasl::*;
//!
//! let store = MemoryStore::new();
//! store.add("juliet", "r0m30myr0m30", &["example.com"]).unwrap();
//!
//! let cfg = ServerMechanismConfig::new("example.com");
//! // <mechanism/> texts from the server's features; names we lack are kept.
//! let offered: Vec<MechanismName> =
//!     ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "X-OAUTH2"].map(MechanismName::from).into();
//! let selector = MechanismSelector::default();
//! let mechanism = selector.select(&offered, false, &[]).unwrap();
//! assert_eq!(mechanism, Mechanism::ScramSha1); // PLAIN is never picked on an unprotected stream
//!
//! let creds = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com");
//! let mut client = client_mechanism(mechanism, creds).unwrap();
//! let mut server = server_mechanism(mechanism, &cfg).unwrap();
//!
//! // <auth mechanism=NAME>initial response</auth>
//! let initial = client.initial_response().unwrap();
//! let mut step = server.start(initial.as_deref());
//! let identity = loop {
//!     step = match step {
//!         // A real server awaits `CredentialStore::lookup` here.
//!         ServerStep::NeedCredentials { username } => server.credentials(Ok(store.get(&username))),
//!         ServerStep::Challenge(c) => {
//!             let r = client.respond(&c).unwrap(); // <challenge/> -> <response/>
//!             server.step(&r)
//!         }
//!         ServerStep::Success { authcid, authzid, additional } => {
//!             client.success(additional.as_deref()).unwrap(); // verifies the server's proof
//!             break (authcid, authzid);
//!         }
//!         ServerStep::Failure(e) => panic!("<failure><{}/></failure>", e.condition()),
//!     };
//! };
//! assert_eq!(identity, ("juliet".to_string(), None));
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

// The modules in layers: each imports only from the groups above its own, so
// that no mechanism depends on the code that picks it.
//
// Leaves: names, errors, DIGEST-MD5's directive syntax.
mod directives;
mod error;
mod mechanism;

// Hashes, nonces, string preparation.
mod crypto;

// Built on those: the PBKDF2 cache, channel-binding data, the shared
// mutual-authentication finish, transcripts.
mod cache;
mod channel_binding;
mod mutual_auth;
mod ssdp;
mod transcript;

// Stored credentials, keyed by the prepared username, and the decoys
// verified when there are none.
mod decoy;
mod store;
mod username;

// The traits, step types and settings every mechanism implements or takes.
mod client;
mod server;

// The mechanisms.
mod digest_md5;
mod fast;
mod plain;
mod scram;

// Picking a mechanism: by name (factories), from an offer (selector).
mod factory;
mod select;

pub use cache::Pbkdf2Cache;
pub use channel_binding::{ChannelBinding, ChannelBindingType, ClientChannelBinding};
pub use client::{ClientCredentials, ClientMechanism};
pub use crypto::ScramHash;
pub use decoy::{Decoys, ServerSecret};
pub use digest_md5::{DigestMd5Client, DigestMd5Server};
pub use error::{ClientError, Condition, ErrorKind, ServerError, ServerFailure, StoreError};
pub use factory::{client_mechanism, server_mechanism, server_mechanism_from};
pub use fast::{FastToken, HtClient, HtServer, HtVerified, MemoryTokenStore, TokenStore};
pub use mechanism::{Mechanism, MechanismName, UnknownMechanism};
pub use plain::{PlainClient, PlainServer};
pub use scram::{ScramClient, ScramServer};
pub use select::MechanismSelector;
pub use server::{Authorizer, DenyAll, ServerMechanism, ServerMechanismConfig, ServerStep};
pub use ssdp::Ssdp;
pub use store::{
    CredentialStore, DigestSecret, MemoryStore, ScramSecret, StoredCredentials, DEFAULT_ITERATIONS,
};
pub use transcript::{carries_password, describe_payload};
pub use username::{prepare_username, InvalidUsername};
