//! Character classes of XML 1.0 (fifth edition) and Namespaces in XML.

/// Byte class bits: can start a name / can continue a name. Every non-ASCII
/// byte is provisionally a name byte; whole names are checked with
/// [`check_qname`] once their end is known.
pub(crate) const NAME_START: u8 = 1;
pub(crate) const NAME_CHAR: u8 = 2;
/// XML whitespace: space, tab, LF, CR.
pub(crate) const WS: u8 = 4;
/// An ASCII name byte other than `:`: what [`scan_name`]'s inner loop
/// skips without further bookkeeping.
const NAME_PLAIN: u8 = 8;

pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let start = b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80;
        let cont = start || b.is_ascii_digit() || b == b'-' || b == b'.';
        let mut c = 0;
        if start {
            c |= NAME_START;
        }
        if cont {
            c |= NAME_CHAR;
        }
        if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
            c |= WS;
        }
        if cont && b < 0x80 && b != b':' {
            c |= NAME_PLAIN;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline(always)]
pub(crate) fn is_ws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// Whether `b` is `<`, by a compare the compiler cannot fold together
/// with other tests of the same byte into one indirect jump (a table of
/// targets, one per byte value): where text runs end, that jump
/// mispredicts more often than a branch on `<` alone.
#[inline(always)]
pub(crate) fn is_lt(b: u8) -> bool {
    b == std::hint::black_box(b'<')
}

#[inline(always)]
pub(crate) fn is_name_start(b: u8) -> bool {
    CLASS[b as usize] & NAME_START != 0
}

#[inline(always)]
pub(crate) fn is_name_char(b: u8) -> bool {
    CLASS[b as usize] & NAME_CHAR != 0
}

/// What [`scan_name`] found in a run of name bytes.
pub(crate) struct NameRun {
    /// Index of the first byte that is not a name byte (or the limit).
    pub(crate) end: usize,
    /// How many `:` bytes, and where the last one is.
    pub(crate) colons: u32,
    pub(crate) colon: usize,
    /// Some byte is non-ASCII.
    pub(crate) high: bool,
}

/// Skip name bytes (`is_name_char`) in `d[pos..lim]`, noting colons and
/// non-ASCII bytes. The inner loop does one table test per byte; colons
/// and non-ASCII bytes, rare in names, leave it to be counted.
#[inline(always)]
pub(crate) fn scan_name(d: &[u8], mut pos: usize, lim: usize) -> NameRun {
    let lim = lim.min(d.len());
    let mut colons = 0u32;
    let mut colon = 0usize;
    let mut high = false;
    let d = &d[..lim];
    loop {
        // Four bytes per test while they are all plain name bytes, then
        // one by one: names are short, and this halves the work on them.
        while let Some(&[a, b, c, e]) = d.get(pos..pos + 4) {
            let all = CLASS[a as usize] & CLASS[b as usize] & CLASS[c as usize] & CLASS[e as usize];
            if all & NAME_PLAIN == 0 {
                break;
            }
            pos += 4;
        }
        while pos < lim && CLASS[d[pos] as usize] & NAME_PLAIN != 0 {
            pos += 1;
        }
        match d.get(pos) {
            Some(&b':') if pos < lim => {
                colons += 1;
                colon = pos;
            }
            Some(&b) if pos < lim && b >= 0x80 => high = true,
            _ => break,
        }
        pos += 1;
    }
    NameRun {
        end: pos,
        colons,
        colon,
        high,
    }
}

/// XML 1.0 `Char`.
pub(crate) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fn is_name_start_char(c: char) -> bool {
    matches!(c as u32,
        0x3A | 0x41..=0x5A | 0x5F | 0x61..=0x7A | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF
        | 0x370..=0x37D | 0x37F..=0x1FFF | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF
        | 0x3001..=0xD7FF | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

fn is_name_char_full(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c as u32, 0x2D | 0x2E | 0x30..=0x39 | 0xB7 | 0x300..=0x36F | 0x203F..=0x2040)
}

/// Byte-slice equality for the short strings of XML names; avoids a libc
/// `memcmp` call per comparison, which dominated profiles.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Names are short: up to 8 bytes, two (overlapping) loads per side.
    let n = a.len();
    if n <= 8 {
        return if n >= 4 {
            word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4)
        } else {
            let mut diff = 0u8;
            for (x, y) in a.iter().zip(b) {
                diff |= x ^ y;
            }
            diff == 0
        };
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y {
            return false;
        }
    }
    // The last 8 bytes, overlapping the chunks.
    word8(a, n - 8) == word8(b, n - 8)
}

/// The 4 bytes of `s` at `at` (which has room for them).
#[inline(always)]
fn word4(s: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]])
}

