//! One test per peer configuration: `xmpp probe --server` against it, checked against
//! what its config file makes it offer (each expectation names the line).

use super::*;

// ---- ejabberd 23.01: interop/ejabberd/ejabberd.yml -------------------------------------

/// After TLS on both TLS listeners: `auth_password_format: plain` and only X-OAUTH2 in
/// `disable_sasl_mechanisms` give DIGEST-MD5, PLAIN and every SCRAM; p1_xmpp 1.6.1 adds the
/// -PLUS variants (tls-unique only) without XEP-0440, and 23.01 has no SASL2.
fn ejabberd2301_after_tls() -> Features {
    Features {
        starttls: None,
        mechanisms: &[
            "DIGEST-MD5",
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-512",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-512-PLUS",
        ],
        channel_binding: None,
        sasl2: None,
        register: false,
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2301_without_tls() {
    // Listener @C2S_PORT@: `starttls: false` -> no <starttls/>; every mechanism in the clear.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD",
        direct_tls: false,
        cert: None,
        versions: BOTH,
        before: Some(Features {
            starttls: None,
            mechanisms: &[
                "DIGEST-MD5",
                "PLAIN",
                "SCRAM-SHA-1",
                "SCRAM-SHA-256",
                "SCRAM-SHA-512",
            ],
            ..ejabberd2301_after_tls()
        }),
        after: None,
        exit: 1,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2301_starttls_required() {
    // Listener @TLS_PORT@: `starttls_required: true` -> only <starttls><required/>.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD_TLS",
        direct_tls: false,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(true),
            mechanisms: &[],
            ..ejabberd2301_after_tls()
        }),
        after: Some(ejabberd2301_after_tls()),
        exit: 0,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2301_direct_tls() {
    // Listener @DIRECT_TLS_PORT@: `tls: true`.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD_DIRECT_TLS",
        direct_tls: true,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: None,
        after: Some(ejabberd2301_after_tls()),
        exit: 0,
    });
}

