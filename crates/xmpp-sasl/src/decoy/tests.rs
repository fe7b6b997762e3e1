//! An unknown user, a known user with a wrong password and a known user
//! without a secret for the mechanism must look the same: same answers, same
//! number of round trips, and the same work (counted with
//! [`crate::crypto::probe`], which cannot flake the way a stopwatch can).

use super::*;
use crate::client::{ClientCredentials, ClientMechanism};
use crate::crypto::probe::{self, Work};
use crate::digest_md5::{DigestMd5Client, DigestMd5Server};
use crate::error::Condition;
use crate::plain::{PlainClient, PlainServer};
use crate::scram::{ScramClient, ScramServer};
use crate::server::{ServerMechanism, ServerMechanismConfig, ServerStep};
use crate::store::{StoredCredentials, DEFAULT_ITERATIONS};

const DOMAIN: &str = "example.com";

fn cfg() -> ServerMechanismConfig {
    ServerMechanismConfig::new(DOMAIN)
}

/// A real account's credentials (16-byte salts, like `StoredCredentials::derive`).
fn account(password: &str) -> StoredCredentials {
    StoredCredentials::derive_with(
        "juliet",
        password,
        &[DOMAIN],
        &[1; 16],
        &[2; 16],
        DEFAULT_ITERATIONS,
    )
}

/// What one attempt showed and cost.
#[derive(Debug, PartialEq)]
struct Attempt {
    /// The server's messages with nonces and salts replaced by their length.
    shape: Vec<String>,
    condition: Option<Condition>,
    work: Vec<Work>,
}

/// Runs `client` (password "r0m30myr0m30") against `server`, answering the
/// credential request with `found`, and records what the server did.
fn attempt(
    client: &mut dyn ClientMechanism,
    server: &mut dyn ServerMechanism,
    found: Option<StoredCredentials>,
) -> Attempt {
    let mut found = Some(found);
    let mut shape = Vec::new();
    probe::take();
    let mut work = Vec::new();
    // The client's own hashing is not the server's work: drop it.
    let mut client_step = |f: &mut dyn FnMut() -> Vec<u8>| {
        work.extend(probe::take());
        let out = f();
        probe::take();
        out
    };
    let initial = client.initial_response().ok().flatten();
    probe::take();
    let mut step = server.start(initial.as_deref());
    let condition = loop {
        step = match step {
            ServerStep::NeedCredentials { .. } => {
                shape.push("need".into());
                server.credentials(Ok(found.take().flatten()))
            }
            ServerStep::Challenge(c) => {
                shape.push(redact(&c));
                let r = client_step(&mut || client.respond(&c).unwrap_or_default());
                server.step(&r)
            }
            ServerStep::Success { .. } => break None,
            ServerStep::Failure(e) => break Some(e.condition()),
        };
    };
    work.extend(probe::take());
    Attempt {
        shape,
        condition,
        work,
    }
}

