//! Fuzz target for xmpp-xml's `StreamCodec` and `Framer`.
//!
//! Starts from the test fixtures plus generated stanzas, mutates them with byte
//! edits, XML-aware token insertions and splices, decodes each input whole and
//! under a random chunking (sometimes one byte at a time) with random limits, and
//! checks that
//!   - nothing panics, and
//!   - the chunked outcome (frames, or frames then the error) equals the whole one, and
//!   - `Framer::decode_raw` under the same chunking yields the same frames
//!     (root name, namespace and attributes) and the same error, and
//!   - `Framer::decode_borrowed` yields what `decode_raw` does, bytes included.
//!
//! Inputs that reach a new kind of error are kept in the corpus. A saved input is
//! replayed at every single split point with the default limits. Options and
//! artifacts: see `xmpp_fuzz::driver`.

use std::process::ExitCode;

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use xmpp_fuzz::{Mutator, Rng, Target};
use xmpp_xml::{ns, BorrowedFrame, Frame, Framer, Limits, RawFrame, StreamCodec};

#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<String>,
}

/// `input` cut into pieces of the lengths in `cuts`, then the rest.
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at = 0;
    let mut out = Vec::with_capacity(cuts.len() + 1);
    for &c in cuts {
        let end = (at + c).min(input.len());
        out.push(&input[at..end]);
        at = end;
    }
    out.push(&input[at..]);
    out
}

fn run(input: &[u8], cuts: &[usize], limits: &Limits) -> Outcome {
    let mut codec = StreamCodec::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces(input, cuts) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => {
                    let restart = matches!(&f, Frame::Element(e) if e.is("success", ns::SASL) || e.is("proceed", ns::TLS));
                    frames.push(f);
                    if restart {
                        codec.reset();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        error: Some(format!("{:?}: {e}", e.condition())),
                    };
                }
            }
            // Memory stays bounded by the limit (plus the piece just added).
            assert!(
                buf.len() <= limits.max_stanza_bytes + piece.len() + 4,
                "buffer grew past the limit"
            );
        }
    }
    // Round-trip every element through the encoder and decoder.
    for f in &frames {
        if let Frame::Element(e) = f {
            let doc = format!("<s:stream xmlns:s='{}'>{}", ns::STREAM, e.to_xml());
            let mut c = StreamCodec::new(Limits {
                max_stanza_bytes: usize::MAX,
                max_depth: 1000,
                max_attributes: 1000,
                max_name_len: 10000,
            });
            let mut b = BytesMut::from(doc.as_bytes());
            let _ = c.decode(&mut b).expect("header of re-encoded element");
            match c.decode(&mut b) {
                Ok(Some(Frame::Element(back))) => {
                    assert_eq!(&back, e, "re-encoded element differs: {doc}")
                }
                other => panic!("re-encoded element did not decode: {other:?} {doc}"),
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

/// What `decode_raw` reports of a frame, in the terms of `Frame`.
#[derive(Debug, PartialEq)]
enum RawSeen {
    Header,
    Element {
        name: String,
        ns: String,
        attrs: Vec<(String, String)>,
        lookups: Vec<Option<String>>,
    },
    Close,
}

/// The attribute names every raw element is asked for, besides its own.
const PROBES: &[&str] = &["id", "to", "from", "type", "xml:lang", "xmlns", "a", "lang"];

fn seen_of_element(
    attrs: Vec<(String, String)>,
    name: &str,
    ns: &str,
    get: impl Fn(&str) -> Option<String>,
) -> RawSeen {
    let lookups = attrs
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(PROBES.iter().copied())
        .map(get)
        .collect();
    RawSeen::Element {
        name: name.to_owned(),
        ns: ns.to_owned(),
        attrs,
        lookups,
    }
}

/// One frame of `run_raw`: what it reports, whether the stream restarts
/// after it, and an element's bytes.
type Step = (RawSeen, bool, Option<Vec<u8>>);

fn element_step(
    name: &str,
    ns: &str,
    bytes: &[u8],
    attrs: Vec<(String, String)>,
    get: impl Fn(&str) -> Option<String>,
) -> Step {
    let restart = (name == "success" && ns == ns::SASL) || (name == "proceed" && ns == ns::TLS);
    (
        seen_of_element(attrs, name, ns, get),
        restart,
        Some(bytes.to_vec()),
    )
}

/// `decode_raw` (or, `borrowed`, `decode_borrowed`) over the same pieces;
/// the outcome in `RawSeen` terms, and each element's bytes.
fn run_raw(
    input: &[u8],
    cuts: &[usize],
    limits: &Limits,
    borrowed: bool,
) -> (Vec<RawSeen>, Option<String>, Vec<Vec<u8>>) {
    let mut framer = Framer::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let mut bytes = Vec::new();
    for piece in pieces(input, cuts) {
        buf.extend_from_slice(piece);
        loop {
            // The same for either frame type.
            macro_rules! step_of {
                ($frame:expr, $kind:ident) => {
                    $frame.map(|f| {
                        f.map(|f| match f {
                            $kind::Element(e) => {
                                let attrs = e
                                    .attrs()
                                    .map(|(n, v)| (n.to_owned(), v.into_owned()))
                                    .collect();
                                element_step(e.name(), e.ns(), e.bytes(), attrs, |n| {
                                    e.attr(n).map(|v| v.into_owned())
                                })
                            }
                            $kind::Header(_) => (RawSeen::Header, false, None),
                            _ => (RawSeen::Close, false, None),
                        })
                    })
                };
            }
            let step: Result<Option<Step>, _> = if borrowed {
                step_of!(framer.decode_borrowed(&mut buf), BorrowedFrame)
            } else {
                step_of!(framer.decode_raw(&mut buf), RawFrame)
            };
            match step {
                Ok(Some((s, restart, b))) => {
                    seen.push(s);
                    bytes.extend(b);
                    if restart {
                        framer.reset();
                    }
                }
                Ok(None) => break,
                Err(e) => return (seen, Some(format!("{:?}: {e}", e.condition())), bytes),
            }
        }
    }
    (seen, None, bytes)
}

fn seen_of(frames: &[Frame]) -> Vec<RawSeen> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Header(_) => Some(RawSeen::Header),
            Frame::Close => Some(RawSeen::Close),
            Frame::Element(e) => {
                let attrs = e
                    .attrs()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                Some(seen_of_element(attrs, e.name(), e.ns(), |n| {
                    e.attr(n).map(str::to_owned)
                }))
            }
            _ => None,
        })
        .collect()
}

