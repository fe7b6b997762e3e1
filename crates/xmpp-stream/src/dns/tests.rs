//! The ordering and the decisions of `resolve`, against a table resolver.
//! (tests/dns.rs runs them through a real resolver and a DNS server.)

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;

/// A seeded generator (splitmix64): reproducible draws in `0..=n`.
struct Seeded(u64);

impl Seeded {
    fn draw(&mut self, n: u32) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % (u64::from(n) + 1)) as u32
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port,
        target: target.to_owned(),
    }
}

/// SRV answers by name; a name absent from the table has none.
#[derive(Default)]
struct Table {
    srv: HashMap<String, Result<Vec<Srv>, DnsError>>,
}

impl Table {
    fn with(mut self, name: &str, answer: Result<Vec<Srv>, DnsError>) -> Self {
        self.srv.insert(name.to_owned(), answer);
        self
    }
}

impl Resolve for Table {
    async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        self.srv.get(name).cloned().unwrap_or(Ok(Vec::new()))
    }

    async fn ips(&self, _host: &str) -> Result<Vec<IpAddr>, DnsError> {
        Ok(Vec::new())
    }
}

const CLIENT: &str = "_xmpp-client._tcp.example.org";
const DIRECT: &str = "_xmpps-client._tcp.example.org";

fn target(host: &str, port: u16, direct_tls: bool) -> Target {
    Target {
        host: host.to_owned(),
        port,
        direct_tls,
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn priority_ascending_whatever_the_answer_order() {
    // tokio-xmpp 6.0.0 tried records in answer order.
    let records = vec![srv(30, 0, 1, "c"), srv(10, 0, 1, "a"), srv(20, 100, 1, "b")];
    for seed in 0..50 {
        let mut rng = Seeded(seed);
        let ordered = order_with(records.clone(), |r| (r.priority, r.weight), &mut |n| {
            rng.draw(n)
        });
        let names: Vec<&str> = ordered.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}

/// How often each target comes first over `runs` orderings.
fn first_counts(records: &[Srv], runs: u64) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    let mut rng = Seeded(7);
    for _ in 0..runs {
        let ordered = order_with(records.to_vec(), |r| (r.priority, r.weight), &mut |n| {
            rng.draw(n)
        });
        *counts.entry(ordered[0].target.clone()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn weights_are_probabilities_not_a_sort() {
    // xmpp.js 0.14 sorted by weight, descending: "ninety" always first.
    let records = [srv(0, 10, 1, "ten"), srv(0, 90, 1, "ninety")];
    let counts = first_counts(&records, 10_000);
    let ten = counts["ten"];
    // "ten" comes first when r <= 10, r uniform in 0..=100: p = 11/101,
    // 1089 expected, sigma 31. A sort by weight would give 0 (or 10000).
    assert!((930..=1250).contains(&ten), "{counts:?}");
    assert_eq!(ten + counts["ninety"], 10_000);
}

#[test]
fn weight_zero_is_rarely_first_but_never_lost() {
    let records = [srv(0, 0, 1, "zero"), srv(0, 50, 1, "fifty")];
    let counts = first_counts(&records, 10_000);
    // Drawn first only when r = 0: 1 in 51, 196 expected, sigma 14.
    let zero = counts.get("zero").copied().unwrap_or(0);
    assert!((100..=320).contains(&zero), "{counts:?}");
    let mut rng = Seeded(1);
    let ordered = order_with(records.to_vec(), |r| (r.priority, r.weight), &mut |n| {
        rng.draw(n)
    });
    assert_eq!(ordered.len(), 2);
}

#[test]
fn all_zero_weights_keep_every_record() {
    let records: Vec<Srv> = (0..5).map(|i| srv(0, 0, i, "t")).collect();
    let ordered = order_with(records, |r| (r.priority, r.weight), &mut |n| n);
    let mut ports: Vec<u16> = ordered.iter().map(|r| r.port).collect();
    ports.sort_unstable();
    assert_eq!(ports, [0, 1, 2, 3, 4]);
}

#[test]
fn running_sum_selection_follows_rfc_2782() {
    // Weight-0 first, then running sums 0, 20, 50: r = 21 picks "thirty".
    let records = vec![
        srv(0, 20, 1, "twenty"),
        srv(0, 0, 1, "zero"),
        srv(0, 30, 1, "thirty"),
    ];
    let mut draws = vec![21, 0, 0].into_iter();
    let ordered = order_with(records, |r| (r.priority, r.weight), &mut |_| {
        draws.next().unwrap()
    });
    let names: Vec<&str> = ordered.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(names, ["thirty", "zero", "twenty"]);
}

#[test]
fn both_names_are_merged_and_tagged() {
    // libstrophe 0.14 never looked at _xmpps-client.
    let table = Table::default()
        .with(CLIENT, Ok(vec![srv(20, 0, 5222, "starttls.example.org")]))
        .with(DIRECT, Ok(vec![srv(10, 0, 5223, "direct.example.org")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert!(!r.fallback);
    assert_eq!(
        r.targets,
        [
            target("direct.example.org", 5223, true),
            target("starttls.example.org", 5222, false)
        ]
    );
}

#[test]
fn direct_tls_only_domains_are_found() {
    let table = Table::default().with(DIRECT, Ok(vec![srv(0, 0, 443, "xmpp.example.org")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert_eq!(r.targets, [target("xmpp.example.org", 443, true)]);
    assert_eq!(r.starttls, Found::Nothing);
}

#[test]
fn no_srv_falls_back_to_the_domain_on_5222() {
    let r = block(resolve("example.org.", &Table::default())).unwrap();
    assert!(r.fallback);
    assert_eq!(r.targets, [target("example.org", 5222, false)]);
}

#[test]
fn dot_for_xmpp_client_means_no_service_and_no_fallback() {
    let table = Table::default().with(CLIENT, Ok(vec![srv(0, 0, 0, ".")]));
    let e = block(resolve("example.org", &table)).unwrap_err();
    assert_eq!(
        e,
        DnsError::Unavailable {
            domain: "example.org".into()
        }
    );
}

#[test]
fn dot_for_xmpp_client_with_direct_tls_records_uses_those() {
    let table = Table::default()
        .with(CLIENT, Ok(vec![srv(0, 0, 0, ".")]))
        .with(DIRECT, Ok(vec![srv(0, 0, 5223, "direct.example.org")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert_eq!(r.starttls, Found::Unavailable);
    assert_eq!(r.targets, [target("direct.example.org", 5223, true)]);
}

#[test]
fn dot_for_xmpps_client_only_uses_xmpp_client() {
    let table = Table::default()
        .with(CLIENT, Ok(vec![srv(0, 0, 5222, "xmpp.example.org")]))
        .with(DIRECT, Ok(vec![srv(0, 0, 0, ".")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert_eq!(r.direct_tls, Found::Unavailable);
    assert_eq!(r.targets, [target("xmpp.example.org", 5222, false)]);
    // And `.` for xmpps with nothing for xmpp-client: the A/AAAA fallback.
    let table = Table::default().with(DIRECT, Ok(vec![srv(0, 0, 0, ".")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert!(r.fallback);
}

#[test]
fn a_dot_among_other_records_is_skipped() {
    let table = Table::default().with(
        CLIENT,
        Ok(vec![srv(0, 0, 0, "."), srv(5, 0, 5222, "xmpp.example.org")]),
    );
    let r = block(resolve("example.org", &table)).unwrap();
    assert_eq!(r.targets, [target("xmpp.example.org", 5222, false)]);
}

#[test]
fn a_failed_query_is_no_reason_to_fall_back() {
    let timeout = DnsError::Timeout {
        name: CLIENT.into(),
    };
    let table = Table::default().with(CLIENT, Err(timeout.clone()));
    assert_eq!(block(resolve("example.org", &table)).unwrap_err(), timeout);
    // But the other name's records are used.
    let table = Table::default()
        .with(CLIENT, Err(timeout))
        .with(DIRECT, Ok(vec![srv(0, 0, 5223, "direct.example.org")]));
    let r = block(resolve("example.org", &table)).unwrap();
    assert_eq!(r.targets, [target("direct.example.org", 5223, true)]);
}
