//! The property test: random interleavings, losses and resumptions.

use super::*;

// The property test.

#[derive(Clone, Copy, Debug)]
enum Op {
    ClientSends,
    ServerSends,
    ToServer,
    ToClient,
    ClientRequests,
    ServerRequests,
    ClientAcks,
    ServerAcks,
    Lose,
    Reconnect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::ClientSends),
        4 => Just(Op::ServerSends),
        6 => Just(Op::ToServer),
        6 => Just(Op::ToClient),
        1 => Just(Op::ClientRequests),
        1 => Just(Op::ServerRequests),
        1 => Just(Op::ClientAcks),
        1 => Just(Op::ServerAcks),
        1 => Just(Op::Lose),
        2 => Just(Op::Reconnect),
    ]
}

/// The server's view of the current connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerConn {
    /// The client's first element will be `<enable/>`.
    AwaitEnable,
    /// Its first element will be `<resume/>`.
    AwaitResume,
    Live,
    Down,
}

/// A client and a server application over one connection at a time, each
/// numbering the stanzas it sends and checking the other's arrive in order,
/// once each.
struct World {
    client: ClientSm,
    server: Option<ServerSm>,
    conn: ServerConn,
    origin: u32,
    options: ServerOptions,
    c2s: VecDeque<Element>,
    s2c: VecDeque<Element>,
    /// Stanzas an application wants to send and its queue refused for now.
    client_backlog: VecDeque<Element>,
    server_backlog: VecDeque<Element>,
    client_made: u32,
    server_made: u32,
    server_got: u32,
    client_got: u32,
}

impl World {
    fn new(origin: u32, limits: QueueLimits) -> Self {
        let mut client = ClientSm::new(limits);
        client.set_origin(origin);
        let enable = wire(&client.enable(true, None).unwrap());
        World {
            client,
            server: None,
            conn: ServerConn::AwaitEnable,
            origin,
            options: ServerOptions {
                limits,
                ..ServerOptions::default()
            },
            c2s: VecDeque::from([enable]),
            s2c: VecDeque::new(),
            client_backlog: VecDeque::new(),
            server_backlog: VecDeque::new(),
            client_made: 0,
            server_made: 0,
            server_got: 0,
            client_got: 0,
        }
    }

    fn server(&mut self) -> &mut ServerSm {
        self.server.as_mut().unwrap()
    }

    fn flush_client(&mut self) {
        while let Some(el) = self.client_backlog.front() {
            let Ok(outgoing) = self.client.outgoing(el) else {
                break;
            };
            assert!(matches!(
                outgoing,
                Outgoing::Tracked(_) | Outgoing::Parked(_)
            ));
            let el = self.client_backlog.pop_front().unwrap();
            if outgoing.write_now() {
                assert_ne!(self.conn, ServerConn::Down);
                self.c2s.push_back(wire(&el));
            }
        }
    }

