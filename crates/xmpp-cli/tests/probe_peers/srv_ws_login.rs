//! `xmpp probe` finding the peers through SRV records (the in-process test DNS server),
//! over WebSocket, and logging in to the modern peers with the account.

use super::*;

fn port_of(var: &str) -> u16 {
    env(var).rsplit(':').next().unwrap().parse().unwrap()
}

/// `xmpp probe example.com --resolver DNS --ca-file CA --host-meta LOCAL`, off the runtime
/// (the DNS server runs on it meanwhile). host-meta comes from a local port where nothing
/// listens (a warning): never https://example.com, so that no regression in how the probe
/// resolves that name (through --resolver) can reach the real example.com.
async fn probe_through(dns: &DnsServer, what: &str) -> Probe {
    let (d, resolver, ca) = (domain(), dns.addr.to_string(), env("XMPP_INTEROP_CA"));
    let host_meta = format!("http://127.0.0.1:{}", free_port());
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        let args = [
            d.as_str(),
            "--resolver",
            &resolver,
            "--ca-file",
            &ca,
            "--host-meta",
            &host_meta,
        ];
        Probe::run(&what, &args, "")
    })
    .await
    .unwrap()
}

/// The endpoint reached with `transport` on `port`.
fn endpoint_on<'a>(p: &'a Probe, transport: &str, port: u16) -> &'a Value {
    p.endpoints()
        .iter()
        .find(|e| e["transport"] == transport && e["port"] == port)
        .unwrap_or_else(|| panic!("no {transport} endpoint on port {port}: {}", p.dump()))
}

/// The one SRV record of a name, as (priority, weight, port, target).
fn records(p: &Probe, which: &str) -> Vec<(u64, u64, u64, String)> {
    let srv = &p.report["dns"][which];
    assert_eq!(srv["status"], "records", "{which}: {}", p.dump());
    srv["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["priority"].as_u64().unwrap(),
                r["weight"].as_u64().unwrap(),
                r["port"].as_u64().unwrap(),
                r["target"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('.')
                    .to_owned(),
            )
        })
        .collect()
}

