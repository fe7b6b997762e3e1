//! How the two sides agree, the limits and the states.

use super::*;

// How the two sides agree.

/// Stanzas in flight both ways when the connection drops: after the
/// resumption and its resent stanzas, each side's outbound count is the
/// other's inbound count, and acknowledgements go on without error.
#[test]
fn both_sides_agree_after_resuming_with_stanzas_in_flight() {
    let (mut client, mut server) = pair(true);
    for n in 1..=6 {
        let c = msg("c", n);
        client.outgoing(&c).unwrap();
        let s = msg("s", n);
        server.outgoing(&s).unwrap();
        // The last two each way are lost with the connection.
        if n <= 4 {
            server.handle(&wire(&c)).unwrap();
            client.handle(&wire(&s)).unwrap();
        }
        if n == 2 {
            client.handle(&wire(&server.ack().unwrap())).unwrap();
        }
    }
    // Parked while detached: counted, not written, resent.
    assert_eq!(client.connection_lost(), Disconnected::Detached);
    assert_eq!(client.outgoing(&msg("c", 7)), Ok(Outgoing::Parked(7)));
    assert_eq!(server.connection_lost(), Disconnected::Detached);
    assert_eq!(server.outgoing(&msg("s", 7)), Ok(Outgoing::Parked(7)));
    let resume = client.resume_request().unwrap();
    assert_eq!(client.outgoing(&msg("c", 8)), Ok(Outgoing::Parked(8)));
    let Ok(Some(SmElement::Resume(request))) = SmElement::read(&wire(&resume)) else {
        panic!()
    };
    let resumption = server.resume(&request).unwrap();
    assert_eq!(ids(&resumption.resend), ["s5", "s6", "s7"]);
    let Ok(Event::Resumed { resend, .. }) = client.handle(&wire(&resumption.resumed)) else {
        panic!()
    };
    assert_eq!(ids(&resend), ["c5", "c6", "c7", "c8"]);
    for s in &resumption.resend {
        assert_eq!(client.handle(&wire(s)), Ok(Event::Stanza));
    }
    for c in &resend {
        assert_eq!(server.handle(&wire(c)), Ok(Event::Stanza));
    }
    assert_eq!((client.sent_count(), server.handled_count()), (8, 8));
    assert_eq!((server.sent_count(), client.handled_count()), (7, 7));
    // New stanzas number on; acknowledgements empty both queues.
    assert_eq!(client.outgoing(&msg("c", 9)), Ok(Outgoing::Tracked(9)));
    server.handle(&wire(&msg("c", 9))).unwrap();
    let Event::Reply(a_server) = server.handle(&r()).unwrap() else {
        panic!()
    };
    let Event::Reply(a_client) = client.handle(&r()).unwrap() else {
        panic!()
    };
    assert!(
        matches!(client.handle(&wire(&a_server)), Ok(Event::Acked(v)) if ids(&v) == ["c5", "c6", "c7", "c8", "c9"])
    );
    assert!(
        matches!(server.handle(&wire(&a_client)), Ok(Event::Acked(v)) if ids(&v) == ["s5", "s6", "s7"])
    );
    assert_eq!((client.unacked_len(), server.unacked_len()), (0, 0));
}

/// The server counts what it sends from `<enabled/>` on; a stanza it wrote
/// before reading `<enable/>` reaches the client after the client sent
/// `<enable/>` and must not be counted there either.
#[test]
fn the_client_counts_from_enabled_on() {
    let mut client = ClientSm::new(QueueLimits::default());
    let enable = client.enable(false, None).unwrap();
    // Sent right after `<enable/>`, without waiting: counted.
    assert_eq!(client.outgoing(&msg("c", 1)), Ok(Outgoing::Tracked(1)));
    // The server's presence crossed our `<enable/>`.
    assert_eq!(client.handle(&msg("s", 0)), Ok(Event::Stanza));
    let Ok(Some(SmElement::Enable(request))) = SmElement::read(&wire(&enable)) else {
        panic!()
    };
    let (mut server, enabled) = ServerSm::enable(&request, &ServerOptions::default());
    assert_eq!(server.handle(&wire(&msg("c", 1))), Ok(Event::Stanza));
    client.handle(&wire(&enabled)).unwrap();
    server.outgoing(&msg("s", 1)).unwrap();
    client.handle(&wire(&msg("s", 1))).unwrap();
    let Event::Reply(ack) = client.handle(&r()).unwrap() else {
        panic!()
    };
    assert_eq!(ack.attr("h"), Some("1"));
    assert!(server.handle(&wire(&ack)).is_ok());
    assert_eq!(answer(server.handle(&r())), 1);
    assert!(client.handle(&a(1)).is_ok());
}

// Limits.