const MUTATOR: Mutator = Mutator {
    tokens: TOKENS,
    max_edits: 6,
    max_len: 8192,
};

const TOKENS: &[&[u8]] = &[
    b"<", b">", b"/>", b"</", b"&", b";", b"&amp;", b"&lt;", b"&#x41;", b"&#0;", b"&#xD800;", b"&nbsp;", b"<!--", b"-->",
    b"<?xml version='1.0'?>", b"<?pi?>", b"<!DOCTYPE x>", b"<![CDATA[", b"]]>", b"'", b"\"", b"=", b" ", b"\r\n", b"\t",
    b"xmlns='urn:x'", b"xmlns:p='urn:p'", b"p:", b"xml:lang='en'", b"xmlns:xml='urn:x'", b"xmlns:p=''", b"stream:",
    b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xf0\x9f", b"\x80", b"\xef\xbf\xbe", b"\xef\xbb\xbf", b"\x00", b"\x01",
    b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", b"</stream:stream>",
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
    b"<message type='chat'><body>hi</body></message>", b"<a><a><a><a>", b"</a></a></a></a>",
];

fn seeds() -> Vec<Vec<u8>> {
    let hdr = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
    let mut v: Vec<Vec<u8>> = vec![
        include_bytes!("../../crates/xmpp-xml/tests/fixtures/seed-client.xml").to_vec(),
        include_bytes!("../../crates/xmpp-xml/tests/fixtures/seed-server.xml").to_vec(),
        include_bytes!("../../crates/xmpp-xml/tests/fixtures/seed-server-failure.xml").to_vec(),
    ];
    let bodies = [
        "<message from='a@b/c' to='d@e' type='chat' id='m1' xml:lang='en'><body>Hello &amp; &#x1F600; <![CDATA[<raw>]]></body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<presence from='a@b/c'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v='/><show>away</show></presence>",
        "<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='1'><item jid='x@y' name='X' subscription='both'><group>G</group></item></query></iq>",
        "<s:features xmlns:s='http://etherx.jabber.org/streams'><ns0:starttls xmlns:ns0='urn:ietf:params:xml:ns:xmpp-tls'><ns0:required/></ns0:starttls></s:features>",
        "<r xmlns:p='urn:p' p:a='1' a='2'>\r\n text\r\n</r> \n </stream:stream>",
    ];
    for b in bodies {
        v.push(format!("<?xml version='1.0' encoding='UTF-8'?>{hdr} {b}\n").into_bytes());
    }
    v
}

