//! FAST tokens (XEP-0484) for `xmpp serve` until the account store keeps
//! them: in memory, one store per domain, lost at restart (clients then
//! log in with the password and get a new token).
//!
//! The library's server checks a token proof against the token store alone,
//! not against the account: a store must drop the tokens of an account that
//! is disabled, removed, expired or given a new password. The SQL store will
//! do it where the accounts are; this one looks the account up before
//! handing out its tokens, and drops them when the account is no longer
//! enabled or its SCRAM keys (hence its password) changed since they were
//! issued. Without it, `xmpp user disable` would end the sessions
//! (`revoke`) and the client would log straight back in with its token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use xmpp_sasl::{CredentialStore, FastToken, MemoryTokenStore, StoreError, TokenStore};

use crate::store::DomainStore;

/// Tokens in memory, valid while their account is enabled and keeps its
/// password.
pub struct AccountTokens {
    tokens: MemoryTokenStore,
    accounts: Arc<DomainStore>,
    /// The SCRAM keys each user had when its tokens were issued.
    keys: Mutex<HashMap<String, Vec<u8>>>,
}

impl AccountTokens {
    /// An empty store for the accounts of `accounts`' domain.
    pub fn new(accounts: Arc<DomainStore>) -> Self {
        AccountTokens {
            tokens: MemoryTokenStore::new(),
            accounts,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The account's SCRAM keys, if it may log in.
    async fn current_keys(&self, username: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(creds) = self.accounts.lookup(username).await? else {
            return Ok(None);
        };
        if creds.disabled || creds.expired {
            return Ok(None);
        }
        let mut keys = Vec::new();
        for s in [&creds.scram_sha256, &creds.scram_sha1]
            .into_iter()
            .flatten()
        {
            keys.extend_from_slice(&s.salt);
            keys.extend_from_slice(&s.stored_key);
        }
        Ok(Some(keys))
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl TokenStore for AccountTokens {
    async fn tokens(&self, username: &str, user_agent: &str) -> Result<Vec<FastToken>, StoreError> {
        let current = self.current_keys(username).await?;
        let valid = {
            let keys = self.keys();
            match (&current, keys.get(username)) {
                (Some(now), Some(then)) => now == then,
                _ => false,
            }
        };
        if !valid {
            self.revoke_user(username).await?;
            return Ok(Vec::new());
        }
        self.tokens.tokens(username, user_agent).await
    }

    async fn issue(
        &self,
        username: &str,
        user_agent: &str,
        token: FastToken,
    ) -> Result<(), StoreError> {
        let Some(current) = self.current_keys(username).await? else {
            return Err(StoreError::msg("the account cannot log in"));
        };
        let changed = self
            .keys()
            .insert(username.to_owned(), current.clone())
            .is_some_and(|then| then != current);
        if changed {
            // A new password: the tokens issued under the old one go.
            self.tokens.revoke_user(username).await?;
        }
        self.tokens.issue(username, user_agent, token).await
    }

    async fn used(
        &self,
        username: &str,
        user_agent: &str,
        used: &FastToken,
        count: Option<u64>,
    ) -> Result<(), StoreError> {
        self.tokens.used(username, user_agent, used, count).await
    }

    async fn invalidate(&self, username: &str, user_agent: &str) -> Result<(), StoreError> {
        self.tokens.invalidate(username, user_agent).await
    }

    async fn revoke_user(&self, username: &str) -> Result<(), StoreError> {
        self.keys().remove(username);
        self.tokens.revoke_user(username).await
    }
}
