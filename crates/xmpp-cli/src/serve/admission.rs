//! Who gets a connection slot: a cap on all connections and, per source
//! address, a cap on the connections that are still negotiating, so that
//! one address holding idle unauthenticated connections cannot take every
//! slot. A refused connection is told why with one write and closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::Encoder as _;
use xmpp_stream::StreamCondition;
use xmpp_xml::{ns, Element, Frame, Limits, StreamCodec, StreamHeader};

/// The connection caps of `xmpp serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections at once, negotiating or established.
    pub max_connections: usize,
    /// Connections at once from one address (IPv6: one /64) that have not
    /// bound a resource yet.
    pub max_pending_per_ip: usize,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every connection slot is taken.
    Full,
    /// Its address has `max_pending_per_ip` connections negotiating.
    TooManyPending,
}

impl Refused {
    fn text(self) -> &'static str {
        match self {
            Refused::Full => "too many connections",
            Refused::TooManyPending => "too many unauthenticated connections from your address",
        }
    }
}

/// Hands out connection slots under [`ConnectionLimits`].
pub struct Admission {
    slots: Arc<Semaphore>,
    pending: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_pending: usize,
    /// What a refused client reads, per reason: built once.
    full: Vec<u8>,
    too_many_pending: Vec<u8>,
    /// Refusals not yet reported, and when the last report was: a flood of
    /// refusals must not become a flood of log lines.
    unreported: Mutex<(u64, Option<Instant>)>,
}

/// At most one warning about refused connections this often.
const REFUSALS_REPORTED_EVERY: Duration = Duration::from_secs(10);

impl Admission {
    /// Slots under `limits`; refusals name `domain` as the server.
    pub fn new(limits: ConnectionLimits, domain: &str) -> Self {
        Admission {
            slots: Arc::new(Semaphore::new(
                limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
            pending: Arc::new(Mutex::new(HashMap::new())),
            max_pending: limits.max_pending_per_ip.max(1),
            full: refusal(domain, Refused::Full),
            too_many_pending: refusal(domain, Refused::TooManyPending),
            unreported: Mutex::new((0, None)),
        }
    }

    /// A slot for a connection from `peer`, counted as pending for its
    /// address until [`Admitted::negotiated`].
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, Refused> {
        let key = address_key(peer);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let count = pending.get(&key).copied().unwrap_or(0);
        if count >= self.max_pending {
            return Err(Refused::TooManyPending);
        }
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        pending.insert(key, count + 1);
        Ok(Admitted {
            _slot: slot,
            pending: Some(Pending {
                map: self.pending.clone(),
                key,
            }),
        })
    }

    /// Tells a refused client why with a `<policy-violation/>` stream error,
    /// if its socket takes the bytes at once (never waits), closes it, and
    /// logs it (a warning at most every ten seconds, with a count).
    pub fn refuse(&self, tcp: TcpStream, peer: SocketAddr, why: Refused) {
        let bytes = match why {
            Refused::Full => &self.full,
            Refused::TooManyPending => &self.too_many_pending,
        };
        let _ = tcp.try_write(bytes);
        drop(tcp);
        tracing::debug!(%peer, reason = ?why, "connection refused");
        let mut unreported = self
            .unreported
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unreported.0 += 1;
        if unreported
            .1
            .is_none_or(|at| at.elapsed() >= REFUSALS_REPORTED_EVERY)
        {
            tracing::warn!(
                refused = unreported.0,
                last_peer = %peer,
                last_reason = ?why,
                "refusing connections: every slot or the address's pending ones are taken"
            );
            *unreported = (0, Some(Instant::now()));
        }
    }
}

/// A connection's slot, and its place among its address's pending
/// connections until it negotiated. Both are given back on drop.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    pending: Option<Pending>,
}

impl Admitted {
    /// Negotiation is over: the connection no longer counts as pending.
    pub fn negotiated(&mut self) {
        self.pending = None;
    }
}

struct Pending {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// What counts as one source: an IPv4 address, or an IPv6 /64 (the usual
/// smallest allocation to one host or site, RFC 6177).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// A whole stream that only refuses: header, `<policy-violation/>` with
/// `why`, close (RFC 6120 §4.9.1.2: the header comes first even unasked).
fn refusal(domain: &str, why: Refused) -> Vec<u8> {
    let header = StreamHeader {
        stream_ns: ns::STREAM.into(),
        name: "stream".into(),
        default_ns: Some(ns::CLIENT.into()),
        from: Some(domain.to_owned().into()),
        version: Some("1.0".into()),
        lang: Some("en".into()),
        ..StreamHeader::default()
    };
    let error = Element::builder("error", ns::STREAM)
        .append(
            Element::builder(StreamCondition::PolicyViolation.as_str(), ns::STREAM_ERRORS).build(),
        )
        .append(
            Element::builder("text", ns::STREAM_ERRORS)
                .attr("xml:lang", "en")
                .text(why.text())
                .build(),
        )
        .build();
    let mut codec = StreamCodec::new(Limits::default());
    let mut out = BytesMut::new();
    for frame in [Frame::Header(header), Frame::Element(error), Frame::Close] {
        // Built from constants and a prepared domain: always encodable.
        if codec.encode(frame, &mut out).is_err() {
            return Vec::new();
        }
    }
    out.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn pending_connections_are_capped_per_address_and_released_once_negotiated() {
        let limits = ConnectionLimits {
            max_connections: 10,
            max_pending_per_ip: 2,
        };
        let admission = Admission::new(limits, "example.com");
        let mut a = admission.admit(ip("192.0.2.1")).expect("first");
        let b = admission.admit(ip("192.0.2.1")).expect("second");
        assert_eq!(
            admission.admit(ip("192.0.2.1")).err(),
            Some(Refused::TooManyPending)
        );
        assert!(admission.admit(ip("192.0.2.2")).is_ok(), "another address");
        a.negotiated();
        let c = admission
            .admit(ip("192.0.2.1"))
            .expect("a negotiated one no longer counts");
        drop((b, c));
        assert!(admission.pending.lock().unwrap().len() <= 1);
    }

    #[test]
    fn every_slot_taken_is_full_whatever_the_address() {
        let limits = ConnectionLimits {
            max_connections: 2,
            max_pending_per_ip: 5,
        };
        let admission = Admission::new(limits, "example.com");
        let mut held: Vec<_> = ["192.0.2.1", "192.0.2.2"]
            .iter()
            .map(|a| admission.admit(ip(a)).expect("a slot"))
            .collect();
        held.iter_mut().for_each(Admitted::negotiated);
        assert_eq!(admission.admit(ip("192.0.2.3")).err(), Some(Refused::Full));
        // A refusal for lack of slots does not count as pending.
        assert!(admission.pending.lock().unwrap().is_empty());
        drop(held);
        assert!(admission.admit(ip("192.0.2.3")).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn the_refusal_is_a_whole_stream_with_policy_violation() {
        let text = String::from_utf8(refusal("example.com", Refused::TooManyPending)).unwrap();
        assert!(
            text.starts_with("<?xml version='1.0'?><stream:stream"),
            "{text}"
        );
        assert!(text.contains("from='example.com'"), "{text}");
        assert!(
            text.contains("<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
            "{text}"
        );
        assert!(text.contains("from your address"), "{text}");
        assert!(text.ends_with("</stream:stream>"), "{text}");
    }
}
