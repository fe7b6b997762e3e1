//! A client and a server session driven against each other, every element
//! going through its XML text: one regression test per bug class known
//! from other implementations, then a property test of random
//! interleavings with connection losses and resumptions.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use xmpp_xml::{ns, Element};

use super::*;
use crate::StanzaCondition;

/// Parses `xml` as a top-level element of a `jabber:client` stream.
fn parse(xml: &str) -> Element {
    use tokio_util::codec::Decoder as _;
    let mut codec = xmpp_xml::StreamCodec::new(xmpp_xml::Limits::default());
    let mut buf = bytes::BytesMut::from(
        format!(
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams'>{xml}"
        )
        .as_str(),
    );
    let _header = codec.decode(&mut buf).unwrap().unwrap();
    match codec.decode(&mut buf).unwrap().unwrap() {
        xmpp_xml::Frame::Element(el) => el,
        other => panic!("{other:?}"),
    }
}

/// `el` as the peer reads it: serialised and parsed again.
fn wire(el: &Element) -> Element {
    parse(&el.to_xml())
}

/// A message whose id is `tag` + `n`: written without a namespace, as on a
/// `jabber:client` stream.
fn msg(tag: &str, n: u32) -> Element {
    parse(&format!(
        "<message id='{tag}{n}'><body>{n}</body></message>"
    ))
}

fn ids(stanzas: &[Element]) -> Vec<String> {
    stanzas
        .iter()
        .map(|s| s.attr("id").unwrap().to_owned())
        .collect()
}

fn r() -> Element {
    parse("<r xmlns='urn:xmpp:sm:3'/>")
}

fn a(h: u32) -> Element {
    parse(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"))
}

/// The `h` of the `<a/>` that answers `<r/>`.
fn answer(event: Result<Event, SmError>) -> u32 {
    match event.unwrap() {
        Event::Reply(a) => a.attr("h").unwrap().parse().unwrap(),
        other => panic!("{other:?}"),
    }
}

/// A client and a server with stream management enabled (resumable when
/// `resume`), counters starting at `origin`.
fn pair_at(resume: bool, origin: u32) -> (ClientSm, ServerSm) {
    let mut client = ClientSm::new(QueueLimits::default());
    client.set_origin(origin);
    let enable = wire(&client.enable(resume, None).unwrap());
    let Ok(Some(SmElement::Enable(request))) = SmElement::read(&enable) else {
        panic!("{enable:?}")
    };
    let (mut server, enabled) = ServerSm::enable(&request, &ServerOptions::default());
    server.set_origin(origin);
    assert_eq!(
        client.handle(&wire(&enabled)),
        Ok(Event::Enabled { resumable: resume })
    );
    (client, server)
}

fn pair(resume: bool) -> (ClientSm, ServerSm) {
    pair_at(resume, 0)
}

/// Both sides lose the connection; the client resumes on a new one. The
/// server's answer and resent stanzas and the client's are returned as they
/// come off the wire.
fn lose_and_resume(client: &mut ClientSm, server: &mut ServerSm) -> (Resumption, Event) {
    assert_eq!(client.connection_lost(), Disconnected::Detached);
    assert_eq!(server.connection_lost(), Disconnected::Detached);
    let resume = wire(&client.resume_request().unwrap());
    let Ok(Some(SmElement::Resume(request))) = SmElement::read(&resume) else {
        panic!("{resume:?}")
    };
    assert_eq!(Some(&request.previd), server.id());
    let resumption = server.resume(&request).unwrap();
    let event = client.handle(&wire(&resumption.resumed)).unwrap();
    (resumption, event)
}

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
