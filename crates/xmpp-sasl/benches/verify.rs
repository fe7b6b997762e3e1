//! Criterion benches: server-side verification of one authentication per mechanism
//! (SCRAM at 4096 iterations), plus the client side and credential derivation
//! for comparison. PBKDF2 dominates wherever it runs: in PLAIN verification (the
//! server derives the salted password from the offered one) and in the SCRAM
//! client; SCRAM server verification is a handful of HMACs.
//!
//! `cargo bench -p xmpp-sasl --bench verify`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use xmpp_sasl::*;

fn stored() -> StoredCredentials {
    StoredCredentials::derive_with(
        "somenode",
        "secret",
        &["example.com"],
        b"saltsaltsalt",
        b"saltsaltsalt",
        4096,
    )
}

fn creds() -> ClientCredentials {
    ClientCredentials::new("somenode", "secret", "example.com")
}

fn server_verify(c: &mut Criterion) {
    let cfg = ServerMechanismConfig::new("example.com");
    let sc = stored();

    // DIGEST-MD5: a fixed response for a fixed nonce.
    let challenge = {
        let mut s = DigestMd5Server::with_nonce(cfg.clone(), "abcNONCE");
        match s.start(None) {
            ServerStep::Challenge(c) => c,
            _ => unreachable!(),
        }
    };
    let response = DigestMd5Client::with_cnonce(creds(), "cn0nce")
        .respond(&challenge)
        .unwrap();
    c.bench_function("server_verify/DIGEST-MD5", |b| {
        b.iter(|| {
            let mut s = DigestMd5Server::with_nonce(cfg.clone(), "abcNONCE");
            s.start(None);
            s.step(black_box(&response));
            let step = s.credentials(Ok(Some(sc.clone())));
            assert!(matches!(step, ServerStep::Challenge(_)));
        })
    });

    c.bench_function("server_verify/PLAIN (PBKDF2-SHA-256, 4096)", |b| {
        b.iter(|| {
            let mut s = PlainServer::new(cfg.clone());
            s.start(Some(black_box(b"\0somenode\0secret")));
            let step = s.credentials(Ok(Some(sc.clone())));
            assert!(matches!(step, ServerStep::Success { .. }));
        })
    });

    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let mut client = ScramClient::with_nonce(hash, creds(), "clientNONCE");
        let first = client.initial_response().unwrap().unwrap();
        let mut s = ScramServer::with_nonce(hash, cfg.clone(), "serverNONCE");
        s.start(Some(&first));
        let ServerStep::Challenge(server_first) = s.credentials(Ok(Some(sc.clone()))) else {
            unreachable!()
        };
        let fin = client.respond(&server_first).unwrap();
        c.bench_function(&format!("server_verify/{} (4096)", hash.mechanism()), |b| {
            b.iter(|| {
                let mut s = ScramServer::with_nonce(hash, cfg.clone(), "serverNONCE");
                s.start(Some(black_box(&first)));
                s.credentials(Ok(Some(sc.clone())));
                let step = s.step(black_box(&fin));
                assert!(matches!(step, ServerStep::Success { .. }));
            })
        });
        c.bench_function(
            &format!("client_final/{} (PBKDF2, 4096)", hash.mechanism()),
            |b| {
                b.iter(|| {
                    let mut client = ScramClient::with_nonce(hash, creds(), "clientNONCE");
                    client.initial_response().unwrap();
                    black_box(client.respond(&server_first).unwrap());
                })
            },
        );
    }

    c.bench_function("derive/StoredCredentials (2x PBKDF2, 4096)", |b| {
        b.iter(|| {
            black_box(StoredCredentials::derive(
                "somenode",
                "secret",
                &["example.com"],
            ))
        })
    });
}

criterion_group!(benches, server_verify);
criterion_main!(benches);
