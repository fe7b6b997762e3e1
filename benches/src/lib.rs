//! Benchmark corpora for the XMPP stream framer, shared by the criterion
//! benches (`benches/framing.rs`) and `cargo xtask bench` (which needs the
//! stanza counts to print stanzas/s).
//!
//! The corpora are generated deterministically: a stream header followed by
//! top-level elements, never closed (as on a live XMPP stream).

/// A generated stream.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// Group name used in the criterion report.
    pub name: &'static str,
    /// The stream bytes: header, then top-level elements and keepalives.
    pub bytes: Vec<u8>,
    /// Number of top-level elements after the header.
    pub stanzas: usize,
}

/// Chunk size for the "chunked" variants: one Ethernet MTU of TCP payload, roughly.
pub const CHUNK: usize = 1500;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='s1' version='1.0' xml:lang='en'>";

/// Small deterministic PRNG (xorshift64*), so the corpus is the same in every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "hello",
    "the",
    "meeting",
    "is",
    "at",
    "noon",
    "&amp;",
    "see",
    "you",
    "there",
    "ok",
    "thanks",
    "über",
    "café",
    "&lt;3",
    "tomorrow",
    "link:",
    "https://example.org/a?b=c&amp;d=e",
    "😀",
    "sure",
    "lunch",
    "weekend",
    "plan",
];

fn sentence(r: &mut Rng, words: u64) -> String {
    let n = 1 + r.below(words);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
    }
    s
}

fn jid(r: &mut Rng) -> String {
    format!("user{}@example.com/res{}", r.below(500), r.below(8))
}

fn chat(r: &mut Rng, out: &mut String) {
    let body = sentence(r, 40);
    out.push_str(&format!(
        "<message from='{}' to='{}' type='chat' id='m{}' xml:lang='en'><body>{body}</body>\
<active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/>\
<origin-id xmlns='urn:xmpp:sid:0' id='{:x}'/></message>",
        jid(r),
        jid(r),
        r.below(1_000_000),
        r.next()
    ));
}

fn presence(r: &mut Rng, out: &mut String) {
    out.push_str(&format!(
        "<presence from='{}'><show>{}</show><status>{}</status><priority>{}</priority>\
<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='{:x}='/>\
<x xmlns='vcard-temp:x:update'><photo>{:x}{:x}</photo></x></presence>",
        jid(r),
        ["away", "chat", "dnd", "xa"][r.below(4) as usize],
        sentence(r, 6),
        r.below(50),
        r.next(),
        r.next(),
        r.next()
    ));
}

fn roster(r: &mut Rng, out: &mut String) {
    out.push_str(&format!(
        "<iq type='result' id='roster{}' to='{}'><query xmlns='jabber:iq:roster' ver='ver{}'>",
        r.below(1000),
        jid(r),
        r.below(100)
    ));
    for _ in 0..5 + r.below(25) {
        out.push_str(&format!(
            "<item jid='contact{}@example.net' name='Contact {}' subscription='both'><group>{}</group></item>",
            r.below(10_000),
            r.below(10_000),
            ["Friends", "Work", "Family", "Ünïcode"][r.below(4) as usize]
        ));
    }
    out.push_str("</query></iq>");
}

fn prefixed(r: &mut Rng, out: &mut String) {
    // Namespace prefixes on content, as some servers and libraries emit them.
    out.push_str(&format!(
        "<iq type='set' id='ps{}'><ps:pubsub xmlns:ps='http://jabber.org/protocol/pubsub'>\
<ps:publish node='urn:xmpp:microblog:0'><ps:item id='{:x}'><entry xmlns='http://www.w3.org/2005/Atom'>\
<title type='text'>{}</title></entry></ps:item></ps:publish></ps:pubsub></iq>",
        r.below(1000),
        r.next(),
        sentence(r, 12)
    ));
}

fn keepalive(r: &mut Rng, out: &mut String) {
    out.push_str([" ", "\n", "\r\n", "  \n"][r.below(4) as usize]);
}

/// Chat messages with bodies, presences with caps, roster results,
/// namespace-prefixed pubsub, and whitespace keepalives (~1 MiB).
pub fn realistic() -> Corpus {
    let mut r = Rng(0x5EED_1234_ABCD_0001);
    let mut s = String::from(HEADER);
    let mut stanzas = 0;
    while s.len() < 1 << 20 {
        match r.below(20) {
            0..=8 => chat(&mut r, &mut s),
            9..=14 => presence(&mut r, &mut s),
            15 => roster(&mut r, &mut s),
            _ => prefixed(&mut r, &mut s),
        }
        stanzas += 1;
        if r.below(4) == 0 {
            keepalive(&mut r, &mut s);
        }
    }
    Corpus {
        name: "realistic",
        bytes: s.into_bytes(),
        stanzas,
    }
}

/// Many small top-level elements: stream-management acks, pings, bare
/// presences, short messages (~256 KiB).
pub fn small() -> Corpus {
    let mut r = Rng(0x5EED_1234_ABCD_0002);
    let mut s = String::from(HEADER);
    let mut stanzas = 0;
    while s.len() < 1 << 18 {
        match r.below(6) {
            0 => s.push_str("<r xmlns='urn:xmpp:sm:3'/>"),
            1 => s.push_str(&format!(
                "<a xmlns='urn:xmpp:sm:3' h='{}'/>",
                r.below(100_000)
            )),
            2 => s.push_str(&format!(
                "<iq type='get' id='p{}'><ping xmlns='urn:xmpp:ping'/></iq>",
                r.below(1000)
            )),
            3 => s.push_str("<presence/>"),
            4 => s.push_str(&format!(
                "<message to='{}'><body>{}</body></message>",
                jid(&mut r),
                sentence(&mut r, 3)
            )),
            _ => s.push_str(&format!("<iq type='result' id='p{}'/>", r.below(1000))),
        }
        stanzas += 1;
        if r.below(8) == 0 {
            keepalive(&mut r, &mut s);
        }
    }
    Corpus {
        name: "small",
        bytes: s.into_bytes(),
        stanzas,
    }
}

/// One top-level element of about 1 MiB after the header: a message whose
/// body is long text (references, UTF-8, line ends) and which carries a few
/// thousand child elements; for the linearity check (chunked vs whole).
pub fn large() -> Corpus {
    let mut r = Rng(0x5EED_1234_ABCD_0003);
    let mut s = String::from(HEADER);
    s.push_str("<message from='a@example.com/r' to='b@example.com' type='chat' id='big'><body>");
    while s.len() < 1 << 19 {
        s.push_str(&sentence(&mut r, 40));
        s.push_str(if r.below(8) == 0 { "\r\n" } else { " " });
    }
    s.push_str("</body><x xmlns='urn:example:big'>");
    while s.len() < 1 << 20 {
        s.push_str(&format!(
            "<item jid='contact{}@example.net' name='Contact {}'><group>{}</group></item>",
            r.below(10_000),
            r.below(10_000),
            sentence(&mut r, 3)
        ));
    }
    s.push_str("</x></message>");
    Corpus {
        name: "large",
        bytes: s.into_bytes(),
        stanzas: 1,
    }
}

/// Both corpora.
pub fn all() -> Vec<Corpus> {
    vec![realistic(), small()]
}