#[test]
fn a_full_queue_refuses_without_counting() {
    let limits = QueueLimits {
        max_stanzas: 2,
        ..QueueLimits::default()
    };
    let mut client = ClientSm::new(limits);
    client.enable(false, None).unwrap();
    client
        .handle(&parse("<enabled xmlns='urn:xmpp:sm:3'/>"))
        .unwrap();
    client.outgoing(&msg("c", 1)).unwrap();
    client.outgoing(&msg("c", 2)).unwrap();
    let full = client.outgoing(&msg("c", 3)).unwrap_err();
    assert_eq!(full.stanzas, 2);
    assert_eq!(full.bytes, client.unacked_bytes());
    assert_eq!(client.sent_count(), 2);
    // An acknowledgement makes room; numbering goes on without a gap.
    client.handle(&a(1)).unwrap();
    assert_eq!(client.outgoing(&msg("c", 3)), Ok(Outgoing::Tracked(3)));

    // A detached server session fills up too.
    let options = ServerOptions {
        limits: QueueLimits {
            max_stanzas: 10,
            max_bytes: 200,
        },
        ..ServerOptions::default()
    };
    let (mut server, _) = ServerSm::enable(
        &Enable {
            resume: true,
            max: None,
        },
        &options,
    );
    server.connection_lost();
    let mut parked = 0;
    while server.outgoing(&msg("s", parked)).is_ok() {
        parked += 1;
    }
    assert!(parked > 1);
    assert!(server.unacked_bytes() <= 200);
    assert_eq!(server.sent_count(), parked);
    assert_eq!(server.unacked_len(), parked as usize);
}

#[test]
fn resumption_times() {
    let ask = |resume, max: Option<u64>, ours: Option<u64>| {
        let options = ServerOptions {
            resumption: ours.map(Duration::from_secs),
            location: Some("[2001:db8::1]:5222".to_owned()),
            ..ServerOptions::default()
        };
        let request = Enable {
            resume,
            max: max.map(Duration::from_secs),
        };
        let (sm, enabled) = ServerSm::enable(&request, &options);
        let Ok(Some(SmElement::Enabled(enabled))) = SmElement::read(&wire(&enabled)) else {
            panic!()
        };
        assert_eq!(enabled.id.as_ref(), sm.id());
        assert_eq!(enabled.max, sm.max());
        (
            enabled.resume,
            enabled.max.map(|d| d.as_secs()),
            enabled.location.is_some(),
        )
    };
    assert_eq!(ask(true, None, Some(300)), (true, Some(300), true));
    assert_eq!(ask(true, Some(60), Some(300)), (true, Some(60), true));
    assert_eq!(ask(true, Some(3600), Some(300)), (true, Some(300), true));
    assert_eq!(ask(false, Some(60), Some(300)), (false, None, false));
    assert_eq!(ask(true, Some(60), None), (false, None, false));

    // The client keeps what the server said.
    let mut client = ClientSm::new(QueueLimits::default());
    client.enable(true, Some(Duration::from_secs(60))).unwrap();
    client
        .handle(&parse("<enabled xmlns='urn:xmpp:sm:3' id='x' resume='1' max='60' location='example.net:5222'/>"))
        .unwrap();
    assert_eq!(client.max(), Some(Duration::from_secs(60)));
    assert_eq!(client.location(), Some("example.net:5222"));
    assert_eq!(client.id().map(SmId::as_str), Some("x"));
}

#[test]
fn fresh_ids_are_unique_and_long_enough() {
    let ids: std::collections::HashSet<_> = (0..1000)
        .map(|_| {
            let (sm, _) = ServerSm::enable(
                &Enable {
                    resume: true,
                    max: None,
                },
                &ServerOptions::default(),
            );
            sm.id().unwrap().clone()
        })
        .collect();
    assert_eq!(ids.len(), 1000);
    assert!(ids.iter().all(|id| id.as_str().len() * 4 >= 128));
}

// States.

#[test]
fn a_session_that_cannot_resume_loses_its_queue() {
    let (mut client, mut server) = pair(false);
    assert!(!client.is_resumable() && client.id().is_none() && server.id().is_none());
    client.outgoing(&msg("c", 1)).unwrap();
    server.outgoing(&msg("s", 1)).unwrap();
    assert_eq!(
        client.connection_lost(),
        Disconnected::Lost(vec![msg("c", 1)])
    );
    assert_eq!(
        server.connection_lost(),
        Disconnected::Lost(vec![msg("s", 1)])
    );
    assert_eq!((client.state(), server.state()), (State::Off, State::Off));
    assert!(client.resume_request().is_err());
    // Lost before `<enabled/>` came: not resumable either.
    let mut client = ClientSm::new(QueueLimits::default());
    client.enable(true, None).unwrap();
    client.outgoing(&msg("c", 1)).unwrap();
    assert_eq!(
        client.connection_lost(),
        Disconnected::Lost(vec![msg("c", 1)])
    );
    // A server that grants resumption without an id grants nothing.
    let mut client = ClientSm::new(QueueLimits::default());
    client.enable(true, None).unwrap();
    assert_eq!(
        client.handle(&parse("<enabled xmlns='urn:xmpp:sm:3' resume='true'/>")),
        Ok(Event::Enabled { resumable: false })
    );
}

