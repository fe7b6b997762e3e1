//! A DNS server for tests, on 127.0.0.1 (UDP and TCP on one port),
//! answering from a table: SRV, A and AAAA records; NOERROR with no answer
//! for a known name without the type asked, NXDOMAIN for any other name.
//! Or, [`Zone::silent`], a server that never answers.
//!
//! Built on hickory-proto (which the resolver brings anyway) rather than
//! hickory-server: a table lookup is all the tests need. Also used by
//! xmpp-cli's tests (included with `#[path]`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use xmpp_stream::dns::hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use xmpp_stream::dns::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, SRV};
use xmpp_stream::dns::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// What the server answers.
#[derive(Clone, Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    names: HashSet<String>,
    silent: bool,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Self {
        Zone::default()
    }

    fn add(mut self, name: &str, kind: RecordType, data: RData) -> Self {
        self.names.insert(key(name));
        self.records
            .entry((key(name), kind))
            .or_default()
            .push(data);
        self
    }

    /// An SRV record; `target` "." is the root.
    pub fn srv(self, name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        let target = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap();
        let data = RData::SRV(SRV::new(priority, weight, port, target));
        self.add(name, RecordType::SRV, data)
    }

    /// An A or AAAA record.
    pub fn ip(self, name: &str, ip: &str) -> Self {
        match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => self.add(name, RecordType::A, RData::A(A(v4))),
            IpAddr::V6(v6) => self.add(name, RecordType::AAAA, RData::AAAA(AAAA(v6))),
        }
    }

    /// An alias: `name` is a CNAME of `target`. Queries of any type for
    /// `name` get the CNAME, and `target`'s records of that type after it.
    pub fn cname(self, name: &str, target: &str) -> Self {
        let to = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).unwrap();
        self.add(name, RecordType::CNAME, RData::CNAME(CNAME(to)))
    }

    /// Never answers: for timeouts.
    pub fn silent(mut self) -> Self {
        self.silent = true;
        self
    }

    /// The answer to a query (None: no answer at all).
    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        if self.silent {
            return None;
        }
        let request = Message::from_vec(query).ok()?;
        let mut response = Message::response(request.metadata.id, OpCode::Query);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        let Some(q) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response.to_vec().ok();
        };
        response.add_query(q.clone());
        let name = key(&q.name().to_ascii());
        if let Some(alias) = self.records.get(&(name.clone(), RecordType::CNAME)) {
            response.add_answers(
                alias
                    .iter()
                    .map(|d| Record::from_rdata(q.name().clone(), 60, d.clone())),
            );
            if let Some(RData::CNAME(CNAME(to))) = alias.first() {
                if let Some(data) = self.records.get(&(key(&to.to_ascii()), q.query_type())) {
                    response.add_answers(
                        data.iter()
                            .map(|d| Record::from_rdata(to.clone(), 60, d.clone())),
                    );
                }
            }
            return response.to_vec().ok();
        }
        match self.records.get(&(name.clone(), q.query_type())) {
            Some(data) => {
                response.add_answers(
                    data.iter()
                        .map(|d| Record::from_rdata(q.name().clone(), 60, d.clone())),
                );
            }
            None if self.names.contains(&name) => {}
            None => response.metadata.response_code = ResponseCode::NXDomain,
        }
        response.to_vec().ok()
    }
}

/// A running server; stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    pub async fn start(zone: Zone) -> Self {
        // The same port for UDP and TCP: try free TCP ports until UDP
        // gets the same one too.
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = tcp.local_addr().unwrap();
            if let Ok(udp) = UdpSocket::bind(addr).await {
                break (tcp, udp);
            }
        };
        let addr = tcp.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let zone = Arc::new(zone);
        let udp_task = {
            let (zone, queries) = (zone.clone(), queries.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                    queries.fetch_add(1, Ordering::Relaxed);
                    if let Some(answer) = zone.answer(&buf[..n]) {
                        let _ = udp.send_to(&answer, from).await;
                    }
                }
            })
        };
        let tcp_task = {
            let (zone, queries) = (zone.clone(), queries.clone());
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = tcp.accept().await {
                    let (zone, queries) = (zone.clone(), queries.clone());
                    tokio::spawn(async move {
                        // Each message with a two-byte length (RFC 1035 §4.2.2).
                        loop {
                            let mut len = [0u8; 2];
                            if conn.read_exact(&mut len).await.is_err() {
                                return;
                            }
                            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                            if conn.read_exact(&mut query).await.is_err() {
                                return;
                            }
                            queries.fetch_add(1, Ordering::Relaxed);
                            let Some(answer) = zone.answer(&query) else {
                                continue;
                            };
                            let len = u16::try_from(answer.len()).unwrap().to_be_bytes();
                            if conn.write_all(&len).await.is_err()
                                || conn.write_all(&answer).await.is_err()
                            {
                                return;
                            }
                        }
                    });
                }
            })
        };
        DnsServer {
            addr,
            queries,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
