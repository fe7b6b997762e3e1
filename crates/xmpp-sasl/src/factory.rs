//! The one place that maps a [`Mechanism`] to its implementation, for each side.

use crate::client::{ClientCredentials, ClientMechanism};
use crate::crypto::ScramHash;
use crate::digest_md5::{DigestMd5Client, DigestMd5Server};
use crate::mechanism::Mechanism;
use crate::plain::{PlainClient, PlainServer};
use crate::scram::{ScramClient, ScramServer};
use crate::server::{ServerMechanism, ServerMechanismConfig};

/// Creates a client mechanism with CSPRNG nonces; `None` for a `-PLUS`
/// mechanism when `creds.channel_binding` is not
/// [`ClientChannelBinding::Use`](crate::ClientChannelBinding::Use), and for
/// the FAST token mechanisms ([`HtClient`](crate::HtClient) proves a token).
pub fn client_mechanism(
    mechanism: Mechanism,
    creds: ClientCredentials,
) -> Option<Box<dyn ClientMechanism>> {
    Some(match mechanism {
        Mechanism::ScramSha256Plus => Box::new(ScramClient::new_plus(ScramHash::Sha256, creds)?),
        Mechanism::ScramSha1Plus => Box::new(ScramClient::new_plus(ScramHash::Sha1, creds)?),
        Mechanism::ScramSha256 => Box::new(ScramClient::new(ScramHash::Sha256, creds)),
        Mechanism::ScramSha1 => Box::new(ScramClient::new(ScramHash::Sha1, creds)),
        Mechanism::DigestMd5 => Box::new(DigestMd5Client::new(creds)),
        Mechanism::Plain => Box::new(PlainClient::new(creds)),
        // A token, not a password: built with `HtClient::new`.
        _ => return None,
    })
}

/// Creates a server mechanism with CSPRNG nonces; `None` for a `-PLUS`
/// mechanism when `cfg.channel_bindings` is empty, and for the FAST token
/// mechanisms ([`HtServer`](crate::HtServer) checks stored tokens).
pub fn server_mechanism(
    mechanism: Mechanism,
    cfg: &ServerMechanismConfig,
) -> Option<Box<dyn ServerMechanism>> {
    server_mechanism_from(mechanism, cfg.clone())
}

/// [`server_mechanism`] taking the settings it keeps, for a caller that
/// builds them per exchange anyway (no copy).
pub fn server_mechanism_from(
    mechanism: Mechanism,
    cfg: ServerMechanismConfig,
) -> Option<Box<dyn ServerMechanism>> {
    Some(match mechanism {
        Mechanism::ScramSha256Plus => Box::new(ScramServer::new_plus(ScramHash::Sha256, cfg)?),
        Mechanism::ScramSha1Plus => Box::new(ScramServer::new_plus(ScramHash::Sha1, cfg)?),
        Mechanism::ScramSha256 => Box::new(ScramServer::new(ScramHash::Sha256, cfg)),
        Mechanism::ScramSha1 => Box::new(ScramServer::new(ScramHash::Sha1, cfg)),
        Mechanism::DigestMd5 => Box::new(DigestMd5Server::new(cfg)),
        Mechanism::Plain => Box::new(PlainServer::new(cfg)),
        // Verified against stored tokens by `HtServer`.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel_binding::{ChannelBinding, ChannelBindingType, ClientChannelBinding};

    #[test]
    fn every_mechanism_is_built_and_names_itself() {
        let cb = ChannelBinding::new(ChannelBindingType::TlsExporter, vec![1; 32]);
        let cfg = ServerMechanismConfig::new("h").with_channel_bindings(vec![cb.clone()]);
        for m in Mechanism::ALL {
            let c = ClientCredentials::new("u", "p", "h")
                .with_channel_binding(ClientChannelBinding::Use(cb.clone()));
            assert_eq!(client_mechanism(m, c).map(|c| c.name()), Some(m));
            assert_eq!(server_mechanism(m, &cfg).map(|s| s.name()), Some(m));
        }
    }
}
