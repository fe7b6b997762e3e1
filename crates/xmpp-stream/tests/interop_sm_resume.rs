//! The real clients' stream management resumption drivers
//! (`interop/clients/*_sm_resume.*`, interop/README.md) against ejabberd
//! 23.01, Prosody 0.12, Prosody 13 and ejabberd 24.12 through
//! [`cut_proxy`]: the scenario of [`sm_driver::resumes`], which
//! `crates/xmpp-cli/tests/interop_sm_serve.rs` runs against `xmpp serve`.
//! This proves the drivers (and so the harness) against the real servers.
//! Started by `cargo xtask interop`; fails when the harness's environment is
//! missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cut_proxy;
mod sm_driver;
mod unique;

use sm_driver::{env, resumes};

/// ejabberd 23.01 and Prosody 0.12 (RFC 6120), then Prosody 13 and
/// ejabberd 24.12 on their plaintext ports (SASL2 and Bind2 for the clients
/// that have them: xmpp.js, which resumes inside SASL2's <authenticate/>).
async fn with_every_server(driver: &'static str) {
    for var in [
        "XMPP_INTEROP_EJABBERD",
        "XMPP_INTEROP_PROSODY",
        "XMPP_INTEROP_PROSODY13",
        "XMPP_INTEROP_EJABBERD24",
    ] {
        // xmpp.js 0.14 resumes with ejabberd 24.12 inside SASL2 (it sends
        // `from` on its second stream, and ejabberd then offers SASL2), but
        // its parser loses the stanzas ejabberd resends right after that
        // <success/> ("stream:stream must be closed", then a crash): not
        // ours to fix; interop/README.md has the details.
        if driver == "xmpp.js" && var == "XMPP_INTEROP_EJABBERD24" {
            continue;
        }
        resumes(driver, var, &env(var)).await;
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn slixmpp_resumes_through_a_cut() {
    with_every_server("slixmpp").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn aioxmpp_resumes_through_a_cut() {
    with_every_server("aioxmpp").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn libstrophe_resumes_through_a_cut() {
    with_every_server("libstrophe").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmppjs_resumes_through_a_cut() {
    with_every_server("xmpp.js").await;
}
