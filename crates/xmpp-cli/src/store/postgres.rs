//! A `postgres://` store location: its connect options, with verified TLS
//! to a remote server by default, and its redaction for messages and logs.
//!
//! The account secrets cross the network to a remote PostgreSQL, and sqlx's
//! default (`prefer`) lets anyone on the path downgrade to plain text or
//! present any certificate. So unless the URL (`sslmode=`) or `PGSSLMODE`
//! says otherwise, a server that is not on this machine gets
//! `verify-full`: TLS, a certificate from the system's roots (or
//! `sslrootcert=`), for the host name. A Unix socket or loopback address
//! keeps sqlx's default.

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use url::Url;

use super::StoreError;

/// Whether `location` names a PostgreSQL store.
pub(super) fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The connect options for a `postgres://` URL. A password given as a
/// query parameter is applied here rather than by sqlx, which logs every
/// parameter it does not know, with its value.
pub(super) fn options(location: &str) -> Result<PgConnectOptions, StoreError> {
    let bad = |why: String| StoreError::Location(redact_url(location), why);
    let mut url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
    let mut password = None;
    let mut sslmode_given = false;
    let mut kept = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "password" => password = Some(value.into_owned()),
            k if is_secret(k) => {
                return Err(bad(format!(
                    "unsupported parameter {k:?} (a password goes in `password=` or the user info)"
                )))
            }
            k => {
                sslmode_given |= matches!(k, "sslmode" | "ssl-mode");
                kept.push((key.to_string(), value.to_string()));
            }
        }
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(&kept);
    }
    let mut opts = PgConnectOptions::from_str(url.as_str()).map_err(|e| bad(e.to_string()))?;
    if let Some(p) = &password {
        opts = opts.password(p);
    }
    let sslmode_given = sslmode_given || std::env::var_os("PGSSLMODE").is_some();
    if !sslmode_given && !is_local(&opts) {
        opts = opts.ssl_mode(PgSslMode::VerifyFull);
    }
    Ok(opts)
}

/// A Unix socket or a loopback host: nothing to protect on the way.
fn is_local(opts: &PgConnectOptions) -> bool {
    let host = opts.get_host();
    opts.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Query parameters that carry a secret (`password`, `sslpassword`, any
/// case).
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key.contains("token")
}

/// Whether a store location carries a secret (a PostgreSQL password, or a
/// URL we cannot parse, which may hide one).
pub fn carries_secret(location: &str) -> bool {
    if !is_postgres(location) {
        return false;
    }
    match Url::parse(location) {
        Ok(url) => url.password().is_some() || url.query_pairs().any(|(k, _)| is_secret(&k)),
        Err(_) => true,
    }
}

/// Hides every secret of a store location for messages and logs: the
/// password in the user info and in any `password`-like query parameter,
/// whatever its case. A file path is returned as it is; a URL that does
/// not parse is hidden but for its scheme.
pub fn redact_url(location: &str) -> String {
    let Some((scheme, _)) = location.split_once("://") else {
        return location.to_owned();
    };
    let Ok(mut url) = Url::parse(location) else {
        return format!("{scheme}://(unparsable URL hidden)");
    };
    if url.password().is_some() && url.set_password(Some("***")).is_err() {
        return format!("{scheme}://(URL hidden)");
    }
    if let Some(query) = url.query() {
        let redacted: Vec<Cow<'_, str>> = query
            .split('&')
            .map(|pair| {
                let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded = percent_decode(key);
                if is_secret(&decoded) {
                    Cow::Owned(format!("{key}=***"))
                } else {
                    Cow::Borrowed(pair)
                }
            })
            .collect();
        let redacted = redacted.join("&");
        url.set_query(Some(&redacted));
    }
    url.set_fragment(None);
    url.to_string()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_password_form() {
        for (url, want) in [
            (
                "postgres://xmpp:s3cret@db.example/xmpp",
                "postgres://xmpp:***@db.example/xmpp",
            ),
            (
                "postgres://xmpp@db.example/xmpp?password=s3cret&sslmode=require",
                "postgres://xmpp@db.example/xmpp?password=***&sslmode=require",
            ),
            (
                "postgresql://db.example/xmpp?user=x&PassWord=s3cret",
                "postgresql://db.example/xmpp?user=x&PassWord=***",
            ),
            (
                "postgres://db.example/xmpp?pass%77ord=s3cret&sslpassword=s3cret",
                "postgres://db.example/xmpp?pass%77ord=***&sslpassword=***",
            ),
            (
                "postgres://u:p%40ss@db.example/x?password=a&password=b#s3cret",
                "postgres://u:***@db.example/x?password=***&password=***",
            ),
            (
                "postgres://u:s3cret@db.exa mple:port/x",
                "postgres://(unparsable URL hidden)",
            ),
            ("/var/lib/xmpp/users.sqlite3", "/var/lib/xmpp/users.sqlite3"),
            ("sqlite:users.db?mode=rwc", "sqlite:users.db?mode=rwc"),
        ] {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
            assert!(!got.contains("s3cret"), "{got}");
        }
    }

    #[test]
    fn secrets_are_recognised() {
        assert!(carries_secret("postgres://u:p@h/x"));
        assert!(carries_secret("postgresql://u@h/x?PASSWORD=p"));
        assert!(!carries_secret("postgres://u@h/x?sslmode=verify-full"));
        assert!(!carries_secret("sqlite:///var/lib/x y/users.db"));
        assert!(!carries_secret("/home/u:p@h/users.db"));
    }

    #[test]
    fn remote_servers_get_verified_tls_unless_the_url_says_otherwise() {
        let mode = |url: &str| options(url).unwrap().get_ssl_mode();
        if std::env::var_os("PGSSLMODE").is_some() {
            return; // The environment says otherwise for every URL.
        }
        assert!(matches!(
            mode("postgres://u@db.example/x"),
            PgSslMode::VerifyFull
        ));
        assert!(matches!(
            mode("postgres://u@192.0.2.7/x"),
            PgSslMode::VerifyFull
        ));
        assert!(matches!(
            mode("postgres://u@db.example/x?sslmode=disable"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@db.example/x?sslmode=require"),
            PgSslMode::Require
        ));
        for local in [
            "postgres://u@127.0.0.1:5432/x",
            "postgres://u@localhost/x",
            "postgres://u@[::1]/x",
            "postgres:///x?host=/run/postgresql",
            "postgres://u@%2Frun%2Fpostgresql/x",
        ] {
            assert!(matches!(mode(local), PgSslMode::Prefer), "{local}");
        }
    }

    #[test]
    fn a_query_password_reaches_the_options_and_other_secrets_are_refused() {
        let opts = options("postgres://u@127.0.0.1/x?password=s3cret&sslmode=disable").unwrap();
        // The other parameters survive taking the password out.
        assert!(matches!(opts.get_ssl_mode(), PgSslMode::Disable));
        let err = options("postgres://u@127.0.0.1/x?Password=s3cret").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unsupported parameter \"Password\""), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}
