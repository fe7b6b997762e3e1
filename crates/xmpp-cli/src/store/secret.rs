//! The store's server secret: the key the SASL decoys for unknown users are
//! derived from ([`xmpp_sasl::Decoys`]). It lives in the store, so that every
//! server node sharing the store, and every restart, shows an unknown user
//! the same SCRAM salt, as a real account's salt never changes either.

use sqlx::Row as _;
use xmpp_sasl::ServerSecret;
use zeroize::Zeroizing;

use super::{now, Pool, SqlStore, StoreError};

/// The secret's row: one per store, whatever domains it holds (the decoys
/// mix the domain in).
const NAME: &str = "sasl-decoys";

impl SqlStore {
    /// The store's decoy secret, created at first use. Concurrent first uses
    /// (several nodes starting on one PostgreSQL database) all get the one
    /// that was inserted first.
    pub async fn decoy_secret(&self) -> Result<ServerSecret, StoreError> {
        let fresh = ServerSecret::random().to_bytes();
        let stored: Zeroizing<Vec<u8>> = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO xmpp_server_keys (name, material, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(NAME)
            .bind(&fresh[..])
            .bind(now())
            .execute(pool)
            .await?;
            let row = sqlx::query("SELECT material FROM xmpp_server_keys WHERE name = $1")
                .bind(NAME)
                .fetch_one(pool)
                .await?;
            Zeroizing::new(row.try_get(0)?)
        });
        let bytes: Zeroizing<[u8; ServerSecret::LEN]> =
            Zeroizing::new(stored.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(NAME.to_owned(), "server secret is not 32 bytes")
            })?);
        Ok(ServerSecret::from_bytes(&bytes))
    }
}
