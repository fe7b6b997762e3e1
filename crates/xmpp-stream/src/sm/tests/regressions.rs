//! One regression test per bug class seen in other implementations.

use super::*;

// Regression tests, one per bug class.

/// Dino issue 1882: counting nonzas made the first `<a h/>` one too high.
#[test]
fn nonzas_are_never_counted() {
    let (mut client, mut server) = pair(true);
    // Client → server: nonzas of every kind, then one stanza.
    for nonza in [
        r(),
        a(0),
        parse("<enable xmlns='urn:xmpp:sm:4'/>"),
        parse("<ping xmlns='urn:example'/>"),
        parse("<message xmlns='jabber:server'/>"),
    ] {
        assert_eq!(client.outgoing(&nonza), Ok(Outgoing::Untracked));
        assert!(server.handle(&nonza).is_ok());
    }
    let m = msg("c", 1);
    assert_eq!(client.outgoing(&m), Ok(Outgoing::Tracked(1)));
    assert_eq!(server.handle(&m), Ok(Event::Stanza));
    assert_eq!(answer(server.handle(&r())), 1);
    // Server → client: `<enabled/>` came already; more nonzas, one stanza.
    for nonza in [
        r(),
        parse("<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>"),
    ] {
        assert_eq!(server.outgoing(&nonza), Ok(Outgoing::Untracked));
        let _ = client.handle(&nonza).unwrap();
    }
    let m = msg("s", 1);
    assert_eq!(server.outgoing(&m), Ok(Outgoing::Tracked(1)));
    assert_eq!(client.handle(&m), Ok(Event::Stanza));
    assert_eq!(answer(client.handle(&r())), 1);
    assert_eq!(
        client.handle(&a(1)).map(|e| e != Event::Acked(vec![])),
        Ok(true)
    );
}

/// stanza.js issue 495: the inbound count went back to 0 after a
/// resumption.
#[test]
fn counters_carry_over_a_resumption() {
    let (mut client, mut server) = pair(true);
    for n in 1..=3 {
        let m = msg("s", n);
        server.outgoing(&m).unwrap();
        client.handle(&wire(&m)).unwrap();
    }
    assert_eq!(client.connection_lost(), Disconnected::Detached);
    let resume = client.resume_request().unwrap();
    assert_eq!(resume.attr("h"), Some("3"));
    assert_eq!(server.connection_lost(), Disconnected::Detached);
    let Ok(Some(SmElement::Resume(request))) = SmElement::read(&wire(&resume)) else {
        panic!()
    };
    let resumption = server.resume(&request).unwrap();
    // All three were handled: nothing comes again.
    assert_eq!(ids(&resumption.acked), ["s1", "s2", "s3"]);
    assert!(resumption.resend.is_empty());
    client.handle(&wire(&resumption.resumed)).unwrap();
    let m = msg("s", 4);
    assert_eq!(server.outgoing(&m), Ok(Outgoing::Tracked(4)));
    client.handle(&wire(&m)).unwrap();
    assert_eq!(answer(client.handle(&r())), 4);
    assert_eq!(client.ack().unwrap().attr("h"), Some("4"));
}

/// Openfire issue 927: `<resumed h/>` carried the server's outbound count
/// instead of what it handled from the client.
#[test]
fn resumed_carries_the_servers_inbound_count() {
    let (mut client, mut server) = pair(true);
    for n in 1..=5 {
        let m = msg("s", n);
        server.outgoing(&m).unwrap();
        client.handle(&wire(&m)).unwrap();
    }
    for n in 1..=2 {
        let m = msg("c", n);
        client.outgoing(&m).unwrap();
        server.handle(&wire(&m)).unwrap();
    }
    let (resumption, event) = lose_and_resume(&mut client, &mut server);
    assert_eq!(resumption.resumed.attr("h"), Some("2"));
    assert_eq!(
        event,
        Event::Resumed {
            acked: vec![msg("c", 1), msg("c", 2)],
            resend: vec![]
        }
    );
    assert_eq!(client.state(), State::Active);
}