/// The 8 bytes of `s` at `at` (which has room for them).
#[inline(always)]
fn word8(s: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes([
        s[at],
        s[at + 1],
        s[at + 2],
        s[at + 3],
        s[at + 4],
        s[at + 5],
        s[at + 6],
        s[at + 7],
    ])
}

/// Outcome of checking a QName.
pub(crate) enum QName {
    Ok { colon: Option<usize> },
    BadUtf8,
    Invalid,
}

/// Check `b` as a Namespaces-in-XML QName (`NCName` or `NCName:NCName`).
/// The first byte is known to be a name-start byte and the rest name bytes.
pub(crate) fn check_qname(b: &[u8]) -> QName {
    // One pass: where the (single) colon is, and whether the slow path is needed.
    let mut colon = None;
    let mut colons = 0u32;
    let mut high = false;
    for (i, &x) in b.iter().enumerate() {
        if x == b':' {
            colons += 1;
            colon = Some(i);
        }
        high |= x >= 0x80;
    }
    if let Some(c) = colon {
        if colons > 1 || c == 0 || c + 1 == b.len() {
            return QName::Invalid;
        }
    }
    if !high {
        // ASCII fast path: the class table already vetted every byte except
        // that the local part after a colon must start with a name-start char.
        if let Some(c) = colon {
            if !is_name_start(b[c + 1]) {
                return QName::Invalid;
            }
        }
        return if b.first().is_some_and(|&f| is_name_start(f)) {
            QName::Ok { colon }
        } else {
            QName::Invalid
        };
    }
    let Ok(s) = std::str::from_utf8(b) else {
        return QName::BadUtf8;
    };
    let mut at_start = true;
    for ch in s.chars() {
        if ch == ':' {
            at_start = true;
            continue;
        }
        let ok = if at_start {
            is_name_start_char(ch)
        } else {
            is_name_char_full(ch)
        };
        if !ok {
            return QName::Invalid;
        }
        at_start = false;
    }
    QName::Ok { colon }
}

/// Whether `s` is a valid `NCName` (no colon).
pub(crate) fn is_ncname(s: &str) -> bool {
    !s.is_empty()
        && !s.contains(':')
        && s.bytes().all(is_name_char)
        && matches!(check_qname(s.as_bytes()), QName::Ok { .. })
}

/// One UTF-8 sequence, checked by [`utf8_char`].
pub(crate) enum Utf8 {
    /// A valid XML character of this many bytes.
    Char(usize),
    /// Valid so far, but cut off by the end of the input.
    Short,
    /// Not UTF-8.
    Bad,
    /// Valid UTF-8 for U+FFFE or U+FFFF, which XML forbids.
    NonChar(u32),
}

/// Check the UTF-8 sequence at the start of `s` (whose first byte is
/// non-ASCII), with the byte ranges of Unicode Table 3-7, so overlong
/// forms, surrogates and code points above U+10FFFF are `Bad`. Bytes are
/// judged in order, so a wrong byte already present is `Bad` even when
/// later ones are missing, as `str::from_utf8` reports it.
#[inline(always)]
pub(crate) fn utf8_char(s: &[u8]) -> Utf8 {
    let Some(&b0) = s.first() else {
        return Utf8::Short;
    };
    let (w, lo, hi) = match b0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return Utf8::Bad,
    };
    let Some(&b1) = s.get(1) else {
        return Utf8::Short;
    };
    if !(lo..=hi).contains(&b1) {
        return Utf8::Bad;
    }
    for i in 2..w {
        match s.get(i) {
            None => return Utf8::Short,
            Some(&b) if b & 0xC0 != 0x80 => return Utf8::Bad,
            Some(_) => {}
        }
    }
    if b0 == 0xEF && b1 == 0xBF {
        match s.get(2) {
            Some(0xBE) => return Utf8::NonChar(0xFFFE),
            Some(0xBF) => return Utf8::NonChar(0xFFFF),
            _ => {}
        }
    }
    Utf8::Char(w)
}

/// Result of checking a run of character data.
pub(crate) struct RunCheck {
    /// Bytes accepted (all of the run, or up to an incomplete trailing UTF-8 sequence).
    pub(crate) valid: usize,
    /// The run contains `\r` (text) or `\t \n \r` (attribute) and so needs normalising.
    pub(crate) needs_norm: bool,
}

/// Validate a run of text or attribute value: UTF-8, XML `Char`s only.
/// With `complete == false`, a truncated UTF-8 sequence at the end is left
/// for the next call instead of being an error.
#[inline]
pub(crate) fn check_run(
    run: &[u8],
    attr: bool,
    complete: bool,
) -> Result<RunCheck, crate::XmlError> {
    // Common case first: printable ASCII only, checked 8 bytes at a time.
    if is_plain_ascii(run) {
        return Ok(RunCheck {
            valid: run.len(),
            needs_norm: false,
        });
    }
    check_run_slow(run, attr, complete)
}