    fn flush_server(&mut self) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        while let Some(el) = self.server_backlog.front() {
            let Ok(outgoing) = server.outgoing(el) else {
                break;
            };
            assert!(matches!(
                outgoing,
                Outgoing::Tracked(_) | Outgoing::Parked(_)
            ));
            let el = self.server_backlog.pop_front().unwrap();
            if outgoing.write_now() {
                assert_eq!(self.conn, ServerConn::Live);
                self.s2c.push_back(wire(&el));
            }
        }
    }

    fn number(el: &Element) -> u32 {
        el.attr("id").unwrap()[1..].parse().unwrap()
    }

    fn deliver_to_server(&mut self) {
        let Some(el) = self.c2s.pop_front() else {
            return;
        };
        match self.conn {
            ServerConn::AwaitEnable => {
                let Ok(Some(SmElement::Enable(request))) = SmElement::read(&el) else {
                    panic!("expected <enable/>: {el:?}")
                };
                let (mut server, enabled) = ServerSm::enable(&request, &self.options);
                server.set_origin(self.origin);
                self.server = Some(server);
                self.conn = ServerConn::Live;
                self.s2c.push_back(wire(&enabled));
            }
            ServerConn::AwaitResume => {
                let Ok(Some(SmElement::Resume(request))) = SmElement::read(&el) else {
                    panic!("expected <resume/>: {el:?}")
                };
                let server = self.server();
                assert_eq!(Some(&request.previd), server.id());
                let resumption = server.resume(&request).unwrap();
                self.conn = ServerConn::Live;
                self.s2c.push_back(wire(&resumption.resumed));
                self.s2c.extend(resumption.resend.iter().map(wire));
            }
            ServerConn::Live => match self.server().handle(&el).unwrap() {
                Event::Stanza => {
                    assert_eq!(Self::number(&el), self.server_got, "client→server order");
                    self.server_got += 1;
                }
                Event::Reply(a) => self.s2c.push_back(wire(&a)),
                Event::Acked(_) => {}
                other => panic!("{other:?}"),
            },
            ServerConn::Down => unreachable!("nothing is in flight"),
        }
        self.flush_server();
    }

    fn deliver_to_client(&mut self) {
        let Some(el) = self.s2c.pop_front() else {
            return;
        };
        match self.client.handle(&el).unwrap() {
            Event::Stanza => {
                assert_eq!(Self::number(&el), self.client_got, "server→client order");
                self.client_got += 1;
            }
            Event::Reply(a) => self.c2s.push_back(wire(&a)),
            Event::Acked(_) => {}
            Event::Enabled { resumable } => assert!(resumable),
            Event::Resumed { resend, .. } => self.c2s.extend(resend.iter().map(wire)),
            other => panic!("{other:?}"),
        }
        self.flush_client();
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::ClientSends => {
                let m = msg("c", self.client_made);
                self.client_made += 1;
                self.client_backlog.push_back(m);
                self.flush_client();
            }
            Op::ServerSends if self.server.is_some() => {
                let m = msg("s", self.server_made);
                self.server_made += 1;
                self.server_backlog.push_back(m);
                self.flush_server();
            }
            Op::ServerSends => {}
            Op::ToServer => self.deliver_to_server(),
            Op::ToClient => self.deliver_to_client(),
            Op::ClientRequests => self.c2s.extend(self.client.request()),
            Op::ClientAcks => self.c2s.extend(self.client.ack()),
            Op::ServerRequests | Op::ServerAcks if self.conn == ServerConn::Live => {
                let server = self.server();
                let el = match op {
                    Op::ServerRequests => server.request(),
                    _ => server.ack(),
                };
                self.s2c.extend(el);
            }
            Op::ServerRequests | Op::ServerAcks => {}
            // Only a session that got `<enabled/>` can be resumed.
            Op::Lose
                if self.conn != ServerConn::Down
                    && matches!(self.client.state(), State::Active | State::Resuming) =>
            {
                self.c2s.clear();
                self.s2c.clear();
                assert_eq!(self.client.connection_lost(), Disconnected::Detached);
                assert_eq!(self.server().connection_lost(), Disconnected::Detached);
                self.conn = ServerConn::Down;
            }
            Op::Lose => {}
            Op::Reconnect if self.conn == ServerConn::Down => {
                let resume = wire(&self.client.resume_request().unwrap());
                self.c2s.push_back(resume);
                self.conn = ServerConn::AwaitResume;
            }
            Op::Reconnect => {}
        }
        self.check_counts();
    }

    /// Each inbound count is exactly the stanzas that arrived.
    fn check_counts(&self) {
        if let Some(server) = &self.server {
            assert_eq!(
                server.handled_count(),
                self.origin.wrapping_add(self.server_got)
            );
        }
        if self.client.state() != State::Enabling {
            assert_eq!(
                self.client.handled_count(),
                self.origin.wrapping_add(self.client_got)
            );
        }
    }

    /// Reconnects if need be, then delivers and acknowledges until nothing
    /// is left anywhere.
    fn finish(&mut self) {
        self.step(Op::Reconnect);
        for _ in 0..10_000 {
            while !self.c2s.is_empty() || !self.s2c.is_empty() {
                self.deliver_to_server();
                self.deliver_to_client();
            }
            let server = self.server();
            if (server.unacked_len(), self.client.unacked_len()) == (0, 0)
                && self.client_backlog.is_empty()
                && self.server_backlog.is_empty()
            {
                break;
            }
            self.step(Op::ClientRequests);
            self.step(Op::ServerRequests);
        }
        assert_eq!(
            self.server_got, self.client_made,
            "every client stanza arrived"
        );
        assert_eq!(
            self.client_got, self.server_made,
            "every server stanza arrived"
        );
        let server = self.server.as_ref().unwrap();
        assert_eq!(self.client.sent_count(), server.handled_count());
        assert_eq!(server.sent_count(), self.client.handled_count());
        assert_eq!(self.client.acked_count(), self.client.sent_count());
        assert_eq!(server.acked_count(), server.sent_count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the interleaving of stanzas, requests, acknowledgements,
    /// connection losses and resumptions, each direction delivers every
    /// stanza exactly once and in order, and the counters agree.
    #[test]
    fn every_stanza_arrives_once_and_in_order(
        ops in prop::collection::vec(op(), 0..300),
        origin in prop_oneof![Just(0u32), Just(u32::MAX - 4), any::<u32>()],
        max_stanzas in 1usize..16,
    ) {
        let limits = QueueLimits { max_stanzas, ..QueueLimits::default() };
        let mut world = World::new(origin, limits);
        for op in ops {
            world.step(op);
        }
        world.finish();
    }
}
