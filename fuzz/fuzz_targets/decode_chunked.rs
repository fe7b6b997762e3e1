//! Fuzz target for `StreamCodec` that runs on the stable toolchain.
//!
//! cargo-fuzz needs nightly, so this is a self-contained mutation fuzzer: it
//! starts from a seed corpus (the test fixtures plus generated stanzas),
//! mutates inputs with byte edits, XML-aware token insertions and splices,
//! decodes each one whole and under a random chunking (sometimes one byte at
//! a time) with random limits, and checks that
//!   - nothing panics, and
//!   - the chunked outcome (frames, or frames then the error) equals the whole one, and
//!   - `Framer::decode_raw` under the same chunking yields the same frames
//!     (root name, namespace and attributes) and the same error, and
//!   - `Framer::decode_borrowed` yields what `decode_raw` does, bytes included.
//!
//! Inputs that changed the outcome class are kept in the corpus.
//! A failing input is written to `fuzz/artifacts/` and the run exits with 1.
//!
//! Usage:
//!   decode_chunked [--seconds N] [--execs N] [--seed N]   # fuzz
//!   decode_chunked FILE...                                 # replay inputs

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder;
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
                    return Outcome { frames, error: Some(format!("{:?}: {e}", e.condition())) };
                }
            }
            // Memory stays bounded by the limit (plus the piece just added).
            assert!(buf.len() <= limits.max_stanza_bytes + piece.len() + 4, "buffer grew past the limit");
        }
    }
    // Round-trip every element through the encoder and decoder.
    for f in &frames {
        if let Frame::Element(e) = f {
            let doc = format!("<s:stream xmlns:s='{}'>{}", ns::STREAM, e.to_xml());
            let mut c = StreamCodec::new(Limits { max_stanza_bytes: usize::MAX, max_depth: 1000, max_attributes: 1000, max_name_len: 10000 });
            let mut b = BytesMut::from(doc.as_bytes());
            let _ = c.decode(&mut b).expect("header of re-encoded element");
            match c.decode(&mut b) {
                Ok(Some(Frame::Element(back))) => assert_eq!(&back, e, "re-encoded element differs: {doc}"),
                other => panic!("re-encoded element did not decode: {other:?} {doc}"),
            }
        }
    }
    Outcome { frames, error: None }
}

/// What `decode_raw` reports of a frame, in the terms of `Frame`.
#[derive(Debug, PartialEq)]
enum RawSeen {
    Header,
    Element { name: String, ns: String, attrs: Vec<(String, String)>, lookups: Vec<Option<String>> },
    Close,
}

/// The attribute names every raw element is asked for, besides its own.
const PROBES: &[&str] = &["id", "to", "from", "type", "xml:lang", "xmlns", "a", "lang"];

fn seen_of_element(attrs: Vec<(String, String)>, name: &str, ns: &str, get: impl Fn(&str) -> Option<String>) -> RawSeen {
    let lookups = attrs.iter().map(|(n, _)| n.as_str()).chain(PROBES.iter().copied()).map(get).collect();
    RawSeen::Element { name: name.to_owned(), ns: ns.to_owned(), attrs, lookups }
}

/// One frame of `run_raw`: what it reports, whether the stream restarts
/// after it, and an element's bytes.
type Step = (RawSeen, bool, Option<Vec<u8>>);

fn element_step(name: &str, ns: &str, bytes: &[u8], attrs: Vec<(String, String)>, get: impl Fn(&str) -> Option<String>) -> Step {
    let restart = (name == "success" && ns == ns::SASL) || (name == "proceed" && ns == ns::TLS);
    (seen_of_element(attrs, name, ns, get), restart, Some(bytes.to_vec()))
}