/// The bytes that end a text run in [`plain_run`]: `<`, `>` (their
/// codes differ in one bit, so one test finds both) and `&`.
pub(crate) const TEXT_STOPS: Stops = Stops::new(b'<', b'>', b'&');

/// The bytes that end an attribute value quoted with `quote` in
/// [`plain_run`]: the quote, `&` (one bit apart from either quote) and `<`.
#[inline(always)]
pub(crate) fn value_stops(quote: u8) -> Stops {
    if quote == b'"' {
        Stops::new(b'"', b'&', b'<')
    } else {
        Stops::new(b'\'', b'&', b'<')
    }
}

/// Three bytes [`plain_run`] stops at, the first two one bit apart: a
/// byte `b` is one of those two if `b | bit == pair`, which a word tests
/// with two operations and one zero-byte test, one fewer than two bytes
/// apart would take.
#[derive(Clone, Copy)]
pub(crate) struct Stops {
    bit: u8,
    pair: u8,
    third: u8,
}

impl Stops {
    const fn new(a: u8, b: u8, third: u8) -> Stops {
        let bit = a ^ b;
        assert!(bit.count_ones() == 1 && a < 0x80 && b < 0x80 && third < 0x80);
        Stops {
            bit,
            pair: a | bit,
            third,
        }
    }

    #[inline(always)]
    fn hit(self, x: u8) -> bool {
        x | self.bit == self.pair || x == self.third
    }
}

/// Length of the leading run of `s` that holds only printable ASCII
/// (0x20..=0x7F) other than the `stops`: one pass that both searches for
/// the run's end and validates it, 8 bytes at a time. It beats `memchr3`
/// plus [`check_run`] on the short runs of XMPP (attribute values, short
/// bodies), where memchr's setup dominates.
#[inline(always)]
pub(crate) fn plain_run(s: &[u8], stops: Stops) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let bit = ONES * stops.bit as u64;
    let pair = ONES * stops.pair as u64;
    let third = ONES * stops.third as u64;
    let mut i = 0;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (zp, zt) = ((x | bit) ^ pair, x ^ third);
        // A byte's high bit is set for: a stop (zero after the xor, wraps
        // when 1 is taken), below 0x20 (wraps when 0x20 is taken), or
        // non-ASCII (`| x`). With no borrow from below, a subtraction sets
        // the high bit of no other byte: the stops are ASCII, so zp and zt
        // are >= 0x80 only where x is non-ASCII. Borrows start only at a
        // hit and run upwards, so the lowest flagged byte is always a real hit.
        let m =
            (zp.wrapping_sub(ONES) | zt.wrapping_sub(ONES) | x.wrapping_sub(ONES * 0x20) | x) & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    for &x in words.remainder() {
        if stops.hit(x) || !(0x20..0x80).contains(&x) {
            break;
        }
        i += 1;
    }
    i
}

/// Whether `s` has only bytes 0x20..=0x7F (no control byte, nothing non-ASCII).
#[inline(always)]
pub(crate) fn is_plain_ascii(s: &[u8]) -> bool {
    const LO: u64 = 0x2020_2020_2020_2020;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut acc = 0u64;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // High bit set in a byte: non-ASCII; set by the subtraction: this
        // byte is below 0x20 (or non-ASCII), or a lower one is and borrowed.
        acc |= x | x.wrapping_sub(LO);
    }
    let mut tail = 0u8;
    for &b in words.remainder() {
        tail |= b | ((b < 0x20) as u8) << 7;
    }
    acc & HI == 0 && tail & 0x80 == 0
}

