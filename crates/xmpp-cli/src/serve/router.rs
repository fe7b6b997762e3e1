//! Routes stanzas between the sessions connected to this server, and
//! answers the ones addressed to the server itself.
//!
//! Recipients are looked up in the server's [`ResourceRegistry`], the one
//! that negotiation binds resources in: each session attaches a mailbox to
//! its entry there ([`Router::attach`]).

use std::sync::Arc;

use jid::{FullJid, Jid};
use xmpp_stream::server::{BoundSession, ResourceRegistry};
use xmpp_stream::StanzaCondition;
use xmpp_xml::{ns, Element};

use super::queue::{self, Outbox, QueueBudget, QueueLimits};
use super::stamp::stamp_from;

/// Where a stanza went.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To this many sessions.
    Delivered(usize),
    /// Nobody to deliver to.
    NoRecipient,
}

/// Routes stanzas between the sessions bound in one registry.
pub struct Router {
    registry: Arc<ResourceRegistry>,
    /// The bytes queued for all sessions, under `limits`.
    queues: Arc<QueueBudget>,
}

impl Router {
    /// A router over the sessions that negotiation binds in `registry`,
    /// whose queues stay within `limits`.
    pub fn new(registry: Arc<ResourceRegistry>, limits: QueueLimits) -> Self {
        Router {
            registry,
            queues: QueueBudget::new(limits),
        }
    }

    /// Gives a bound session a queue of at most `capacity` stanzas (and the
    /// router's byte bounds); returns the session's end of it, or `None`
    /// once the router is closed (the server is shutting down) or a newer
    /// session took the resource.
    ///
    /// The queue yields `None` when the router is closed or when a newer
    /// session took over the resource ([`Router::is_closed`] tells which).
    pub fn attach(&self, session: &BoundSession, capacity: usize) -> Option<Outbox> {
        let (inbox, outbox) = queue::queue(&self.queues, capacity);
        session.attach_mailbox(Arc::new(inbox)).then_some(outbox)
    }

    /// Bytes queued for all sessions now.
    pub fn queued_bytes(&self) -> usize {
        self.queues.used()
    }

    /// Shutdown: drops every mailbox, so that each session's receiver ends,
    /// and attaches none from now on. Sessions learn of the shutdown from
    /// their mailbox instead of each holding a shutdown future.
    pub fn close(&self) {
        self.registry.close_mailboxes();
    }

    /// Whether [`Router::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.registry.mailboxes_closed()
    }

    /// How many sessions are bound.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Delivers to a full JID, or to every available resource of a bare JID.
    pub fn deliver(&self, to: &Jid, stanza: &Element) -> Delivery {
        let targets = match to.try_as_full() {
            Ok(full) => self.registry.mailbox(full).into_iter().collect(),
            Err(bare) => self.registry.available_mailboxes(bare),
        };
        let mut n = 0;
        for mailbox in targets {
            if mailbox.offer(stanza) {
                n += 1;
            } else {
                tracing::debug!(%to, "stanza dropped: the queue is full or closed");
            }
        }
        if n == 0 {
            Delivery::NoRecipient
        } else {
            Delivery::Delivered(n)
        }
    }

    /// Handles one stanza from `sender`: answers what is addressed to the
    /// server, delivers the rest with `from` stamped. Returns a reply for
    /// the sender, if any.
    pub fn route(&self, sender: &BoundSession, el: &Element) -> Option<Element> {
        if el.ns() != ns::CLIENT {
            tracing::debug!(
                jid = %sender.jid(),
                name = el.name(),
                ns = el.ns(),
                "ignoring unknown element"
            );
            return None;
        }
        let to = To::of(el);
        match el.name() {
            "iq" => self.iq(sender.jid(), el, &to),
            "message" => self.message(sender.jid(), el, &to),
            "presence" => {
                self.presence(sender, el, &to);
                None
            }
            _ => None,
        }
    }

    fn iq(&self, from: &FullJid, el: &Element, to: &To) -> Option<Element> {
        let kind = el.attr("type").unwrap_or_default();
        if !matches!(kind, "get" | "set") {
            // Results and errors: route replies to another session, else drop.
            if let To::Jid(t) = to {
                if t.is_full() {
                    self.deliver(t, &stamp_from(el, from));
                }
            }
            return None;
        }
        if to.is_server(from) {
            if kind == "get" && el.child("ping", ns::PING).is_some() {
                return Some(xmpp_stream::iq_result(el));
            }
            return Some(xmpp_stream::iq_error(
                el,
                StanzaCondition::ServiceUnavailable,
            ));
        }
        match to {
            To::Jid(t)
                if t.is_full()
                    && self.deliver(t, &stamp_from(el, from)) != Delivery::NoRecipient =>
            {
                None
            }
            _ => Some(xmpp_stream::iq_error(
                el,
                StanzaCondition::ServiceUnavailable,
            )),
        }
    }

    fn message(&self, from: &FullJid, el: &Element, to: &To) -> Option<Element> {
        let delivery = match to {
            To::Absent => {
                // A message with no `to` is for the sender's own account.
                self.deliver(&Jid::from(from.to_bare()), &stamp_from(el, from));
                return None;
            }
            To::Jid(t) if is_domain_of(t, from) => Delivery::NoRecipient,
            To::Jid(t) => self.deliver(t, &stamp_from(el, from)),
            To::Invalid => Delivery::NoRecipient,
        };
        // Never answer an error with an error (RFC 6120 §8.3.1).
        (delivery == Delivery::NoRecipient && el.attr("type") != Some("error"))
            .then(|| xmpp_stream::stanza_error(el, StanzaCondition::ServiceUnavailable))
    }

    fn presence(&self, sender: &BoundSession, el: &Element, to: &To) {
        match to {
            To::Absent => match el.attr("type") {
                None => sender.set_available(true),
                Some("unavailable") => sender.set_available(false),
                Some(_) => {}
            },
            // Directed presence; never bounced (RFC 6121 §4.6).
            To::Jid(t) => {
                self.deliver(t, &stamp_from(el, sender.jid()));
            }
            To::Invalid => {}
        }
    }
}