/// SRV records for both transports (`_xmpp-client` at ejabberd 24.12's STARTTLS-required
/// listener, `_xmpps-client` at its direct TLS one, each through its own host name): both
/// endpoints are examined, with the transport their record says, and the certificate is
/// checked for the domain, not for the SRV target.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "interop: run by cargo xtask interop"]
async fn srv_records_for_starttls_and_direct_tls() {
    let d = domain();
    let (starttls, direct) = (
        port_of("XMPP_INTEROP_EJABBERD24_TLS"),
        port_of("XMPP_INTEROP_EJABBERD24_DIRECT_TLS"),
    );
    let zone = Zone::new()
        .srv(
            &format!("_xmpp-client._tcp.{d}"),
            5,
            0,
            starttls,
            "c2s.xmpp.test",
        )
        .srv(
            &format!("_xmpps-client._tcp.{d}"),
            5,
            0,
            direct,
            "tls.xmpp.test",
        )
        .ip("c2s.xmpp.test", "127.0.0.1")
        .ip("tls.xmpp.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let p = probe_through(&dns, "SRV to ejabberd 24.12").await;
    let dns_section = &p.report["dns"];
    assert_eq!(
        dns_section["resolver"],
        dns.addr.to_string(),
        "{}",
        p.dump()
    );
    assert_eq!(dns_section["fallback"], false, "{}", p.dump());
    assert_eq!(
        records(&p, "starttls"),
        vec![(5, 0, u64::from(starttls), "c2s.xmpp.test".to_owned())]
    );
    assert_eq!(
        records(&p, "direct_tls"),
        vec![(5, 0, u64::from(direct), "tls.xmpp.test".to_owned())]
    );
    for host in ["c2s.xmpp.test", "tls.xmpp.test"] {
        let h = dns_section["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().map(|n| n.trim_end_matches('.')) == Some(host))
            .unwrap_or_else(|| panic!("host {host} missing: {}", p.dump()));
        assert_eq!(
            strings(&h["addresses"]),
            set(&["127.0.0.1"]),
            "{}",
            p.dump()
        );
    }
    p.expect_check("dns.srv", "ok");
    assert_eq!(p.endpoints().len(), 2, "{}", p.dump());
    for (transport, port, host) in [
        ("starttls", starttls, "c2s.xmpp.test"),
        ("direct_tls", direct, "tls.xmpp.test"),
    ] {
        let e = endpoint_on(&p, transport, port);
        assert_eq!(
            e["host"].as_str().map(|h| h.trim_end_matches('.')),
            Some(host),
            "{}",
            p.dump()
        );
        assert_eq!(e["reachable"], true, "{}", p.dump());
        assert_eq!(
            e["address"],
            format!("127.0.0.1:{port}").as_str(),
            "{}",
            p.dump()
        );
        assert_eq!(e["tls"]["verified"], true, "{transport}: {}", p.dump());
        // The listener's config: `starttls_required: true` / `tls: true`.
        if transport == "starttls" {
            assert_eq!(
                e["features_before_tls"]["starttls_required"],
                true,
                "{}",
                p.dump()
            );
        } else {
            assert!(e["features_before_tls"].is_null(), "{}", p.dump());
        }
        assert!(e["features_after_tls"].is_object(), "{}", p.dump());
    }
    p.expect_exit(0);
}

/// Records that lead to three different servers: the verdicts must stay with the endpoint
/// they are about. `_xmpp-client` has ejabberd 24.12 (STARTTLS required, good certificate)
/// first and a port where nothing listens second; `_xmpps-client` has the Prosody 0.12
/// with the expired certificate.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "interop: run by cargo xtask interop"]
async fn srv_verdicts_stay_with_their_endpoint() {
    let d = domain();
    let good = port_of("XMPP_INTEROP_EJABBERD24_TLS");
    let expired = port_of("XMPP_INTEROP_PROSODY_EXPIRED_DIRECT_TLS");
    let dead = free_port();
    let zone = Zone::new()
        .srv(
            &format!("_xmpp-client._tcp.{d}"),
            0,
            0,
            good,
            "good.xmpp.test",
        )
        .srv(
            &format!("_xmpp-client._tcp.{d}"),
            10,
            0,
            dead,
            "down.xmpp.test",
        )
        .srv(
            &format!("_xmpps-client._tcp.{d}"),
            0,
            0,
            expired,
            "old.xmpp.test",
        )
        .ip("good.xmpp.test", "127.0.0.1")
        .ip("down.xmpp.test", "127.0.0.1")
        .ip("old.xmpp.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let p = probe_through(&dns, "SRV to three servers").await;
    assert_eq!(p.endpoints().len(), 3, "{}", p.dump());
    let name = |transport: &str, port: u16| {
        endpoint_on(&p, transport, port)["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (good_name, dead_name) = (name("starttls", good), name("starttls", dead));
    let expired_name = name("direct_tls", expired);
    assert_eq!(
        endpoint_on(&p, "starttls", dead)["reachable"],
        false,
        "{}",
        p.dump()
    );
    assert!(
        endpoint_on(&p, "starttls", dead)["tls"].is_null(),
        "{}",
        p.dump()
    );
    // Another target answered: clients fall back, so a warning.
    p.expect_check_on("endpoint.reachable", Some(&dead_name), &["warning"]);
    p.expect_check_on("endpoint.reachable", Some(&good_name), &["ok"]);
    p.expect_check_on("tls.certificate.expiry", Some(&expired_name), &["error"]);
    p.expect_check_on("tls.certificate.verify", Some(&expired_name), &["error"]);
    p.expect_check_on("tls.certificate.expiry", Some(&good_name), &["ok"]);
    p.expect_check_on("tls.certificate.verify", Some(&good_name), &["ok"]);
    // prosody-expired.cfg.lua protocol = "tlsv1_2"; ejabberd takes TLS 1.3.
    let version = |port: u16, t: &str| endpoint_on(&p, t, port)["tls"]["version"].clone();
    assert!(version(expired, "direct_tls")
        .as_str()
        .unwrap()
        .ends_with("1.2"));
    assert!(version(good, "starttls").as_str().unwrap().ends_with("1.3"));
    p.expect_exit(1);
}

/// `--websocket URL` on the two HTTP listeners (RFC 7395): the server answers `<open/>`
/// and sends features. Prosody 13: `consider_websocket_secure = true`, so SASL is offered
/// as on TLS (SCRAM-SHA-256 from password_hash = "SHA-256"); ejabberd 24.12: the `/ws`
/// handler, plaintext storage (SCRAM-SHA-256 among the rest).
#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn websocket_endpoints_open_a_stream() {
    for (server, url) in [
        (
            "XMPP_INTEROP_PROSODY13_DIRECT_TLS",
            "XMPP_INTEROP_PROSODY13_WS",
        ),
        (
            "XMPP_INTEROP_EJABBERD24_DIRECT_TLS",
            "XMPP_INTEROP_EJABBERD24_WS",
        ),
    ] {
        let (d, addr, url, ca) = (domain(), env(server), env(url), env("XMPP_INTEROP_CA"));
        let p = Probe::run(
            &format!("{server} + {url}"),
            &[
                &d,
                "--server",
                &addr,
                "--direct-tls",
                "--websocket",
                &url,
                "--ca-file",
                &ca,
            ],
            "",
        );
        let ws = p.report["http"]["websocket"]
            .as_array()
            .and_then(|l| l.iter().find(|w| w["url"] == url.as_str()))
            .unwrap_or_else(|| panic!("{url} not in the report: {}", p.dump()));
        assert_eq!(ws["opens_stream"], true, "{}", p.dump());
        assert!(ws["error"].is_null(), "{}", p.dump());
        let mechs = strings(&ws["features"]["mechanisms"]);
        assert!(mechs.contains("SCRAM-SHA-256"), "{}", p.dump());
        p.expect_check_on("websocket.open", Some(&url), &["ok"]);
        // ws:// is no TLS (Prosody's consider_websocket_secure does not change that).
        p.expect_check_on("websocket.tls", Some(&url), &["warning"]);
    }
}

/// prosody13-wrong-name's host-meta (mod_http_altconnect, loaded by mod_websocket) lists
/// its WebSocket at the http_external_url; with c2s_require_encryption = true and ws:// not
/// considered secure, Prosody has no features to offer there and ends the stream: the
/// endpoint a web client would find does not work.
#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn host_meta_leads_to_a_websocket_that_offers_nothing() {
    let (d, addr, ca) = (
        domain(),
        env("XMPP_INTEROP_PROSODY13_WRONG_NAME"),
        env("XMPP_INTEROP_CA"),
    );
    let base = env("XMPP_INTEROP_PROSODY13_WRONG_NAME_HTTP");
    let ws = env("XMPP_INTEROP_PROSODY13_WRONG_NAME_WS");
    let args = [
        &d,
        "--server",
        &addr,
        "--host-meta",
        &base,
        "--ca-file",
        &ca,
    ];
    let p = Probe::run("host-meta of prosody13-wrong-name", &args, "");
    let http = &p.report["http"];
    let fetched: Vec<(&str, &Value)> = http["host_meta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["url"].as_str().unwrap(), &f["status"]))
        .collect();
    assert_eq!(
        fetched,
        vec![
            (
                format!("{base}/.well-known/host-meta").as_str(),
                &Value::from(200)
            ),
            (
                format!("{base}/.well-known/host-meta.json").as_str(),
                &Value::from(200)
            ),
        ],
        "{}",
        p.dump()
    );
    let listed: Vec<&Value> = http["websocket"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{}", p.dump());
    assert_eq!(listed[0]["url"], ws.as_str(), "{}", p.dump());
    assert_eq!(listed[0]["opens_stream"], false, "{}", p.dump());
    assert!(listed[0]["error"].is_string(), "{}", p.dump());
    assert!(listed[0]["features"].is_null(), "{}", p.dump());
    assert_eq!(http["bosh"], Value::Array(Vec::new()), "{}", p.dump());
    p.expect_check_on("http.host_meta", None, &["ok"]);
    p.expect_check_on("websocket.open", Some(&ws), &["error"]);
    p.expect_check_on("websocket.tls", Some(&ws), &["warning"]);
    p.expect_exit(1);
}

/// What a login through one configuration must show.
struct LoginExpect {
    /// `XMPP_INTEROP_*` with the address (a STARTTLS port).
    var: &'static str,
    /// SCRAM mechanisms that must log in, under every profile offered.
    scram: &'static [&'static str],
    /// SASL2 offered (with the account's `from`), so a second profile.
    sasl2: bool,
    /// A FAST token login.
    fast: bool,
    /// Stream management with resumption after the login.
    resumption: bool,
    /// XEP-0474 `h=` in the account's SCRAM server-first.
    ssdp: bool,
    /// `<csi/>` among the session's features (XEP-0352).
    csi: bool,
    /// `urn:xmpp:carbons:2` in the server's disco#info (XEP-0280).
    carbons: bool,
}

/// `xmpp probe USER@DOMAIN --password-stdin` against `w.var` (STARTTLS).
fn login_probe(w: &LoginExpect) {
    let jid = format!("{}@{}", env("XMPP_INTEROP_USER"), domain());
    let (addr, ca) = (env(w.var), env("XMPP_INTEROP_CA"));
    let args = [
        &jid,
        "--password-stdin",
        "--server",
        &addr,
        "--ca-file",
        &ca,
    ];
    let password = format!("{}\n", env("XMPP_INTEROP_PASSWORD"));
    let p = Probe::run(&format!("{jid} via {}", w.var), &args, &password);
    assert_eq!(p.report["jid"], jid.as_str(), "{}", p.dump());
    let login = &p.report["login"];
    assert!(login.is_object(), "no login section: {}", p.dump());
    let attempts = login["attempts"].as_array().expect("attempts");
    // The account and the password are right and the config stores what every offered
    // mechanism needs: no attempt may fail.
    for a in attempts {
        assert_eq!(a["ok"], true, "failed attempt {a}: {}", p.dump());
    }
    let after = &p.endpoint()["features_after_tls"];
    assert_eq!(after["sasl2"].is_object(), w.sasl2, "{}", p.dump());
    let mut profiles = vec![("rfc6120", &after["mechanisms"])];
    if w.sasl2 {
        profiles.push(("sasl2", &after["sasl2"]["mechanisms"]));
    }
    // Every offered mechanism is accounted for: tried, or listed as not tried (with why).
    let not_tried = strings(&login["not_tried"]);
    for (profile, offered) in &profiles {
        let logged_in: BTreeSet<String> = attempts
            .iter()
            .filter(|a| a["profile"] == *profile && a["ok"] == true)
            .filter_map(|a| a["mechanism"].as_str().map(str::to_owned))
            .collect();
        assert!(
            set(w.scram).is_subset(&logged_in),
            "{profile}: want ok logins with {:?}, got {logged_in:?}: {}",
            w.scram,
            p.dump()
        );
        for m in strings(offered) {
            let listed = not_tried
                .iter()
                .any(|n| n.starts_with(&format!("{m} ({profile})")));
            assert!(
                logged_in.contains(&m) || listed,
                "{m} ({profile}) neither tried nor listed: {}",
                p.dump()
            );
        }
    }
    // SASL2 saves the stream restart and the bind round trip of an RFC 6120 login with the
    // same mechanism.
    for a in attempts.iter().filter(|a| a["profile"] == "sasl2") {
        let rfc = attempts
            .iter()
            .find(|r| r["profile"] == "rfc6120" && r["mechanism"] == a["mechanism"]);
        if let Some(rfc) = rfc {
            let (two, one) = (a["round_trips"].as_u64(), rfc["round_trips"].as_u64());
            assert!(two < one, "{a} vs {rfc}: {}", p.dump());
        }
    }
    assert_eq!(login["ping"]["ok"], true, "{}", p.dump());
    if w.fast {
        assert_eq!(login["fast"]["ok"], true, "{}", p.dump());
        let fast = login["fast"]["mechanism"].as_str().unwrap_or("").to_owned();
        assert!(
            strings(&after["sasl2"]["fast"]).contains(&fast),
            "FAST {fast:?} not offered: {}",
            p.dump()
        );
    } else {
        assert!(login["fast"].is_null(), "{}", p.dump());
    }
    if w.resumption {
        assert_eq!(login["resumption"]["ok"], true, "{}", p.dump());
        let sm = p.levels("sm", Some("login"));
        assert!(sm.is_empty(), "sm after login: {sm:?}: {}", p.dump());
    } else {
        assert!(login["resumption"].is_null(), "{}", p.dump());
        p.expect_check_on("sm", Some("login"), &["warning"]);
    }
    // The session after the login: SM listed where resumption works, CSI, and the server's
    // disco#info (every config loads the ping module).
    let session = &login["features_after_login"];
    assert_eq!(session["bind"], true, "{}", p.dump());
    assert_eq!(
        !strings(&session["sm"]).is_empty(),
        w.resumption,
        "{}",
        p.dump()
    );
    assert_eq!(session["csi"], w.csi, "{}", p.dump());
    let disco = strings(&login["server_features"]);
    assert_eq!(
        disco.contains("urn:xmpp:carbons:2"),
        w.carbons,
        "{}",
        p.dump()
    );
    assert!(disco.contains("urn:xmpp:ping"), "{}", p.dump());
    assert_eq!(p.endpoint()["downgrade_protection"], w.ssdp, "{}", p.dump());
    if w.ssdp {
        p.expect_check("sasl.downgrade_protection", "ok");
    } else {
        p.expect_flagged("sasl.downgrade_protection");
    }
    p.expect_check("login", "ok");
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_prosody13() {
    // prosody.cfg.lua: password_hash = "SHA-256" -> SCRAM-SHA-256 and its -PLUS only;
    // "sasl2" -> SASL2; "sasl2_fast" -> FAST; "smacks" + "sasl2_sm" -> resumption;
    // "sasl_ssdp" -> h=; "csi_simple" -> csi; "carbons" -> carbons.
    login_probe(&LoginExpect {
        var: "XMPP_INTEROP_PROSODY13",
        scram: &["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"],
        sasl2: true,
        fast: true,
        resumption: true,
        ssdp: true,
        csi: true,
        carbons: true,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_ejabberd2412() {
    // ejabberd.yml, listener @TLS_PORT@: auth_password_format: plain -> every SCRAM and
    // -PLUS (SHA-512 too, which the probe does not implement); SASL2 and SSDP built in;
    // mod_auth_fast; mod_stream_mgmt; mod_client_state -> csi; mod_carboncopy -> carbons.
    login_probe(&LoginExpect {
        var: "XMPP_INTEROP_EJABBERD24_TLS",
        scram: &[
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
        ],
        sasl2: true,
        fast: true,
        resumption: true,
        ssdp: true,
        csi: true,
        carbons: true,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_ejabberd2301() {
    // ejabberd.yml, listener @TLS_PORT@: plaintext storage -> SCRAM-SHA-1/256 (its -PLUS
    // need tls-unique and come without XEP-0440: not tried); no SASL2 in 23.01;
    // mod_stream_mgmt -> resumption after the RFC 6120 login; no SSDP; modules has neither
    // mod_client_state nor mod_carboncopy.
    login_probe(&LoginExpect {
        var: "XMPP_INTEROP_EJABBERD_TLS",
        scram: &["SCRAM-SHA-1", "SCRAM-SHA-256"],
        sasl2: false,
        fast: false,
        resumption: true,
        ssdp: false,
        csi: false,
        carbons: false,
    });
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_prosody012_without_stream_management() {
    // prosody-tls.cfg.lua: internal_hashed (0.12: SHA-1 keys) -> SCRAM-SHA-1 only; no
    // "smacks" in modules_enabled -> no stream management at all; no SASL2, no SSDP; no
    // "csi_simple", no "carbons".
    login_probe(&LoginExpect {
        var: "XMPP_INTEROP_PROSODY_TLS",
        scram: &["SCRAM-SHA-1"],
        sasl2: false,
        fast: false,
        resumption: false,
        ssdp: false,
        csi: false,
        carbons: false,
    });
}