#[inline(never)]
fn check_run_slow(run: &[u8], attr: bool, complete: bool) -> Result<RunCheck, crate::XmlError> {
    // One branch-free pass the compiler vectorises: control bytes, CR (and in
    // attributes TAB/LF), and whether any non-ASCII byte needs the slow path.
    let mut bad = false;
    let mut norm = false;
    let mut high = false;
    // 0xEF leads U+FFFE and U+FFFF, the only non-Chars valid UTF-8 can carry here.
    let mut ef = false;
    for &b in run {
        bad |= (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        norm |= (b == b'\r') | (attr & ((b == b'\t') | (b == b'\n')));
        high |= b >= 0x80;
        ef |= b == 0xEF;
    }
    // Report the first offending byte, so the error never depends on where
    // the input was split.
    let ctrl = if bad {
        run.iter()
            .position(|&b| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r')
    } else {
        None
    };
    let checked = &run[..ctrl.unwrap_or(run.len())];
    let mut valid = run.len();
    if high {
        match std::str::from_utf8(checked) {
            Ok(s) if ef => check_nonchars(s)?,
            Ok(_) => {}
            Err(e) => {
                // valid_up_to is always the end of a valid UTF-8 prefix.
                let ok = std::str::from_utf8(&checked[..e.valid_up_to()])
                    .map_err(|_| crate::XmlError::InvalidUtf8)?;
                if ef {
                    check_nonchars(ok)?;
                }
                if e.error_len().is_some() || complete || ctrl.is_some() {
                    return Err(crate::XmlError::InvalidUtf8);
                }
                valid = e.valid_up_to();
            }
        }
    }
    if let Some(p) = ctrl {
        return Err(crate::XmlError::IllegalChar(run[p] as u32));
    }
    Ok(RunCheck {
        valid,
        needs_norm: norm,
    })
}

#[inline]
fn check_nonchars(s: &str) -> Result<(), crate::XmlError> {
    // U+FFFE and U+FFFF are the only non-Chars valid UTF-8 can carry above U+001F
    // (surrogates cannot be encoded in valid UTF-8); both start with 0xEF 0xBF.
    let bytes = s.as_bytes();
    let mut at = 0;
    while let Some(i) = memchr::memchr(0xEF, &bytes[at..]) {
        let p = at + i;
        if bytes.get(p + 1) == Some(&0xBF) {
            match bytes.get(p + 2) {
                Some(0xBE) => return Err(crate::XmlError::IllegalChar(0xFFFE)),
                Some(0xBF) => return Err(crate::XmlError::IllegalChar(0xFFFF)),
                _ => {}
            }
        }
        at = p + 1;
    }
    Ok(())
}

#[cfg(test)]
mod word_tests {
    use super::*;

    /// `same` against `==`, at every length up to 20 and with one byte
    /// changed at every position.
    #[test]
    fn same_matches_eq() {
        for n in 0..20usize {
            let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
            assert!(same(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!same(&a, &b), "{n} {i}");
            }
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    /// The word-at-a-time scans against byte-by-byte definitions, on random
    /// bytes weighted towards the edges (0x00, 0x1F/0x20, 0x7F/0x80, the
    /// stop bytes) and with every stop byte the scanner passes.
    #[test]
    fn word_scans_match_bytewise() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const EDGES: &[u8] = b"\x00\x01\x1f\x20\x21\x7e\x7f\x80\x81\xff<&>'\"\t\n\r]a";
        for round in 0..200_000 {
            // Every other string mostly plain, so that runs cross blocks.
            let len = (next() % 80) as usize;
            let edge_rate = if round % 2 == 0 { 3 } else { 40 };
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % edge_rate == 0 {
                        EDGES[(r >> 8) as usize % EDGES.len()]
                    } else if r % 3 == 1 || edge_rate > 3 {
                        b'a' + (r >> 8) as u8 % 26
                    } else {
                        (r >> 8) as u8
                    }
                })
                .collect();
            for (stops, (a, b, c)) in [
                (TEXT_STOPS, (b'<', b'&', b'>')),
                (value_stops(b'\''), (b'\'', b'&', b'<')),
                (value_stops(b'"'), (b'"', b'&', b'<')),
            ] {
                let want = s
                    .iter()
                    .position(|&x| x == a || x == b || x == c || !(0x20..0x80).contains(&x))
                    .unwrap_or(s.len());
                assert_eq!(plain_run(&s, stops), want, "{s:?}");
            }
            let want = s.iter().all(|&x| (0x20..0x80).contains(&x));
            assert_eq!(is_plain_ascii(&s), want, "{s:?}");
        }
    }

    /// The block name scan against a byte-by-byte definition, at every
    /// limit, on names of name bytes, colons, non-ASCII bytes and enders.
    #[test]
    fn name_scan_matches_bytewise() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const BYTES: &[u8] = b"azAZ09_-.:\xc3\xa9 =>/'\t\x00\x7f\xff";
        for _ in 0..100_000 {
            let len = (next() % 48) as usize;
            let rare = 4 + next() % 60;
            let d: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % rare == 0 {
                        BYTES[(r >> 8) as usize % BYTES.len()]
                    } else {
                        b"abcxyzQ-._09"[(r >> 8) as usize % 12]
                    }
                })
                .collect();
            let pos = (next() % 4) as usize;
            let lim = (next() % 50) as usize;
            let (mut end, mut colons, mut colon, mut high) = (pos, 0, 0, false);
            let l = lim.min(d.len());
            while end < l && is_name_char(d[end]) {
                if d[end] == b':' {
                    colons += 1;
                    colon = end;
                }
                high |= d[end] >= 0x80;
                end += 1;
            }
            let r = scan_name(&d, pos, lim);
            assert_eq!(
                (r.end, r.colons, r.high),
                (end, colons, high),
                "{d:?} {pos} {lim}"
            );
            if colons > 0 {
                assert_eq!(r.colon, colon, "{d:?} {pos} {lim}");
            }
        }
    }
}
