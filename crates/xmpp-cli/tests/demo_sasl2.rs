//! `xmpp demo --sasl2` and `--fast`: the SASL2 (XEP-0388) login with Bind2
//! (XEP-0386) and the FAST (XEP-0484) reconnect, step by step, with the round
//! trips the protocols give.
//!
//! Round trips after the TCP connect, over STARTTLS with TLS 1.3 (one for the
//! handshake), the client waiting once per round trip:
//!
//! | login | round trips |
//! | --- | --- |
//! | every login: stream header, `<starttls/>`, TLS handshake | 1-3 |
//! | RFC 6120 SCRAM: header, `<auth/>`, `<response/>`, restart header, `<bind/>` IQ | 4-8: 8 |
//! | SASL2 SCRAM + Bind2: header, `<authenticate/>`, `<response/>` (`<success/>` binds) | 4-6: 6 |
//! | SASL2 FAST: header, `<authenticate/>` with the HT proof, answered by `<success/>` | 4-5: 5 |

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Asserts that `needles` appear in `out` in this order; returns the rest.
fn in_order<'a>(out: &'a str, needles: &[&str]) -> &'a str {
    let mut rest = out;
    for needle in needles {
        match rest.find(needle) {
            Some(i) => rest = &rest[i + needle.len()..],
            None => panic!("missing {needle:?} (in this order) in:\n{out}"),
        }
    }
    rest
}