fn random_cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    match rng.below(4) {
        0 => vec![1; len],
        1 => vec![rng.below(len + 1)],
        _ => (0..rng.below(32)).map(|_| rng.below(64)).collect(),
    }
}

fn random_limits(rng: &mut Rng) -> Limits {
    if rng.below(2) == 0 {
        Limits::default()
    } else {
        Limits {
            max_stanza_bytes: 16 + rng.below(2048),
            max_depth: 1 + rng.below(8),
            max_attributes: rng.below(8),
            max_name_len: 1 + rng.below(40),
        }
    }
}

/// Whole, chunked, raw and borrowed decoding must agree; the whole outcome's error, if any.
fn compare(input: &[u8], cuts: &[usize], limits: &Limits) -> Result<Option<String>, String> {
    let whole = run(input, &[], limits);
    let split = run(input, cuts, limits);
    if whole != split {
        return Err(format!(
            "chunking changed the outcome:\nwhole {whole:?}\nsplit {split:?}"
        ));
    }
    let raw = run_raw(input, cuts, limits, false);
    if seen_of(&whole.frames) != raw.0 || whole.error != raw.1 {
        return Err(format!(
            "decode_raw disagrees:\nwhole {whole:?}\nraw {raw:?}"
        ));
    }
    let borrowed = run_raw(input, cuts, limits, true);
    if raw != borrowed {
        return Err(format!(
            "decode_borrowed disagrees:\nraw {raw:?}\nborrowed {borrowed:?}"
        ));
    }
    Ok(whole.error)
}

/// An error as a feedback key: the condition and the message up to the first part
/// that echoes the input (a name, a quoted value, a number), so that the key names
/// the code path that failed, not the input.
fn error_kind(error: &str) -> String {
    error
        .split(['"', '\'', '<', '&'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

/// An input, how it is cut and the limits it is decoded with.
#[derive(Clone)]
struct Case {
    input: Vec<u8>,
    cuts: Vec<usize>,
    limits: Limits,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("input", &String::from_utf8_lossy(&self.input))
            .field("cuts", &self.cuts)
            .field("limits", &self.limits)
            .finish()
    }
}

struct DecodeChunked;

impl Target for DecodeChunked {
    type Case = Case;
    const NAME: &'static str = "decode_chunked";
    const CORPUS_CAP: usize = 5000;
    const KEEP_ONE_IN: usize = 512;

    fn seeds(&self) -> Vec<Case> {
        seeds()
            .into_iter()
            .map(|input| Case {
                input,
                cuts: Vec::new(),
                limits: Limits::default(),
            })
            .collect()
    }

    fn mutate(&self, rng: &mut Rng, corpus: &[Case]) -> Case {
        let mut input = corpus[rng.below(corpus.len())].input.clone();
        let donor = &corpus[rng.below(corpus.len())].input;
        MUTATOR.mutate(rng, &mut input, donor);
        let cuts = random_cuts(rng, input.len());
        let limits = random_limits(rng);
        Case {
            input,
            cuts,
            limits,
        }
    }

    fn check(&self, case: &Case) -> Result<String, String> {
        let error = compare(&case.input, &case.cuts, &case.limits)?;
        Ok(error.as_deref().map(error_kind).unwrap_or_default())
    }

    fn encode(&self, case: &Case) -> Vec<u8> {
        case.input.clone()
    }

    fn replay(&self, input: &[u8]) -> Result<String, String> {
        for cut in 0..=input.len() {
            compare(input, &[cut], &Limits::default())
                .map_err(|why| format!("split at {cut}: {why}"))?;
        }
        Ok(format!("{} split points", input.len() + 1))
    }
}

fn main() -> ExitCode {
    xmpp_fuzz::driver::main(DecodeChunked)
}