/// A challenge with random parts (nonces, salts) replaced by their length.
fn redact(c: &[u8]) -> String {
    String::from_utf8_lossy(c)
        .split(',')
        .map(|a| match a.split_once('=') {
            Some((k @ ("r" | "s" | "nonce"), v)) => format!("{k}=<{}>", v.len()),
            _ => a.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn creds() -> ClientCredentials {
    ClientCredentials::new("juliet", "r0m30myr0m30", DOMAIN)
}

/// The server-first message an unknown user gets from a fresh SCRAM server.
fn scram_server_first(hash: ScramHash, cfg: &ServerMechanismConfig, user: &str) -> String {
    let mut client = ScramClient::new(hash, ClientCredentials::new(user, "x", DOMAIN));
    let mut server = ScramServer::new(hash, cfg.clone());
    let first = client.initial_response().unwrap().unwrap();
    assert!(matches!(
        server.start(Some(&first)),
        ServerStep::NeedCredentials { .. }
    ));
    match server.credentials(Ok(None)) {
        ServerStep::Challenge(c) => {
            let c = String::from_utf8(c).unwrap();
            // Drop r=, keep s= and i=.
            c.split_once(',').unwrap().1.to_owned()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scram_salt_of_an_unknown_user_is_stable_across_connections() {
    let cfg = cfg();
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let a = scram_server_first(hash, &cfg, "nobody");
        let b = scram_server_first(hash, &cfg, "nobody");
        assert_eq!(a, b, "{hash:?}");
        assert!(a.ends_with(&format!(",i={DEFAULT_ITERATIONS}")), "{a}");
    }
}

#[test]
fn scram_unknown_user_and_wrong_password_look_and_cost_the_same() {
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let run = |found| {
            let mut c = ScramClient::with_nonce(hash, creds(), "cnonce");
            let mut s = ScramServer::with_nonce(hash, cfg(), "snonce");
            attempt(&mut c, &mut s, found)
        };
        let wrong = run(Some(account("wrong")));
        assert_eq!(wrong.condition, Some(Condition::NotAuthorized));
        assert_eq!(run(None), wrong, "unknown user, {hash:?}");
        let mut no_secret = account("wrong");
        no_secret.scram_sha1 = None;
        no_secret.scram_sha256 = None;
        assert_eq!(run(Some(no_secret)), wrong, "no SCRAM secret, {hash:?}");
    }
}

#[test]
fn plain_unknown_user_and_wrong_password_cost_one_pbkdf2_each() {
    let one_pbkdf2 = |a: &Attempt| {
        a.work
            .iter()
            .filter(|w| matches!(w, Work::Pbkdf2 { .. }))
            .copied()
            .collect::<Vec<_>>()
    };
    let run = |cfg: ServerMechanismConfig, found| {
        let mut c = PlainClient::new(creds());
        let mut s = PlainServer::new(cfg);
        attempt(&mut c, &mut s, found)
    };
    let expected = vec![Work::Pbkdf2 {
        hash: ScramHash::Sha256,
        iterations: DEFAULT_ITERATIONS,
        salt_len: 16,
    }];
    let mut cached = cfg();
    cached.plain_cache = Some(crate::Pbkdf2Cache::new(16));
    // Fill the cache with the right password, so wrong ones are misses on a warm cache.
    assert_eq!(
        run(cached.clone(), Some(account("r0m30myr0m30"))).condition,
        None
    );
    let mut no_secret = account("wrong");
    no_secret.scram_sha1 = None;
    no_secret.scram_sha256 = None;
    let wrong = run(cfg(), Some(account("wrong")));
    assert_eq!(wrong.condition, Some(Condition::NotAuthorized));
    assert_eq!(one_pbkdf2(&wrong), expected);
    for (what, a) in [
        ("unknown", run(cfg(), None)),
        ("no SCRAM secret", run(cfg(), Some(no_secret.clone()))),
        ("unknown, cache", run(cached.clone(), None)),
        ("wrong, cache", run(cached.clone(), Some(account("wrong")))),
        (
            "no SCRAM secret, cache",
            run(cached.clone(), Some(no_secret)),
        ),
    ] {
        assert_eq!(a.condition, wrong.condition, "{what}");
        assert_eq!(a.shape, wrong.shape, "{what}");
        assert_eq!(one_pbkdf2(&a), expected, "{what}");
    }
}

#[test]
fn digest_md5_unknown_user_and_wrong_password_look_and_cost_the_same() {
    let run = |found| {
        let mut c = DigestMd5Client::with_cnonce(creds(), "cnonce");
        let mut s = DigestMd5Server::with_nonce(cfg(), "snonce");
        attempt(&mut c, &mut s, found)
    };
    let wrong = run(Some(account("wrong")));
    assert_eq!(wrong.condition, Some(Condition::NotAuthorized));
    assert_eq!(run(None), wrong, "unknown user");
    let mut no_secret = account("wrong");
    no_secret.digest_md5.clear();
    assert_eq!(run(Some(no_secret)), wrong, "no DIGEST-MD5 secret");
    let other_realm =
        StoredCredentials::derive_with("juliet", "wrong", &["other"], &[1; 16], &[2; 16], 1);
    assert_eq!(run(Some(other_realm)), wrong, "secret for another realm");
}

/// `account-disabled` and `credentials-expired` are only told to someone who
/// proved the password; with a wrong one the account is just not-authorized.
#[test]
fn account_state_is_only_revealed_after_the_password() {
    for mechanism in crate::Mechanism::ALL.into_iter().filter(|m| !m.is_plus()) {
        for (disabled, expired) in [(true, false), (false, true)] {
            for (password, expect) in [
                ("wrong", Condition::NotAuthorized),
                (
                    "r0m30myr0m30",
                    if disabled {
                        Condition::AccountDisabled
                    } else {
                        Condition::CredentialsExpired
                    },
                ),
            ] {
                let mut found = account(password);
                found.disabled = disabled;
                found.expired = expired;
                let mut c = crate::client_mechanism(mechanism, creds()).unwrap();
                let mut s = crate::server_mechanism(mechanism, &cfg()).unwrap();
                let a = attempt(c.as_mut(), s.as_mut(), Some(found));
                assert_eq!(a.condition, Some(expect), "{mechanism} {password}");
            }
        }
    }
}

#[test]
fn scram_decoy_salts_depend_on_secret_domain_user_and_hash_only() {
    let with = |secret: [u8; 32], domain: &str| {
        let mut c = ServerMechanismConfig::new(domain);
        c.decoys = Decoys::new(ServerSecret::from_bytes(&secret));
        c
    };
    let a = with([1; 32], DOMAIN);
    let salt = |cfg: &ServerMechanismConfig, hash, user| scram_server_first(hash, cfg, user);
    let base = salt(&a, ScramHash::Sha256, "nobody");
    // The same secret loaded again (a restart, another node): the same salt.
    assert_eq!(
        salt(&with([1; 32], DOMAIN), ScramHash::Sha256, "nobody"),
        base
    );
    assert_ne!(
        salt(&with([2; 32], DOMAIN), ScramHash::Sha256, "nobody"),
        base
    );
    assert_ne!(
        salt(&with([1; 32], "example.net"), ScramHash::Sha256, "nobody"),
        base
    );
    assert_ne!(salt(&a, ScramHash::Sha256, "nobody2"), base);
    assert_ne!(salt(&a, ScramHash::Sha1, "nobody"), base);
    // A salt as long as a real account's, and the count new accounts get.
    let decoy = a.decoys.scram(ScramHash::Sha256, DOMAIN, "nobody");
    assert_eq!(decoy.salt.len(), SALT_LEN);
    assert_eq!(
        base,
        format!(
            "s={},i={DEFAULT_ITERATIONS}",
            crate::crypto::b64(&decoy.salt)
        )
    );
    let mut b = a.clone();
    b.decoys = b.decoys.with_iterations(10_000);
    assert!(salt(&b, ScramHash::Sha256, "nobody").ends_with(",i=10000"));
}

/// A store that files `Juliet` and `juliet` as one account shows one salt
/// for both; a decoy must too, or comparing the two tells it is a decoy.
#[test]
fn scram_decoy_follows_the_stores_account_names() {
    let mut cfg = cfg();
    cfg.decoys = cfg.decoys.with_account_key(|u| u.to_owned());
    assert_ne!(
        scram_server_first(ScramHash::Sha256, &cfg, "Nobody"),
        scram_server_first(ScramHash::Sha256, &cfg, "nobody")
    );
    cfg.decoys = cfg.decoys.with_account_key(|u| u.to_lowercase());
    assert_eq!(
        scram_server_first(ScramHash::Sha256, &cfg, "Nobody"),
        scram_server_first(ScramHash::Sha256, &cfg, "nobody")
    );
    // Nodeprep by default, the rule of MemoryStore and of binding: case folds.
    let cfg = ServerMechanismConfig::new(DOMAIN);
    assert_eq!(
        cfg.decoys.scram(ScramHash::Sha1, DOMAIN, "NoBody").salt,
        cfg.decoys.scram(ScramHash::Sha1, DOMAIN, "nobody").salt
    );
}

#[test]
fn digest_decoy_has_as_many_readings_as_an_account_with_an_ascii_password() {
    let decoys = Decoys::default();
    for user in ["juliet", "jüliet", "ju€liet"] {
        for realm in ["", "example.com", "exämple", "ex€mple"] {
            let real = DigestSecret::derive(user, realm, "r0m30myr0m30");
            let decoy = decoys.digest(DOMAIN, user, realm);
            assert_eq!(decoy.alt_ha1.len(), real.alt_ha1.len(), "{user} {realm}");
            assert_eq!(decoy.realm, realm);
            assert_ne!(decoy.ha1, real.ha1);
        }
    }
}

#[test]
fn only_plain_checking_a_password_derives_a_key() {
    let cfg = cfg();
    let mut plain = PlainServer::new(cfg.clone());
    assert!(!plain.derives_key());
    assert!(matches!(
        plain.start(Some(b"\0juliet\0pw")),
        ServerStep::NeedCredentials { .. }
    ));
    assert!(plain.derives_key());
    plain.credentials(Ok(None));
    assert!(!plain.derives_key());
    for m in crate::Mechanism::ALL.into_iter().filter(|m| !m.is_plus()) {
        if m == crate::Mechanism::Plain {
            continue;
        }
        let mut c = crate::client_mechanism(m, creds()).unwrap();
        let mut s = crate::server_mechanism(m, &cfg).unwrap();
        let initial = c.initial_response().unwrap();
        let mut step = s.start(initial.as_deref());
        // Through every step of an honest exchange, none derives.
        loop {
            assert!(!s.derives_key(), "{m}");
            step = match step {
                ServerStep::NeedCredentials { .. } => s.credentials(Ok(Some(account("pw")))),
                ServerStep::Challenge(ch) => s.step(&c.respond(&ch).unwrap()),
                _ => break,
            };
        }
    }
}

#[test]
fn the_server_secret_is_never_printed() {
    let s = ServerSecret::from_bytes(&[0xab; 32]);
    assert_eq!(*s.to_bytes(), [0xab; 32]);
    let mut cfg = cfg();
    cfg.decoys = Decoys::new(s);
    let shown = format!("{cfg:?}");
    assert!(shown.contains("ServerSecret(..)"), "{shown}");
    assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "));
}