/// A stanza's `to`.
enum To {
    /// No `to` (or an empty one): for the sender's own account.
    Absent,
    /// A JID, prepared (RFC 7622), so comparing it compares addresses.
    Jid(Jid),
    /// Not a JID: nobody has it.
    Invalid,
}

impl To {
    fn of(el: &Element) -> To {
        match el.attr("to").filter(|t| !t.is_empty()) {
            None => To::Absent,
            Some(t) => Jid::new(t).map_or(To::Invalid, To::Jid),
        }
    }

    /// Whether a stanza from `from` is for the server: no `to`, the
    /// sender's domain, or the sender's own bare JID.
    fn is_server(&self, from: &FullJid) -> bool {
        match self {
            To::Absent => true,
            To::Jid(t) => is_domain_of(t, from) || is_bare_of(t, from),
            To::Invalid => false,
        }
    }
}

/// Whether `jid` is the domain of `of`.
fn is_domain_of(jid: &Jid, of: &FullJid) -> bool {
    jid.is_bare() && jid.node().is_none() && jid.domain() == of.domain()
}

/// Whether `jid` is the bare JID of `of`.
fn is_bare_of(jid: &Jid, of: &FullJid) -> bool {
    jid.is_bare() && jid.node() == of.node() && jid.domain() == of.domain()
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use xmpp_stream::server::ConflictPolicy;

    use super::queue::Overflow;
    use super::*;

    /// A registry and its router, with sessions bound as negotiation would.
    struct Server {
        registry: Arc<ResourceRegistry>,
        router: Router,
    }

    impl Server {
        fn new(policy: ConflictPolicy) -> Self {
            Self::with_queues(
                policy,
                QueueLimits {
                    max_bytes: 1 << 20,
                    max_total_bytes: 1 << 30,
                },
            )
        }

        fn with_queues(policy: ConflictPolicy, limits: QueueLimits) -> Self {
            let registry = Arc::new(ResourceRegistry::new(policy));
            let router = Router::new(registry.clone(), limits);
            Server { registry, router }
        }

        /// Binds `jid` and attaches a mailbox of `capacity`.
        fn session(&self, jid: &str, capacity: usize) -> Session {
            let jid = FullJid::new(jid).unwrap();
            let bound = self.registry.bind(&jid).unwrap();
            let inbox = self.router.attach(&bound, capacity).unwrap();
            Session { bound, inbox }
        }

        fn route(&self, from: &Session, xml: Element) -> Option<String> {
            self.router.route(&from.bound, &xml).map(|r| r.to_xml())
        }
    }

    struct Session {
        bound: BoundSession,
        inbox: Outbox,
    }

    impl Session {
        /// What was delivered to this session, serialized.
        fn received(&mut self) -> Vec<String> {
            std::iter::from_fn(|| self.inbox.try_recv().ok())
                .map(|el| el.to_xml())
                .collect()
        }

        /// Why its queue overflowed, if it did.
        fn overflow(&self) -> Option<Overflow> {
            let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
            match self.inbox.poll_overflow(&mut cx) {
                Poll::Ready(why) => Some(why),
                Poll::Pending => None,
            }
        }
    }

    fn stanza(name: &str, attrs: &[(&str, &str)]) -> Element {
        attrs
            .iter()
            .fold(Element::builder(name, ns::CLIENT), |b, (k, v)| b.attr(k, v))
            .append(Element::builder("body", ns::CLIENT).text("hi").build())
            .build()
    }

    fn iq(attrs: &[(&str, &str)], child: Element) -> Element {
        attrs
            .iter()
            .fold(Element::builder("iq", ns::CLIENT), |b, (k, v)| b.attr(k, v))
            .append(child)
            .build()
    }

    const SERVICE_UNAVAILABLE: &str = "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";

    #[test]
    fn a_message_to_a_full_jid_is_delivered_with_from_stamped() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        let msg = stanza(
            "message",
            &[("to", "juliet@example.com/balcony"), ("type", "chat")],
        );
        assert_eq!(server.route(&romeo, msg), None);
        assert_eq!(
            juliet.received(),
            ["<message xmlns='jabber:client' to='juliet@example.com/balcony' type='chat' from='romeo@example.com/orchard'><body>hi</body></message>"]
        );
    }

    #[test]
    fn a_forged_from_is_replaced_by_the_senders_full_jid() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        let msg = stanza(
            "message",
            &[
                ("to", "juliet@example.com/balcony"),
                ("from", "tybalt@example.com/x"),
            ],
        );
        server.route(&romeo, msg);
        let got = juliet.received();
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("from='romeo@example.com/orchard'"),
            "{got:?}"
        );
        assert!(!got[0].contains("tybalt"), "{got:?}");
    }

    #[test]
    fn a_message_to_a_bare_jid_reaches_only_available_resources() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut balcony = server.session("juliet@example.com/balcony", 8);
        let mut chamber = server.session("juliet@example.com/chamber", 8);
        let to_bare = |id| stanza("message", &[("to", "juliet@example.com"), ("id", id)]);

        // Nobody sent initial presence yet: bounced, exactly as on the wire.
        assert_eq!(
            server.route(&romeo, to_bare("m1")).as_deref(),
            Some(
                format!(
                    "<message xmlns='jabber:client' type='error' id='m1' from='juliet@example.com'>{SERVICE_UNAVAILABLE}</message>"
                )
                .as_str()
            )
        );

        assert_eq!(
            server.route(&balcony, Element::builder("presence", ns::CLIENT).build()),
            None
        );
        assert_eq!(server.route(&romeo, to_bare("m2")), None);
        assert_eq!(balcony.received().len(), 1);
        assert!(chamber.received().is_empty());

        server.route(&chamber, Element::builder("presence", ns::CLIENT).build());
        assert_eq!(
            server
                .router
                .deliver(&Jid::new("juliet@example.com").unwrap(), &to_bare("m3")),
            Delivery::Delivered(2)
        );
        let unavailable = Element::builder("presence", ns::CLIENT)
            .attr("type", "unavailable")
            .build();
        server.route(&balcony, unavailable);
        server.route(&romeo, to_bare("m4"));
        assert_eq!(balcony.received().len(), 1, "m3 only");
        assert_eq!(chamber.received().len(), 2, "m3 and m4");
    }

    #[test]
    fn bare_jids_compare_case_insensitively_and_resources_exactly() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        server.route(
            &romeo,
            stanza("message", &[("to", "Juliet@EXAMPLE.com/balcony")]),
        );
        assert_eq!(juliet.received().len(), 1);
        let bounce = server.route(
            &romeo,
            stanza("message", &[("to", "juliet@example.com/Balcony")]),
        );
        assert!(bounce.is_some_and(|b| b.contains("type='error'")));
        assert!(juliet.received().is_empty());
    }

    #[test]
    fn full_jids_are_looked_up_in_their_resourceprepd_form() {
        // Issue #12: full-width letters are the ASCII ones after
        // resourceprep (NFKC), both in the bound JID and in a `to`.
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/\u{ff42}alcony", 8);
        assert_eq!(juliet.bound.jid().as_str(), "juliet@example.com/balcony");
        let to = "juliet@example.com/\u{ff42}\u{ff41}lcony";
        assert_eq!(server.route(&romeo, stanza("message", &[("to", to)])), None);
        assert_eq!(juliet.received().len(), 1);
    }

    #[test]
    fn a_message_without_to_goes_to_the_senders_own_available_resources() {
        let server = Server::new(ConflictPolicy::Replace);
        let mut phone = server.session("juliet@example.com/phone", 8);
        let mut laptop = server.session("juliet@example.com/laptop", 8);
        server.route(&laptop, Element::builder("presence", ns::CLIENT).build());
        assert_eq!(server.route(&phone, stanza("message", &[])), None);
        assert!(phone.received().is_empty());
        assert_eq!(
            laptop.received(),
            ["<message xmlns='jabber:client' from='juliet@example.com/phone'><body>hi</body></message>"]
        );
        // Nobody available: dropped, not bounced.
        server.route(
            &laptop,
            Element::builder("presence", ns::CLIENT)
                .attr("type", "unavailable")
                .build(),
        );
        assert_eq!(server.route(&phone, stanza("message", &[])), None);
    }

    #[test]
    fn undeliverable_messages_bounce_but_errors_do_not() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        for to in [
            "nobody@example.com/x",
            "nobody@example.com",
            "example.com",
            "EXAMPLE.COM",
            "not a jid@@",
        ] {
            let bounce = server.route(&romeo, stanza("message", &[("to", to), ("id", "b")]));
            assert!(
                bounce
                    .as_deref()
                    .is_some_and(|b| b.contains(SERVICE_UNAVAILABLE) && b.contains("id='b'")),
                "{to}: {bounce:?}"
            );
            let error = stanza("message", &[("to", to), ("type", "error")]);
            assert_eq!(server.route(&romeo, error), None, "{to}");
        }
    }

    #[test]
    fn a_full_queue_bounces_the_stanza_and_closes_the_recipient() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 1);
        let msg = || stanza("message", &[("to", "juliet@example.com/balcony")]);
        assert_eq!(server.route(&romeo, msg()), None);
        assert!(server.route(&romeo, msg()).is_some());
        assert_eq!(juliet.overflow(), Some(Overflow::Stanzas));
        assert_eq!(juliet.received().len(), 1);
    }

    #[test]
    fn a_queue_over_its_bytes_closes_the_recipient_and_frees_them() {
        let server = Server::with_queues(
            ConflictPolicy::Replace,
            QueueLimits {
                max_bytes: 4096,
                max_total_bytes: 1 << 30,
            },
        );
        let romeo = server.session("romeo@example.com/orchard", 8);
        let juliet = server.session("juliet@example.com/balcony", 64);
        let big = || {
            Element::builder("message", ns::CLIENT)
                .attr("to", "juliet@example.com/balcony")
                .append(
                    Element::builder("body", ns::CLIENT)
                        .text(&"x".repeat(1500))
                        .build(),
                )
                .build()
        };
        assert_eq!(server.route(&romeo, big()), None);
        assert_eq!(server.route(&romeo, big()), None);
        assert_eq!(juliet.overflow(), None);
        assert!(server.route(&romeo, big()).is_some(), "bounced");
        assert_eq!(juliet.overflow(), Some(Overflow::Bytes));
        assert!(server.router.queued_bytes() > 3000);
        drop(juliet);
        assert_eq!(server.router.queued_bytes(), 0);
    }

    #[test]
    fn the_server_answers_pings_and_refuses_other_iqs_for_itself() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let ping = |to: Option<&str>| {
            let mut attrs = vec![("type", "get"), ("id", "p1")];
            attrs.extend(to.map(|t| ("to", t)));
            iq(&attrs, Element::builder("ping", ns::PING).build())
        };
        assert_eq!(
            server.route(&romeo, ping(Some("example.com"))).as_deref(),
            Some("<iq xmlns='jabber:client' type='result' id='p1' from='example.com'/>")
        );
        assert_eq!(
            server.route(&romeo, ping(None)).as_deref(),
            Some("<iq xmlns='jabber:client' type='result' id='p1'/>")
        );
        assert!(server
            .route(&romeo, ping(Some("romeo@example.com")))
            .is_some_and(|r| r.contains("type='result'")));
        let version = iq(
            &[("type", "get"), ("id", "v1")],
            Element::builder("query", "jabber:iq:version").build(),
        );
        assert_eq!(
            server.route(&romeo, version).as_deref(),
            Some(
                format!(
                    "<iq xmlns='jabber:client' type='error' id='v1'>{SERVICE_UNAVAILABLE}</iq>"
                )
                .as_str()
            )
        );
    }

    #[test]
    fn iqs_between_full_jids_are_routed_and_replies_find_their_way_back() {
        let server = Server::new(ConflictPolicy::Replace);
        let mut romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        let get = iq(
            &[
                ("type", "get"),
                ("id", "q1"),
                ("to", "juliet@example.com/balcony"),
            ],
            Element::builder("query", "jabber:iq:version").build(),
        );
        assert_eq!(server.route(&romeo, get), None);
        assert_eq!(
            juliet.received(),
            ["<iq xmlns='jabber:client' type='get' id='q1' to='juliet@example.com/balcony' from='romeo@example.com/orchard'><query xmlns='jabber:iq:version'/></iq>"]
        );
        let result = Element::builder("iq", ns::CLIENT)
            .attr("type", "result")
            .attr("id", "q1")
            .attr("to", "romeo@example.com/orchard")
            .build();
        assert_eq!(server.route(&juliet, result), None);
        assert_eq!(
            romeo.received(),
            ["<iq xmlns='jabber:client' type='result' id='q1' to='romeo@example.com/orchard' from='juliet@example.com/balcony'/>"]
        );
        // A result to a bare JID, or to nobody, is dropped without an answer.
        for to in ["romeo@example.com", "nobody@example.com/x"] {
            let result = Element::builder("iq", ns::CLIENT)
                .attr("type", "result")
                .attr("id", "q2")
                .attr("to", to)
                .build();
            assert_eq!(server.route(&juliet, result), None);
        }
        assert!(romeo.received().is_empty());
    }

    #[test]
    fn iq_requests_nobody_can_take_get_service_unavailable() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        server.route(&juliet, Element::builder("presence", ns::CLIENT).build());
        // Bare JIDs other than one's own are not routed, even to available resources.
        for to in [
            "nobody@example.com/x",
            "juliet@example.com",
            "example.com/x",
        ] {
            let get = iq(
                &[("type", "set"), ("id", "s1"), ("to", to)],
                Element::builder("query", "jabber:iq:private").build(),
            );
            assert_eq!(
                server.route(&romeo, get),
                Some(format!("<iq xmlns='jabber:client' type='error' id='s1' from='{to}'>{SERVICE_UNAVAILABLE}</iq>")),
            );
        }
        assert!(juliet.received().is_empty());
    }

    #[test]
    fn directed_presence_is_routed_and_never_bounced() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        let directed = |to| {
            Element::builder("presence", ns::CLIENT)
                .attr("to", to)
                .build()
        };
        assert_eq!(
            server.route(&romeo, directed("juliet@example.com/balcony")),
            None
        );
        assert_eq!(
            juliet.received(),
            ["<presence xmlns='jabber:client' to='juliet@example.com/balcony' from='romeo@example.com/orchard'/>"]
        );
        assert_eq!(server.route(&romeo, directed("nobody@example.com")), None);
        // Directed presence does not make the sender available.
        assert_eq!(
            server.router.deliver(
                &Jid::new("romeo@example.com").unwrap(),
                &stanza("message", &[])
            ),
            Delivery::NoRecipient
        );
    }

    #[test]
    fn elements_outside_the_client_namespace_are_ignored() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        let foreign = Element::builder("message", "urn:example:other")
            .attr("to", "juliet@example.com/balcony")
            .build();
        assert_eq!(server.route(&romeo, foreign), None);
        assert!(juliet.received().is_empty());
    }

    #[test]
    fn a_replaced_session_loses_its_mailbox_to_the_new_one() {
        let server = Server::new(ConflictPolicy::Replace);
        let romeo = server.session("romeo@example.com/orchard", 8);
        let mut old = server.session("juliet@example.com/balcony", 8);
        let mut new = server.session("juliet@example.com/balcony", 8);
        assert!(matches!(
            old.inbox.try_recv(),
            Err(queue::TryRecvError::Disconnected)
        ));
        assert!(!server.router.is_closed());
        server.route(
            &romeo,
            stanza("message", &[("to", "juliet@example.com/balcony")]),
        );
        assert_eq!(new.received().len(), 1);
        // The old session ending does not unbind the new one.
        drop(old);
        server.route(
            &romeo,
            stanza("message", &[("to", "juliet@example.com/balcony")]),
        );
        assert_eq!(new.received().len(), 1);
    }

    #[test]
    fn closing_ends_every_mailbox_and_refuses_new_ones() {
        let server = Server::new(ConflictPolicy::Replace);
        let mut juliet = server.session("juliet@example.com/balcony", 8);
        server.router.close();
        assert!(server.router.is_closed());
        assert!(matches!(
            juliet.inbox.try_recv(),
            Err(queue::TryRecvError::Disconnected)
        ));
        let late = server
            .registry
            .bind(&FullJid::new("romeo@example.com/orchard").unwrap())
            .unwrap();
        assert!(server.router.attach(&late, 8).is_none());
        assert_eq!(server.router.len(), 2);
    }
}
