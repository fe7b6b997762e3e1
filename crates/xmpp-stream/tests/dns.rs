//! Finding the server through DNS: the real resolver (hickory) against an
//! in-process DNS server on 127.0.0.1, then TCP connections to local
//! listeners. No test needs the internet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dns_server;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dns_server::{DnsServer, Zone};
use tokio::net::TcpListener;
use xmpp_stream::dns::{
    self, ConnectError, ConnectOptions, DnsError, DnsResolver, Event, Found, Resolve, Target,
};

fn resolver(server: &DnsServer) -> DnsResolver {
    DnsResolver::with_name_server(server.addr, Duration::from_secs(2))
}

/// A port nothing listens on: bound, then closed.
async fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Connects, keeping every event as text.
async fn connect(
    domain: &str,
    resolver: &DnsResolver,
) -> (Result<dns::Connected, ConnectError>, Vec<String>) {
    let mut events = Vec::new();
    let result = dns::connect(
        domain,
        resolver,
        &ConnectOptions::default().with_attempt_timeout(Duration::from_secs(3)),
        &mut |e: &Event<'_>| events.push(e.to_string()),
    )
    .await;
    (result, events)
}

#[tokio::test]
async fn priorities_then_weights_over_many_resolutions() {
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 10, 10, 5222, "ten.some.test")
        .srv(
            "_xmpp-client._tcp.some.test",
            10,
            90,
            5222,
            "ninety.some.test",
        )
        .srv("_xmpp-client._tcp.some.test", 5, 0, 5222, "first.some.test")
        .srv(
            "_xmpps-client._tcp.some.test",
            20,
            0,
            5223,
            "last.some.test",
        );
    let server = DnsServer::start(zone).await;
    let resolver = resolver(&server);
    let mut second = HashMap::<String, u32>::new();
    let runs = 2000;
    for _ in 0..runs {
        let r = dns::resolve("some.test", &resolver).await.unwrap();
        let hosts: Vec<&str> = r.targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts.len(), 4);
        assert_eq!(hosts[0], "first.some.test");
        assert_eq!(hosts[3], "last.some.test");
        assert!(r.targets[3].direct_tls && !r.targets[0].direct_tls);
        *second.entry(hosts[1].to_owned()).or_default() += 1;
    }
    // "ten" second with p = 11/101 (r <= 10 in 0..=100): 218 expected,
    // sigma 14. Sorting by weight would give 0; answer order, ~1000.
    let ten = second.get("ten.some.test").copied().unwrap_or(0);
    assert!((150..=300).contains(&ten), "{second:?}");
    assert!(server.queries() >= 2);
}

#[tokio::test]
async fn a_dead_first_target_falls_through_to_the_next() {
    let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live_port = live.local_addr().unwrap().port();
    let dead = dead_port().await;
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 0, 0, dead, "dead.some.test")
        .srv(
            "_xmpp-client._tcp.some.test",
            10,
            0,
            live_port,
            "live.some.test",
        )
        .ip("dead.some.test", "127.0.0.1")
        .ip("live.some.test", "127.0.0.1");
    let server = DnsServer::start(zone).await;
    let (result, events) = connect("some.test", &resolver(&server)).await;
    let connected = result.unwrap();
    assert_eq!(connected.target.host, "live.some.test");
    assert_eq!(connected.addr.port(), live_port);
    assert_eq!(connected.failed.len(), 1, "{events:?}");
    assert_eq!(connected.failed[0].target.host, "dead.some.test");
    assert_eq!(connected.failed[0].addr.unwrap().port(), dead);
    let shown = events.join("\n");
    assert!(shown.contains("SRV records for some.test"), "{shown}");
    assert!(
        shown.contains(&format!(
            "failed: dead.some.test:{dead} (STARTTLS) at 127.0.0.1:{dead}"
        )),
        "{shown}"
    );
    assert!(shown.contains("connected to live.some.test"), "{shown}");
}

