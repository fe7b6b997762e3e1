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
pub(crate) const MIGRATIONS: &[Migration] = &[V1, ACCOUNT_NOTIFY, SERVER_KEYS];

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
