//! The schema, as ordered migrations applied automatically when a store is
//! opened. Each statement is idempotent (`IF NOT EXISTS`) so that two
//! processes racing to migrate the same fresh database both succeed.

/// One schema version: its number and the statements that create it.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) sqlite: &'static [&'static str],
    pub(crate) postgres: &'static [&'static str],
}

/// Bookkeeping table: which migrations were applied.
pub(crate) const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS xmpp_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Every migration, oldest first. Never edit an applied one: add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    V1,
    ACCOUNT_NOTIFY,
    SERVER_KEYS,
    FAST_TOKENS,
    FAST_TOKENS_NOTIFY,
];

/// The accounts and their DIGEST-MD5 secrets.
const V1: Migration = Migration {
    version: 1,
    sqlite: &[
        "CREATE TABLE IF NOT EXISTS xmpp_users (
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE,
            expired BOOLEAN NOT NULL DEFAULT FALSE,
            scram_sha1_salt BLOB,
            scram_sha1_iterations INTEGER,
            scram_sha1_stored_key BLOB,
            scram_sha1_server_key BLOB,
            scram_sha256_salt BLOB,
            scram_sha256_iterations INTEGER,
            scram_sha256_stored_key BLOB,
            scram_sha256_server_key BLOB,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (domain, username)
        )",
        "CREATE TABLE IF NOT EXISTS xmpp_digest_md5 (
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            realm TEXT NOT NULL,
            ha1 BLOB NOT NULL,
            alt_ha1 BLOB NOT NULL,
            PRIMARY KEY (domain, username, realm),
            FOREIGN KEY (domain, username) REFERENCES xmpp_users (domain, username) ON DELETE CASCADE
        )",
    ],
    postgres: &[
        "CREATE TABLE IF NOT EXISTS xmpp_users (
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE,
            expired BOOLEAN NOT NULL DEFAULT FALSE,
            scram_sha1_salt BYTEA,
            scram_sha1_iterations INTEGER,
            scram_sha1_stored_key BYTEA,
            scram_sha1_server_key BYTEA,
            scram_sha256_salt BYTEA,
            scram_sha256_iterations INTEGER,
            scram_sha256_stored_key BYTEA,
            scram_sha256_server_key BYTEA,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (domain, username)
        )",
        "CREATE TABLE IF NOT EXISTS xmpp_digest_md5 (
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            realm TEXT NOT NULL,
            ha1 BYTEA NOT NULL,
            alt_ha1 BYTEA NOT NULL,
            PRIMARY KEY (domain, username, realm),
            FOREIGN KEY (domain, username) REFERENCES xmpp_users (domain, username) ON DELETE CASCADE
        )",
    ],
};

/// The PostgreSQL channel on which every change of an account is notified,
/// with `username@domain` as payload (see [`ACCOUNT_NOTIFY`]).
pub(crate) const ACCOUNT_CHANNEL: &str = "xmpp_account_changed";

/// Version 2, PostgreSQL only: a trigger notifies [`ACCOUNT_CHANNEL`] when
/// an account is created, updated or deleted, whoever writes (`xmpp user` of
/// any version, or SQL by hand), so that every server node sharing the
/// database drops its cached copy (a cached miss too, so a new account works
/// at once) and ends the sessions of a disabled or removed account at once.
/// SQLite servers watch the database file instead.
const ACCOUNT_NOTIFY: Migration = Migration {
    version: 2,
    sqlite: &[],
    postgres: &[
        "CREATE OR REPLACE FUNCTION xmpp_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_OP = 'INSERT' THEN
                 PERFORM pg_notify('xmpp_account_changed', NEW.username || '@' || NEW.domain);
             ELSE
                 PERFORM pg_notify('xmpp_account_changed', OLD.username || '@' || OLD.domain);
             END IF;
             RETURN NULL;
         END $$",
        "DROP TRIGGER IF EXISTS xmpp_account_changed ON xmpp_users",
        "CREATE TRIGGER xmpp_account_changed AFTER INSERT OR UPDATE OR DELETE ON xmpp_users
         FOR EACH ROW EXECUTE FUNCTION xmpp_account_changed()",
    ],
};

/// Server-wide keys (the SASL decoys' secret, `secret.rs`), one row each.
/// (Not named "secret": `tests/cli.rs` checks that the database file never
/// holds that word, which is its test account's password.)
const SERVER_KEYS: Migration = Migration {
    version: 3,
    sqlite: &["CREATE TABLE IF NOT EXISTS xmpp_server_keys (
            name TEXT PRIMARY KEY,
            material BLOB NOT NULL,
            created_at BIGINT NOT NULL
        )"],
    postgres: &["CREATE TABLE IF NOT EXISTS xmpp_server_keys (
            name TEXT PRIMARY KEY,
            material BYTEA NOT NULL,
            created_at BIGINT NOT NULL
        )"],
};