/// aioxmpp issue 67: counters did not wrap at 2^32.
#[test]
fn counters_wrap_at_2_32() {
    let origin = u32::MAX - 2;
    let (mut client, mut server) = pair_at(true, origin);
    // Client → server: numbers 2^32-2, 2^32-1, 0, 1, 2.
    let mut numbers = Vec::new();
    for n in 1..=5 {
        let m = msg("c", n);
        let Ok(Outgoing::Tracked(seq)) = client.outgoing(&m) else {
            panic!()
        };
        numbers.push(seq);
        server.handle(&wire(&m)).unwrap();
        if n == 3 {
            // h = 0 acknowledges three stanzas across the wrap.
            assert_eq!(answer(server.handle(&r())), 0);
            let Ok(Event::Acked(acked)) = client.handle(&a(0)) else {
                panic!()
            };
            assert_eq!(ids(&acked), ["c1", "c2", "c3"]);
        }
    }
    assert_eq!(numbers, [u32::MAX - 1, u32::MAX, 0, 1, 2]);
    assert_eq!(
        client.unacked().map(|(seq, _)| seq).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(answer(server.handle(&r())), 2);
    let Ok(Event::Acked(acked)) = client.handle(&a(2)) else {
        panic!()
    };
    assert_eq!(ids(&acked), ["c4", "c5"]);
    // Too high and backwards are still told apart across the wrap.
    assert_eq!(
        client.clone().handle(&a(3)),
        Err(SmError::HandledCountTooHigh {
            h: 3,
            send_count: 2
        })
    );
    assert_eq!(
        client.clone().handle(&a(u32::MAX)),
        Err(SmError::AckWentBackwards {
            h: u32::MAX,
            acked: 2
        })
    );
    // Server → client, and a resumption across the wrap.
    for n in 1..=4 {
        let m = msg("s", n);
        server.outgoing(&m).unwrap();
        if n <= 2 {
            client.handle(&wire(&m)).unwrap();
        }
    }
    assert_eq!(client.handled_count(), u32::MAX);
    let (resumption, _) = lose_and_resume(&mut client, &mut server);
    assert_eq!(ids(&resumption.resend), ["s3", "s4"]);
    for m in &resumption.resend {
        client.handle(&wire(m)).unwrap();
    }
    assert_eq!(client.handled_count(), 1);
    assert_eq!(answer(client.handle(&r())), 1);
    assert_eq!(server.sent_count(), client.handled_count());
}

/// libstrophe issue 222: a resumption resent stanzas the peer's `h` had
/// acknowledged, or never resent some it had not.
#[test]
fn a_resumption_resends_exactly_what_h_leaves() {
    let (mut client, mut server) = pair(true);
    for n in 1..=5 {
        let m = msg("c", n);
        client.outgoing(&m).unwrap();
        if n <= 3 {
            server.handle(&wire(&m)).unwrap();
        }
        if n == 1 {
            let h = answer(server.handle(&r()));
            client.handle(&a(h)).unwrap();
        }
    }
    for n in 1..=4 {
        let m = msg("s", n);
        server.outgoing(&m).unwrap();
        if n <= 2 {
            client.handle(&wire(&m)).unwrap();
        }
    }
    let (resumption, event) = lose_and_resume(&mut client, &mut server);
    assert_eq!(ids(&resumption.acked), ["s1", "s2"]);
    assert_eq!(ids(&resumption.resend), ["s3", "s4"]);
    let Event::Resumed { acked, resend } = event else {
        panic!()
    };
    assert_eq!(ids(&acked), ["c2", "c3"]);
    assert_eq!(ids(&resend), ["c4", "c5"]);
    // The resent ones keep their numbers: the queues still hold them.
    assert_eq!(client.unacked().map(|(n, _)| n).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(server.unacked().map(|(n, _)| n).collect::<Vec<_>>(), [3, 4]);
}

/// tokio-xmpp before 6 always answered `h='0'`.
#[test]
fn acks_carry_the_real_count() {
    let (mut client, mut server) = pair(false);
    assert_eq!(answer(client.handle(&r())), 0);
    for n in 1..=3 {
        let m = msg("s", n);
        server.outgoing(&m).unwrap();
        client.handle(&wire(&m)).unwrap();
    }
    assert_eq!(answer(client.handle(&r())), 3);
    let ack = wire(&client.ack().unwrap());
    assert_eq!(ack.attr("h"), Some("3"));
    let Ok(Event::Acked(acked)) = server.handle(&ack) else {
        panic!()
    };
    assert_eq!(ids(&acked), ["s1", "s2", "s3"]);
    assert_eq!(server.unacked_len(), 0);
}

/// aioxmpp issue 253: the `h` of a `<failed/>` answering `<resume/>` was
/// ignored, so stanzas the server had were reported lost (and resent).
#[test]
fn a_failed_resumption_honours_its_h() {
    let (mut client, mut server) = pair(true);
    for n in 1..=5 {
        let m = msg("c", n);
        client.outgoing(&m).unwrap();
        if n <= 3 {
            server.handle(&wire(&m)).unwrap();
        }
    }
    assert_eq!(client.connection_lost(), Disconnected::Detached);
    assert_eq!(server.connection_lost(), Disconnected::Detached);
    // The server gives up on the session and remembers its count.
    let ended = server.close();
    assert_eq!((ended.id.is_some(), ended.handled), (true, 3));
    let resume = client.resume_request().unwrap();
    let failed = Failed::new(StanzaCondition::ItemNotFound).with_h(ended.handled);
    assert_eq!(
        client.handle(&wire(&failed.to_element())),
        Ok(Event::ResumeFailed {
            condition: Some(StanzaCondition::ItemNotFound),
            acked: vec![msg("c", 1), msg("c", 2), msg("c", 3)],
            lost: vec![msg("c", 4), msg("c", 5)],
        })
    );
    let _ = resume;
    // Stream management can be enabled afresh on this stream.
    assert_eq!(client.state(), State::Off);
    assert!(client.enable(true, None).is_ok());
    assert_eq!((client.sent_count(), client.handled_count()), (0, 0));

    // Without an `h`, all of them are lost.
    let (mut client, _server) = pair(true);
    for n in 1..=2 {
        client.outgoing(&msg("c", n)).unwrap();
    }
    client.connection_lost();
    client.resume_request().unwrap();
    let Ok(Event::ResumeFailed { acked, lost, .. }) =
        client.handle(&parse("<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"))
    else {
        panic!()
    };
    assert_eq!(
        (ids(&acked).len(), ids(&lost)),
        (0, vec!["c1".to_owned(), "c2".to_owned()])
    );
}

/// An `h` above what was sent is an error with both numbers, for the stream
/// error XEP-0198 §6 defines.
#[test]
fn too_high_an_h_is_an_error_with_both_numbers() {
    let (mut client, mut server) = pair(true);
    for n in 1..=8 {
        client.outgoing(&msg("c", n)).unwrap();
    }
    let err = client.handle(&a(10)).unwrap_err();
    assert_eq!(
        err,
        SmError::HandledCountTooHigh {
            h: 10,
            send_count: 8
        }
    );
    let stream_error = wire(&err.stream_error());
    assert!(stream_error.is("error", ns::STREAM));
    assert!(stream_error
        .child("undefined-condition", ns::STREAM_ERRORS)
        .is_some());
    let detail = stream_error.child("handled-count-too-high", NS_SM).unwrap();
    assert_eq!(
        (detail.attr("h"), detail.attr("send-count")),
        (Some("10"), Some("8"))
    );
    // The session is done for: not resumable, everything unacknowledged
    // handed back.
    assert_eq!(client.state(), State::Failed);
    assert_eq!(client.outgoing(&msg("c", 9)), Ok(Outgoing::Untracked));
    let Disconnected::Lost(lost) = client.connection_lost() else {
        panic!()
    };
    assert_eq!(lost.len(), 8);

    // The server too, on `<a/>` and on `<resume/>`.
    assert_eq!(
        server.clone().handle(&a(1)),
        Err(SmError::HandledCountTooHigh {
            h: 1,
            send_count: 0
        })
    );
    server.outgoing(&msg("s", 1)).unwrap();
    server.connection_lost();
    let request = Resume {
        previd: server.id().unwrap().clone(),
        h: 2,
    };
    assert_eq!(
        server.resume(&request),
        Err(SmError::HandledCountTooHigh {
            h: 2,
            send_count: 1
        })
    );
    assert_eq!(server.state(), State::Failed);
    assert_eq!(ids(&server.close().unacked), ["s1"]);
}

/// An `h` lower than an earlier one is refused: what the earlier one
/// acknowledged is gone.
#[test]
fn an_h_going_backwards_is_an_error() {
    let (mut client, _server) = pair(true);
    for n in 1..=5 {
        client.outgoing(&msg("c", n)).unwrap();
    }
    client.handle(&a(3)).unwrap();
    // A repeat acknowledges nothing new.
    assert_eq!(client.handle(&a(3)), Ok(Event::Acked(vec![])));
    let err = client.handle(&a(2)).unwrap_err();
    assert_eq!(err, SmError::AckWentBackwards { h: 2, acked: 3 });
    let stream_error = wire(&err.stream_error());
    assert!(stream_error
        .child("undefined-condition", ns::STREAM_ERRORS)
        .is_some());
    assert!(stream_error
        .child("handled-count-too-high", NS_SM)
        .is_none());
    assert!(stream_error.child("text", ns::STREAM_ERRORS).is_some());
    assert_eq!(client.state(), State::Failed);
}