// ---- Prosody 0.12: interop/prosody/*.cfg.lua ---------------------------------------------

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody012_without_tls() {
    // prosody.cfg.lua: "tls" in modules_disabled -> no <starttls/>;
    // allow_unencrypted_plain_auth = true + internal_plain -> PLAIN, SCRAM-SHA-1/256.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY",
        direct_tls: false,
        cert: None,
        versions: BOTH,
        before: Some(Features {
            starttls: None,
            mechanisms: &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        after: None,
        exit: 1,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody012_starttls_required_hashed_storage() {
    // prosody-tls.cfg.lua: c2s_require_encryption = true -> only <starttls><required/>;
    // internal_hashed (0.12: SCRAM-SHA-1 keys only) -> PLAIN, SCRAM-SHA-1, no SCRAM-SHA-256;
    // its -PLUS needs tls-unique, withdrawn on TLS 1.3.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY_TLS",
        direct_tls: false,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(true),
            mechanisms: &[],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        after: Some(Features {
            starttls: None,
            mechanisms: &["PLAIN", "SCRAM-SHA-1"],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        exit: 0,
    });
}

/// prosody-expired.cfg.lua after TLS: protocol = "tlsv1_2" (so tls-unique exists) and
/// internal_plain -> PLAIN, SCRAM-SHA-1/256 and their -PLUS; no XEP-0440 in 0.12.
fn prosody012_expired_after_tls() -> Features {
    Features {
        starttls: None,
        mechanisms: &[
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
        ],
        channel_binding: None,
        sasl2: None,
        register: false,
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody012_expired_certificate_starttls_optional() {
    // prosody-expired.cfg.lua: c2s_require_encryption = false -> <starttls/> not required;
    // allow_unencrypted_plain_auth = false -> SCRAM only before TLS; the certificate
    // (expired.example.com.crt) ran out before the start; protocol = "tlsv1_2".
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY_EXPIRED",
        direct_tls: false,
        cert: Some(Cert::Expired),
        versions: (true, false),
        before: Some(Features {
            starttls: Some(false),
            mechanisms: &["SCRAM-SHA-1", "SCRAM-SHA-256"],
            ..prosody012_expired_after_tls()
        }),
        after: Some(prosody012_expired_after_tls()),
        exit: 1,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody012_expired_certificate_direct_tls() {
    // prosody-expired.cfg.lua: c2s_direct_tls_ports, same certificate and protocol.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY_EXPIRED_DIRECT_TLS",
        direct_tls: true,
        cert: Some(Cert::Expired),
        versions: (true, false),
        before: None,
        after: Some(prosody012_expired_after_tls()),
        exit: 1,
    });
}

// ---- Prosody 13: interop/prosody13/*.cfg.lua ---------------------------------------------

/// prosody.cfg.lua after TLS: internal_hashed + password_hash = "SHA-256" -> SCRAM-SHA-256
/// (+ -PLUS with tls_server_end_point_hash), PLAIN, OAUTHBEARER (core in 13), no SCRAM-SHA-1;
/// "sasl2" "sasl2_bind2" "sasl2_fast" "sasl2_sm" + "smacks" -> SASL2, Bind2 with sm:3, FAST
/// (NONE, and EXPR on TLS 1.3: Prosody has no ENDP), `<sm>` inline.
fn prosody13_after_tls() -> Features {
    const MECHS: &[&str] = &[
        "OAUTHBEARER",
        "PLAIN",
        "SCRAM-SHA-256",
        "SCRAM-SHA-256-PLUS",
    ];
    Features {
        starttls: None,
        mechanisms: MECHS,
        channel_binding: Some(CB_13),
        sasl2: Some(Sasl2 {
            mechanisms: MECHS,
            fast: &["HT-SHA-256-NONE", "HT-SHA-256-EXPR"],
            sm: true,
        }),
        register: false,
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody13_starttls_optional() {
    // prosody.cfg.lua: c2s_require_encryption = false -> <starttls/> not required;
    // allow_unencrypted_plain_auth = true -> PLAIN (and SASL2) before TLS too.
    const BEFORE: &[&str] = &["OAUTHBEARER", "PLAIN", "SCRAM-SHA-256"];
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY13",
        direct_tls: false,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(false),
            mechanisms: BEFORE,
            channel_binding: None,
            sasl2: Some(Sasl2 {
                mechanisms: BEFORE,
                // "sasl2_fast" lists <fast> only to a header with `from`, which the
                // probe sends over TLS only.
                fast: &[],
                sm: true,
            }),
            register: false,
        }),
        after: Some(prosody13_after_tls()),
        exit: 1,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody13_direct_tls() {
    // prosody.cfg.lua: c2s_direct_tls_ports.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY13_DIRECT_TLS",
        direct_tls: true,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: None,
        after: Some(prosody13_after_tls()),
        exit: 0,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn prosody13_wrong_name_certificate_starttls_required() {
    // prosody-wrong-name.cfg.lua: c2s_require_encryption = true -> only
    // <starttls><required/>; the certificate is for XMPP_INTEROP_WRONG_NAME only;
    // allow_registration = true + "register" -> <register/> after TLS; no "smacks" or
    // "sasl2_sm" -> no SM in Bind2 and no <sm> inline.
    let after = prosody13_after_tls();
    probe_peer(&Peer {
        var: "XMPP_INTEROP_PROSODY13_WRONG_NAME",
        direct_tls: false,
        cert: Some(Cert::WrongName),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(true),
            mechanisms: &[],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        after: Some(Features {
            sasl2: Some(Sasl2 {
                sm: false,
                ..after.sasl2.unwrap()
            }),
            register: true,
            ..after
        }),
        exit: 1,
    });
}

// ---- ejabberd 24.12: interop/ejabberd24/ejabberd.yml -------------------------------------

/// After TLS: `auth_password_format: plain` -> DIGEST-MD5, PLAIN, every SCRAM and -PLUS,
/// XEP-0440 advertised; SASL2 built in (to a header with `from`), `mod_auth_fast` -> FAST
/// NONE/UNIQ/EXPR/ENDP, `mod_stream_mgmt` -> sm:3 in Bind2 and `<sm>` inline.
fn ejabberd2412_after_tls() -> Features {
    const MECHS: &[&str] = &[
        "DIGEST-MD5",
        "PLAIN",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "SCRAM-SHA-512",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256-PLUS",
        "SCRAM-SHA-512-PLUS",
    ];
    Features {
        starttls: None,
        mechanisms: MECHS,
        channel_binding: Some(CB_13),
        sasl2: Some(Sasl2 {
            mechanisms: MECHS,
            fast: &[
                "HT-SHA-256-NONE",
                "HT-SHA-256-UNIQ",
                "HT-SHA-256-EXPR",
                "HT-SHA-256-ENDP",
            ],
            sm: true,
        }),
        register: false,
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2412_starttls_optional() {
    // Listener @C2S_PORT@: `starttls: true`, `starttls_required: false` -> <starttls/>
    // without <required/>, and everything but -PLUS before TLS. `allow_unencrypted_sasl2:
    // true` offers SASL2 there too, but only to a header with `from`, which the probe sends
    // over TLS only: before TLS it sees none.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD24",
        direct_tls: false,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(false),
            mechanisms: &[
                "DIGEST-MD5",
                "PLAIN",
                "SCRAM-SHA-1",
                "SCRAM-SHA-256",
                "SCRAM-SHA-512",
            ],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        after: Some(ejabberd2412_after_tls()),
        exit: 1,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2412_starttls_required() {
    // Listener @TLS_PORT@: `starttls_required: true` -> only <starttls><required/>.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD24_TLS",
        direct_tls: false,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: Some(Features {
            starttls: Some(true),
            mechanisms: &[],
            channel_binding: None,
            sasl2: None,
            register: false,
        }),
        after: Some(ejabberd2412_after_tls()),
        exit: 0,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd2412_direct_tls() {
    // Listener @DIRECT_TLS_PORT@: `tls: true`.
    probe_peer(&Peer {
        var: "XMPP_INTEROP_EJABBERD24_DIRECT_TLS",
        direct_tls: true,
        cert: Some(Cert::Good),
        versions: BOTH,
        before: None,
        after: Some(ejabberd2412_after_tls()),
        exit: 0,
    });
}

/// A certificate from a CA the probe was not told to trust: verification fails, the rest
/// of the handshake (and the expiry) is fine.
#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn untrusted_ca_is_a_verify_error() {
    let p = Probe::server_with(
        "XMPP_INTEROP_EJABBERD24_DIRECT_TLS",
        true,
        &env("XMPP_INTEROP_OTHER_CA"),
    );
    let t = &p.endpoint()["tls"];
    assert_eq!(t["ok"], true, "{}", p.dump());
    assert_eq!(t["verified"], false, "{}", p.dump());
    p.expect_check("tls.certificate.verify", "error");
    p.expect_check("tls.certificate.expiry", "ok");
    p.expect_exit(1);
}
