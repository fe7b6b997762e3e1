//! Sans-IO SASL mechanisms for XMPP: DIGEST-MD5 (RFC 2831), PLAIN (RFC 4616),
//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), client and server, and their
//! channel-binding `-PLUS` variants (tls-exporter, RFC 9266; tls-server-end-point,
//! RFC 5929) when the stream layer supplies [`ChannelBinding`] data.
//!
//! Mechanisms take decoded bytes and return decoded bytes; base64 and XML are the
//! stream layer's job. Nothing here does I/O, reads a clock or needs a runtime:
//! nonces come from the OS CSPRNG and can be injected for tests
//! (`with_nonce` / `with_cnonce` constructors). The server side never touches the
//! credential store itself: it asks for credentials with
//! [`ServerStep::NeedCredentials`] and the driver answers with
//! [`ServerMechanism::credentials`].
//!
//! Every server failure is a [`ServerError`] whose cause maps to exactly one
//! RFC 6120 §6.5 [`Condition`]; [`ErrorKind`] tells a malformed message from a
//! protocol violation from a wrong credential.
//!
//! # Example: a client and a server in memory
//!
//! ```
//! use xmpp_sasl::*;
//!
//! let store = MemoryStore::new();
//! store.add("juliet", "r0m30myr0m30", &["example.com"]);
//!
//! let cfg = ServerMechanismConfig::new("example.com");
//! let offered: Vec<String> = ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1"].map(String::from).into();
//! let selector = MechanismSelector::default();
//! let name = selector.select(&offered, false, &[]).unwrap();
//! assert_eq!(name, "SCRAM-SHA-1"); // PLAIN is never picked on an unprotected stream
//!
//! let creds = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com");
//! let mut client = client_mechanism(name, creds).unwrap();
//! let mut server = server_mechanism(name, &cfg).unwrap();
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

mod cache;
mod channel_binding;
mod client;
mod crypto;
mod digest_md5;
mod directives;
mod error;
mod mutual_auth;
mod plain;
mod scram;
mod server;
mod store;
mod transcript;

pub use cache::Pbkdf2Cache;
pub use channel_binding::{ChannelBinding, ChannelBindingType, ClientChannelBinding};
pub use client::{
    client_mechanism, ClientCredentials, ClientMechanism, MechanismSelector, SUPPORTED_MECHANISMS,
};
pub use crypto::ScramHash;
pub use digest_md5::{DigestMd5Client, DigestMd5Server};
pub use error::{ClientError, Condition, ErrorKind, ServerError, ServerFailure, StoreError};
pub use plain::{PlainClient, PlainServer};
pub use scram::{ScramClient, ScramServer};
pub use server::{
    offered_on_insecure, server_mechanism, Authorizer, DenyAll, ServerMechanism,
    ServerMechanismConfig, ServerStep,
};
pub use store::{
    CredentialStore, DigestSecret, MemoryStore, ScramSecret, StoredCredentials, DEFAULT_ITERATIONS,
};
pub use transcript::describe_payload;