#[tokio::test]
async fn every_target_failing_is_an_error_without_fallback() {
    // The domain has an A record to a live listener on its port: a client
    // that fell back to it after the SRV targets failed would connect.
    let dead = dead_port().await;
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 0, 0, dead, "dead.some.test")
        .ip("dead.some.test", "127.0.0.1")
        .srv(
            "_xmpps-client._tcp.some.test",
            0,
            0,
            dead,
            "nowhere.some.test",
        )
        .ip("some.test", "127.0.0.1");
    let server = DnsServer::start(zone).await;
    let (result, _) = connect("some.test", &resolver(&server)).await;
    let Err(ConnectError::Unreachable { domain, attempts }) = result else {
        panic!("expected Unreachable, got {result:?}");
    };
    assert_eq!(domain, "some.test");
    let hosts: Vec<&str> = attempts.iter().map(|a| a.target.host.as_str()).collect();
    assert_eq!(hosts.len(), 2, "{attempts:?}");
    assert!(hosts.contains(&"dead.some.test") && hosts.contains(&"nowhere.some.test"));
    let nowhere = attempts
        .iter()
        .find(|a| a.target.host == "nowhere.some.test")
        .unwrap();
    // NXDOMAIN for the target: no address to try.
    assert_eq!(nowhere.addr, None);
    assert!(nowhere.error.contains("no address"), "{nowhere}");
}

#[tokio::test]
async fn a_dot_target_means_no_service() {
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 0, 0, 0, ".")
        .ip("some.test", "127.0.0.1");
    let server = DnsServer::start(zone).await;
    let (result, events) = connect("some.test", &resolver(&server)).await;
    assert!(
        matches!(result, Err(ConnectError::Dns(DnsError::Unavailable { .. }))),
        "{result:?}"
    );
    // Nothing was tried.
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn xmpps_only_gives_direct_tls_targets() {
    let zone = Zone::new().srv("_xmpps-client._tcp.some.test", 0, 0, 443, "xmpp1.some.test");
    let server = DnsServer::start(zone).await;
    let r = dns::resolve("some.test", &resolver(&server)).await.unwrap();
    assert_eq!(r.starttls, Found::Nothing);
    assert!(!r.fallback);
    assert_eq!(
        r.targets,
        [Target {
            host: "xmpp1.some.test".into(),
            port: 443,
            direct_tls: true
        }]
    );
}

#[tokio::test]
async fn no_srv_falls_back_to_the_domain_on_5222() {
    // The name exists (an A record) but has no SRV: NOERROR, no answer.
    let zone = Zone::new().ip("nosrv.test", "127.0.0.1");
    let server = DnsServer::start(zone).await;
    let resolver = resolver(&server);
    let r = dns::resolve("nosrv.test", &resolver).await.unwrap();
    assert!(r.fallback);
    assert_eq!(
        r.targets,
        [Target {
            host: "nosrv.test".into(),
            port: 5222,
            direct_tls: false
        }]
    );
    let ips = resolver.ips("nosrv.test").await.unwrap();
    assert_eq!(ips, ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
}

#[tokio::test]
async fn nxdomain_falls_back_and_then_has_no_address() {
    let server = DnsServer::start(Zone::new()).await;
    let (result, events) = connect("missing.test", &resolver(&server)).await;
    let Err(ConnectError::Unreachable { attempts, .. }) = result else {
        panic!("expected Unreachable, got {result:?}");
    };
    assert!(
        events[0].starts_with("no SRV record for missing.test"),
        "{events:?}"
    );
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].target.host, "missing.test");
    assert_eq!(attempts[0].target.port, 5222);
    assert!(attempts[0].error.contains("no address"), "{}", attempts[0]);
}

#[tokio::test]
async fn a_silent_dns_server_times_out() {
    let server = DnsServer::start(Zone::new().silent()).await;
    let resolver = DnsResolver::with_name_server(server.addr, Duration::from_millis(300));
    let start = Instant::now();
    let (result, _) = connect("some.test", &resolver).await;
    assert!(
        matches!(result, Err(ConnectError::Dns(DnsError::Timeout { .. }))),
        "{result:?}"
    );
    // One UDP try per name, perhaps one over TCP: well under 5 s.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(server.queries() >= 2);
}