#[test]
fn a_failed_enable_turns_stream_management_off() {
    let mut client = ClientSm::new(QueueLimits::default());
    client.enable(true, None).unwrap();
    assert_eq!(client.outgoing(&msg("c", 1)), Ok(Outgoing::Tracked(1)));
    assert_eq!(
        client.handle(&parse("<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>")),
        Ok(Event::EnableFailed {
            condition: Some(StanzaCondition::UnexpectedRequest)
        })
    );
    assert_eq!(client.state(), State::Off);
    assert_eq!(client.outgoing(&msg("c", 2)), Ok(Outgoing::Untracked));
    assert_eq!((client.request(), client.ack()), (None, None));
    assert!(client.enable(false, None).is_ok());
}

#[test]
fn state_errors() {
    let mut client = ClientSm::new(QueueLimits::default());
    assert_eq!(
        client.resume_request(),
        Err(StateError {
            action: "resume",
            state: State::Off
        })
    );
    // Leftover acks before stream management are not ours to answer.
    assert_eq!(client.handle(&r()), Ok(Event::Other));
    assert_eq!(client.handle(&a(5)), Ok(Event::Other));
    client.enable(true, None).unwrap();
    assert_eq!(client.handle(&r()), Ok(Event::Other));
    assert_eq!(
        client.enable(true, None),
        Err(StateError {
            action: "enable",
            state: State::Enabling
        })
    );
    // `<resumed/>` without `<resume/>`.
    assert_eq!(
        client
            .clone()
            .handle(&parse("<resumed xmlns='urn:xmpp:sm:3' previd='x' h='0'/>")),
        Err(SmError::Unexpected {
            element: "resumed",
            state: State::Enabling
        })
    );
    // A malformed element is a bad-format stream error.
    let err = client
        .handle(&parse("<a xmlns='urn:xmpp:sm:3' h='x'/>"))
        .unwrap_err();
    assert!(matches!(
        err,
        SmError::Malformed(ParseError::Invalid { .. })
    ));
    assert_eq!(err.condition(), crate::StreamCondition::BadFormat);
    assert_eq!(client.state(), State::Failed);

    let (mut client, mut server) = pair(true);
    // A second `<enable/>`, a `<resume/>` on a live session.
    for xml in [
        "<enable xmlns='urn:xmpp:sm:3'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>",
    ] {
        assert!(matches!(
            server.clone().handle(&parse(xml)),
            Err(SmError::Unexpected {
                state: State::Active,
                ..
            })
        ));
    }
    // Resuming a session the caller did not detach, or under another id,
    // changes nothing.
    let other = Resume {
        previd: SmId::new("other").unwrap(),
        h: 0,
    };
    let own = Resume {
        previd: server.id().unwrap().clone(),
        h: 0,
    };
    assert_eq!(
        server.resume(&own).unwrap_err(),
        SmError::Unexpected {
            element: "resume",
            state: State::Active
        }
    );
    server.connection_lost();
    assert_eq!(server.resume(&other).unwrap_err(), SmError::WrongPrevid);
    assert_eq!(server.state(), State::Detached);
    assert!(server.resume(&own).is_ok());
    // A `<resumed/>` for another session.
    client.connection_lost();
    client.resume_request().unwrap();
    assert_eq!(
        client.handle(&parse(
            "<resumed xmlns='urn:xmpp:sm:3' previd='other' h='0'/>"
        )),
        Err(SmError::WrongPrevid)
    );
    assert_eq!(client.state(), State::Failed);
}

#[test]
fn a_resumption_can_itself_be_cut_short() {
    let (mut client, mut server) = pair(true);
    client.outgoing(&msg("c", 1)).unwrap();
    server.outgoing(&msg("s", 1)).unwrap();
    client.connection_lost();
    server.connection_lost();
    // The first attempt's connection drops before `<resumed/>` arrives.
    let first = client.resume_request().unwrap();
    let Ok(Some(SmElement::Resume(request))) = SmElement::read(&wire(&first)) else {
        panic!()
    };
    let lost = server.resume(&request).unwrap();
    assert_eq!(ids(&lost.resend), ["s1"]);
    assert_eq!(client.connection_lost(), Disconnected::Detached);
    assert_eq!(server.connection_lost(), Disconnected::Detached);
    // The second attempt resends the same.
    let (resumption, event) = lose_and_resume(&mut client, &mut server);
    assert_eq!(ids(&resumption.resend), ["s1"]);
    let Event::Resumed { resend, .. } = event else {
        panic!()
    };
    assert_eq!(ids(&resend), ["c1"]);
}

#[test]
fn closing_cleanly() {
    let (mut client, mut server) = pair(true);
    let m = msg("s", 1);
    server.outgoing(&m).unwrap();
    client.handle(&wire(&m)).unwrap();
    // The client acknowledges before `</stream:stream>`, so the server
    // keeps nothing it would otherwise store offline.
    server.handle(&wire(&client.ack().unwrap())).unwrap();
    let ended = server.close();
    assert!(ended.unacked.is_empty());
    assert_eq!(ended.handled, 0);
    let ended = client.close();
    assert_eq!((ended.handled, ended.unacked.len()), (1, 0));
    assert_eq!((client.state(), server.state()), (State::Off, State::Off));
}
