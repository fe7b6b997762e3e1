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

mod behaviour;
mod props;
mod regressions;