/// `decode_raw` (or, `borrowed`, `decode_borrowed`) over the same pieces;
/// the outcome in `RawSeen` terms, and each element's bytes.
fn run_raw(input: &[u8], cuts: &[usize], limits: &Limits, borrowed: bool) -> (Vec<RawSeen>, Option<String>, Vec<Vec<u8>>) {
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
                                let attrs = e.attrs().map(|(n, v)| (n.to_owned(), v.into_owned())).collect();
                                element_step(e.name(), e.ns(), e.bytes(), attrs, |n| e.attr(n).map(|v| v.into_owned()))
                            }
                            $kind::Header(_) => (RawSeen::Header, false, None),
                            _ => (RawSeen::Close, false, None),
                        })
                    })
                };
            }
            let step: Result<Option<Step>, _> =
                if borrowed { step_of!(framer.decode_borrowed(&mut buf), BorrowedFrame) } else { step_of!(framer.decode_raw(&mut buf), RawFrame) };
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
                let attrs = e.attrs().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
                Some(seen_of_element(attrs, e.name(), e.ns(), |n| e.attr(n).map(str::to_owned)))
            }
            _ => None,
        })
        .collect()
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

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

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut d = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(6) {
        let i = rng.below(d.len() + 1);
        match rng.below(8) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            2 if !d.is_empty() => {
                let i = rng.below(d.len());
                let n = 1 + rng.below(16.min(d.len() - i));
                d.drain(i..i + n);
            }
            3 | 4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                d.splice(i..i, t.iter().copied());
            }
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below(other.len() - a + 1);
                    d.splice(i..i, other[a..b].iter().copied());
                }
            }
            6 if !d.is_empty() => {
                // Duplicate a region (deep nesting, repeated attributes, long runs).
                let a = rng.below(d.len());
                let b = (a + 1 + rng.below(32)).min(d.len());
                let chunk = d[a..b].to_vec();
                for _ in 0..1 + rng.below(8) {
                    d.splice(a..a, chunk.iter().copied());
                }
            }
            _ => d.insert(i.min(d.len()), rng.next() as u8),
        }
    }
    d.truncate(8192);
    d
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

fn check(input: &[u8], cuts: &[usize], limits: &Limits) -> Result<Option<String>, String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let whole = run(input, &[], limits);
        let split = run(input, cuts, limits);
        let raw = run_raw(input, cuts, limits, false);
        let borrowed = run_raw(input, cuts, limits, true);
        (whole, split, raw, borrowed)
    }));
    match r {
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panic: {}", msg.unwrap_or_default()))
        }
        Ok((whole, split, _, _)) if whole != split => Err(format!("chunking changed the outcome:\nwhole {whole:?}\nsplit {split:?}")),
        Ok((whole, _, raw, _)) if seen_of(&whole.frames) != raw.0 || whole.error != raw.1 => {
            Err(format!("decode_raw disagrees:\nwhole {whole:?}\nraw {raw:?}"))
        }
        Ok((_, _, raw, borrowed)) if raw != borrowed => Err(format!("decode_borrowed disagrees:\nraw {raw:?}\nborrowed {borrowed:?}")),
        Ok((whole, _, _, _)) => Ok(whole.error),
    }
}

fn save(input: &[u8], cuts: &[usize], limits: &Limits, why: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    let h = input.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    let path = dir.join(format!("crash-{h:016x}"));
    let _ = std::fs::write(&path, input);
    eprintln!("FAILURE ({why})\ncuts {cuts:?}\nlimits {limits:?}\ninput saved to {}", path.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 60u64;
    let mut max_execs = u64::MAX;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or_else(|| panic!("{a} needs a number"));
        match a.as_str() {
            "--seconds" => seconds = num(),
            "--execs" => max_execs = num(),
            "--seed" => seed = num().max(1),
            f => files.push(f.to_string()),
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    if !files.is_empty() {
        for f in files {
            let input = std::fs::read(&f).expect("read input");
            for cut in 0..=input.len() {
                if let Err(why) = check(&input, &[cut], &Limits::default()) {
                    eprintln!("{f}: {why}");
                    std::process::exit(1);
                }
            }
            println!("{f}: ok");
        }
        return;
    }
    let mut rng = Rng(seed);
    let mut corpus = seeds();
    let n_seeds = corpus.len();
    let mut seen_errors = std::collections::HashSet::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut execs = 0u64;
    let mut last_report = start;
    while execs < max_execs && Instant::now() < deadline {
        for _ in 0..64 {
            let input = mutate(&mut rng, &corpus);
            let cuts = random_cuts(&mut rng, input.len());
            let limits = random_limits(&mut rng);
            match check(&input, &cuts, &limits) {
                Err(why) => {
                    save(&input, &cuts, &limits, &why);
                    std::process::exit(1);
                }
                Ok(err) => {
                    // Keep inputs that reach a new kind of outcome (crude feedback).
                    let key = err.map(|e| e.split(['(', '{', '"']).next().unwrap_or_default().to_string()).unwrap_or_default();
                    if seen_errors.insert(key) || rng.below(512) == 0 {
                        if corpus.len() < 5000 {
                            corpus.push(input);
                        } else {
                            let i = n_seeds + rng.below(corpus.len() - n_seeds);
                            corpus[i] = input;
                        }
                    }
                }
            }
            execs += 1;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!("{execs} execs, {:.0}/s, corpus {}", execs as f64 / start.elapsed().as_secs_f64(), corpus.len());
        }
    }
    println!("done: {execs} executions in {:.1}s, no failures (corpus {})", start.elapsed().as_secs_f64(), corpus.len());
}