#[tokio::test]
async fn happy_eyeballs_tries_ipv6_first_and_uses_what_connects() {
    // Only IPv4 listens: [::1] is refused (or unreachable without IPv6),
    // and 127.0.0.1 must win.
    let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = live.local_addr().unwrap().port();
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 0, 0, port, "dual.some.test")
        .ip("dual.some.test", "127.0.0.1")
        .ip("dual.some.test", "::1");
    let server = DnsServer::start(zone).await;
    let (result, events) = connect("some.test", &resolver(&server)).await;
    let connected = result.unwrap();
    assert_eq!(connected.addr, format!("127.0.0.1:{port}").parse().unwrap());
    let tries: Vec<&String> = events.iter().filter(|e| e.starts_with("trying")).collect();
    assert!(
        tries[0].ends_with(&format!("at [::1]:{port}")),
        "{events:?}"
    );
}

/// Connects through `some.test` → `two.some.test` (127.0.0.2, then
/// 127.0.0.1) on `port`, with these options.
async fn connect_two(
    port: u16,
    options: ConnectOptions,
) -> (dns::Connected, Vec<String>, Duration) {
    let zone = Zone::new()
        .srv("_xmpp-client._tcp.some.test", 0, 0, port, "two.some.test")
        .ip("two.some.test", "127.0.0.2")
        .ip("two.some.test", "127.0.0.1");
    let server = DnsServer::start(zone).await;
    let mut events = Vec::new();
    let start = Instant::now();
    let result = dns::connect(
        "some.test",
        &resolver(&server),
        &options,
        &mut |e: &Event<'_>| events.push(e.to_string()),
    )
    .await;
    (result.unwrap(), events, start.elapsed())
}

#[tokio::test]
async fn a_refused_address_starts_the_next_at_once() {
    // Only 127.0.0.1 listens; 127.0.0.2 refuses. With a 10 s stagger, only
    // the failure can start the second attempt this early.
    let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = live.local_addr().unwrap().port();
    let options = ConnectOptions::default()
        .with_stagger(Duration::from_secs(10))
        .with_attempt_timeout(Duration::from_secs(20));
    let (connected, events, took) = connect_two(port, options).await;
    assert_eq!(connected.addr.ip().to_string(), "127.0.0.1", "{events:?}");
    assert_eq!(connected.failed.len(), 1, "{events:?}");
    assert!(took < Duration::from_secs(3), "{took:?} {events:?}");
}

#[tokio::test]
async fn a_hanging_address_gets_company_after_the_stagger() {
    // 127.0.0.2 listens with a full accept queue: the kernel drops further
    // SYNs and a connection attempt hangs. 127.0.0.1 accepts on the same
    // port. The second attempt starts after the 250 ms stagger and wins,
    // long before the first one's 20 s timeout.
    let hanging = tokio::net::TcpSocket::new_v4().unwrap();
    hanging.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let port = hanging.local_addr().unwrap().port();
    let _hanging = hanging.listen(0).unwrap();
    let Ok(live) = TcpListener::bind(("127.0.0.1", port)).await else {
        eprintln!("skipped: port {port} is taken on 127.0.0.1");
        return;
    };
    let target: std::net::SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let c = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(target),
        );
        if let Ok(Ok(c)) = c.await {
            fillers.push(c);
        }
    }
    let probe = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(target),
    )
    .await;
    if probe.is_ok() {
        eprintln!("skipped: this kernel does not hold connections to a full accept queue");
        return;
    }
    let options = ConnectOptions::default().with_attempt_timeout(Duration::from_secs(20));
    let (connected, events, took) = connect_two(port, options).await;
    assert_eq!(connected.addr.ip().to_string(), "127.0.0.1", "{events:?}");
    // The hanging attempt was not a failure: it was dropped when the other won.
    assert!(connected.failed.is_empty(), "{events:?}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "{took:?} {events:?}"
    );
    drop(live);
}