/// Version 4: FAST tokens (XEP-0484), see `tokens.rs`. One row per token,
/// at most two per user agent (the `new` slot: `used_at IS NULL`; the
/// `current` one: the used row with the highest `last_active`) and at most
/// [`MAX_USER_AGENTS`](super::tokens::MAX_USER_AGENTS) user agents per account.
///
/// - `id`: the issue order (newest first is `ORDER BY id DESC`).
/// - `domain`, `username`: the account (prepared localpart, as in
///   `xmpp_users`); its removal cascades here (and `remove` deletes the rows
///   itself too).
/// - `user_agent`: the client's user-agent id, 1 to
///   [`MAX_USER_AGENT_LEN`](super::tokens::MAX_USER_AGENT_LEN) bytes.
/// - `token`: the token string, **in usable form**: it is the HMAC key the
///   `HT-*` proof is checked with, so unlike a password it cannot be stored
///   hashed. Whoever reads the table can log in as its users until the
///   tokens expire or are revoked, like with the SCRAM keys; it is never
///   logged.
/// - `mechanism`: the `HT-*` mechanism it was issued for, by name.
/// - `expires_at`, `issued_at`, `used_at`: unix seconds; `used_at` is NULL
///   until the token is first used.
/// - `last_count`: the highest XEP-0484 `count` seen with it.
/// - `last_active`: a per-account sequence number, bumped by each issue or
///   use, that orders user agents for eviction (seconds are too coarse).
///
/// The index on `(domain, username, user_agent)` serves every lookup (by
/// account, or by account and user agent) and the foreign key's cascade.
/// (No word "secret" in this SQL: `tests/cli.rs` checks the file for it.)
const FAST_TOKENS: Migration = Migration {
    version: 4,
    sqlite: &[
        "CREATE TABLE IF NOT EXISTS xmpp_fast_tokens (
            id INTEGER PRIMARY KEY,
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            user_agent TEXT NOT NULL CHECK (length(user_agent) BETWEEN 1 AND 256),
            token TEXT NOT NULL,
            mechanism TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            last_count BIGINT,
            issued_at BIGINT NOT NULL,
            used_at BIGINT,
            last_active BIGINT NOT NULL,
            FOREIGN KEY (domain, username) REFERENCES xmpp_users (domain, username) ON DELETE CASCADE
        )",
        "CREATE INDEX IF NOT EXISTS xmpp_fast_tokens_owner
            ON xmpp_fast_tokens (domain, username, user_agent)",
    ],
    postgres: &[
        "CREATE TABLE IF NOT EXISTS xmpp_fast_tokens (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            user_agent TEXT NOT NULL CHECK (length(user_agent) BETWEEN 1 AND 256),
            token TEXT NOT NULL,
            mechanism TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            last_count BIGINT,
            issued_at BIGINT NOT NULL,
            used_at BIGINT,
            last_active BIGINT NOT NULL,
            FOREIGN KEY (domain, username) REFERENCES xmpp_users (domain, username) ON DELETE CASCADE
        )",
        "CREATE INDEX IF NOT EXISTS xmpp_fast_tokens_owner
            ON xmpp_fast_tokens (domain, username, user_agent)",
    ],
};

/// The PostgreSQL channel on which every change of an account's FAST tokens
/// is notified, with `username@domain` as payload (see
/// [`FAST_TOKENS_NOTIFY`]). Not [`ACCOUNT_CHANNEL`]: a server ends the
/// sessions of accounts notified there after re-reading them, which a token
/// issued or used (at most logins with a password, and at each token's
/// first use) does not call for.
pub(crate) const TOKEN_CHANNEL: &str = "xmpp_fast_tokens_changed";

/// Version 5, PostgreSQL only: a trigger notifies [`TOKEN_CHANNEL`] when a
/// FAST token is issued, used, revoked or purged, whoever writes (another
/// node, `xmpp user` of any version, SQL by hand), so that every server
/// node sharing the database drops the tokens it cached for that account
/// (`cache.rs`): a token revoked or replaced on one node is refused by the
/// others once notified. Deletions cascading from `xmpp_users` are
/// notified too. PostgreSQL sends one notification per transaction and
/// payload however many rows changed. SQLite servers watch the database
/// file instead.
const FAST_TOKENS_NOTIFY: Migration = Migration {
    version: 5,
    sqlite: &[],
    postgres: &[
        "CREATE OR REPLACE FUNCTION xmpp_fast_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_OP <> 'DELETE' THEN
                 PERFORM pg_notify('xmpp_fast_tokens_changed', NEW.username || '@' || NEW.domain);
             END IF;
             IF TG_OP <> 'INSERT' THEN
                 PERFORM pg_notify('xmpp_fast_tokens_changed', OLD.username || '@' || OLD.domain);
             END IF;
             RETURN NULL;
         END $$",
        "DROP TRIGGER IF EXISTS xmpp_fast_tokens_changed ON xmpp_fast_tokens",
        "CREATE TRIGGER xmpp_fast_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON xmpp_fast_tokens
         FOR EACH ROW EXECUTE FUNCTION xmpp_fast_tokens_changed()",
    ],
};