#[test]
fn demo_sasl2_shows_a_scram_login_with_bind2_in_6_round_trips() {
    let o = run(&["demo", "--sasl2"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    in_order(
        &out,
        &[
            "Step 1 (round trip 1): Client opens the stream:",
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>",
            "(round trip 2): Client asks for TLS (STARTTLS):",
            "(round trip 3): TLS handshake (TLS1.3,",
            "(round trip 4): Client opens a new stream over TLS:",
            "(round trip 4): Server responds with its stream header and features:",
            "<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256</mechanism>",
            "<bind xmlns='urn:xmpp:bind:0'>",
            "(round trip 5): Client authenticates with SASL2 (SCRAM-SHA-256): <authenticate/> with the SCRAM client-first message, its user agent and a Bind2 request:",
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>",
            "<user-agent id='",
            "The decoded initial response is:\ny,,n=somenode,r=",
            "(round trip 5): Server sends a SASL2 challenge: the SCRAM server-first message",
            "The decoded challenge is:\nr=",
            "(round trip 6): Client answers with the SCRAM client-final message (its proof):",
            "The decoded response is:\nc=",
            "(round trip 6): Server reports success (SASL2) with the SCRAM server-final message",
            "<success xmlns='urn:xmpp:sasl:2'><additional-data>",
            "<authorization-identifier>somenode@example.com/",
            "<bound xmlns='urn:xmpp:bind:0'/></success>",
            "The decoded additional data is:\nv=",
            "(round trip 6): Server sends its features right after <success/> (SASL2 has no stream restart)",
            "(after the login): Client pings the server (XEP-0199):",
            "Result: authenticated with SCRAM-SHA-256 over SASL2 and bound inline by Bind2 as somenode@example.com/",
            "Round trips after the TCP connect: 6 (the first 3 until TLS is up, then 3 for the login itself).",
            "with RFC 6120 SASL (a stream restart after <success/>, then a <bind/> IQ) took 8:",
        ],
    );
    // No RFC 6120 exchange is shown, and no round trip 7.
    assert!(!out.contains("<auth "), "{out}");
    assert!(!out.contains("round trip 7"), "{out}");
}

#[test]
fn demo_sasl2_with_other_mechanisms() {
    // PLAIN: the password stays out of the XML and the decoded payload.
    let o = run(&["demo", "--sasl2", "--mechanism", "PLAIN"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    in_order(
        &out,
        &[
            "(round trip 5): Client authenticates with SASL2 (PLAIN): <authenticate/> with the PLAIN credentials (redacted here)",
            "<initial-response>(redacted: contains the password)</initial-response>",
            "\\0somenode\\0<password redacted>",
            "(round trip 5): Server reports success (SASL2)",
            "Round trips after the TCP connect: 5 ",
            "took 7:",
        ],
    );
    // base64("\0somenode\0secret")
    assert!(!out.contains("AHNvbWVub2RlAHNlY3JldA=="), "{out}");
    // -PLUS binds to the TLS channel.
    let o = run(
        &["demo", "--sasl2", "--mechanism", "SCRAM-SHA-256-PLUS"],
        "",
    );
    expect_code(&o, 0);
    in_order(
        &stdout(&o),
        &[
            "p=tls-exporter,,n=somenode,r=",
            "Round trips after the TCP connect: 6 ",
        ],
    );
    // Token mechanisms are for --fast's second login, and --fail is for the
    // RFC 3920 demo.
    let o = run(&["demo", "--sasl2", "--mechanism", "HT-SHA-256-EXPR"], "");
    expect_code(&o, 2);
    let o = run(&["demo", "--sasl2", "--fail", "temporary-auth-failure"], "");
    expect_code(&o, 2);
}

#[test]
fn demo_fast_logs_in_again_with_the_token_in_fewer_round_trips() {
    let o = run(&["demo", "--fast"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    let rest = in_order(
        &out,
        &[
            "Login 1: SASL2 with the password (SCRAM-SHA-256), asking for a FAST token",
            "with Bind2 and FAST (HT-SHA-256-EXPR",
            "(round trip 5): Client authenticates with SASL2 (SCRAM-SHA-256): <authenticate/> with the SCRAM client-first message, its user agent, a Bind2 request and a FAST token request for HT-SHA-256-EXPR:",
            "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>",
            "(round trip 6): Server reports success (SASL2) with the SCRAM server-final message (the server's proof), the authorization identifier (the full JID Bind2 bound), <bound/> (no <bind/> IQ follows) and a FAST token (its value redacted here):",
            "<authorization-identifier>somenode@example.com/",
            "<bound xmlns='urn:xmpp:bind:0'/>",
            "<token xmlns='urn:xmpp:fast:0' token='…redacted…' expiry='",
            "Result of login 1: authenticated with SCRAM-SHA-256 and bound as somenode@example.com/",
            "the server issued a FAST token for HT-SHA-256-EXPR, valid for 14 days. Round trips after the TCP connect: 6.",
            "Login 2: a new connection, the same user agent, the token instead of the password",
            "(round trip 3): TLS handshake (TLS1.3,",
            "(round trip 5): Client authenticates with SASL2 (HT-SHA-256-EXPR): <authenticate/> with the token proof (the HT initial response), <fast/> (this is a token login)",
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-EXPR'>",
            "<fast xmlns='urn:xmpp:fast:0'/>",
            "The decoded initial response is:\nsomenode\\0<32-byte HMAC-SHA-256 of \"Initiator\" and the tls-exporter data, keyed with the token>",
            "(round trip 5): Server reports success (SASL2) with the server's HT proof",
            "<bound xmlns='urn:xmpp:bind:0'/>",
            "<32-byte HMAC-SHA-256 of \"Responder\" and the tls-exporter data, keyed with the token>",
            "Result of login 2: authenticated with the token (HT-SHA-256-EXPR) and bound as somenode@example.com/",
            "Round trips after the TCP connect: 5.",
            "Round trips after the TCP connect: FAST token login 5, SASL2 password login 6, RFC 6120 password login 8",
        ],
    );
    assert!(!rest.contains("Step"), "{out}");
    // The token login takes no SCRAM round trip.
    let login2 = &out[out.find("Login 2:").unwrap()..];
    assert!(!login2.contains("round trip 6"), "{login2}");
    assert!(!login2.contains("<challenge"), "{login2}");
    // Every token on the wire is redacted.
    for (i, _) in out.match_indices(" token='") {
        assert!(out[i..].starts_with(" token='…redacted…'"), "{out}");
    }
}
