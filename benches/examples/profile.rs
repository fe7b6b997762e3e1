//! Drive one framing mode over a corpus N times, for profilers
//! (`valgrind --tool=callgrind`, `perf record`), where criterion's own
//! work would blur the picture.
//!
//! `cargo run --release -p benches --example profile -- <realistic|small|large> <raw|borrowed|elements|raw-whole|borrowed-whole|elements-whole|quick-xml|dump> [iterations]`
//!
//! `quick-xml` iterates quick-xml `Reader` events over the whole corpus (the
//! bench baseline), so instruction counts can be compared as ratios; `dump`
//! writes the corpus to stdout.

use std::hint::black_box;

use bytes::BytesMut;
use xmpp_xml::{BorrowedFrame, Frame, Framer, RawFrame};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let corpus = match args.get(1).map(String::as_str) {
        Some("small") => benches::small(),
        Some("large") => benches::large(),
        _ => benches::realistic(),
    };
    let mode = args.get(2).map(String::as_str).unwrap_or("raw");
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    if mode == "dump" {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&corpus.bytes);
        return;
    }
    let t0 = std::time::Instant::now();
    let report = |t0: std::time::Instant| {
        // For quick wall-clock comparisons; criterion (`cargo xtask bench`) is the measure.
        eprintln!(
            "{mode}: {:.1} us per pass",
            t0.elapsed().as_secs_f64() * 1e6 / iters.max(1) as f64
        );
    };
    if mode == "quick-xml" {
        for _ in 0..iters {
            let mut r = quick_xml::Reader::from_reader(corpus.bytes.as_slice());
            loop {
                match r.read_event() {
                    Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                    Ok(e) => {
                        black_box(&e);
                    }
                }
            }
        }
        report(t0);
        return;
    }
    // `raw-whole` / `elements-whole`: the corpus in one piece.
    let (mode, chunk) = match mode.strip_suffix("-whole") {
        Some(m) => (m, corpus.bytes.len()),
        None => (mode, benches::CHUNK),
    };

    let mut total = 0;
    for _ in 0..iters {
        let mut f = Framer::new(xmpp_xml::Limits {
            max_stanza_bytes: 4 << 20,
            ..Default::default()
        });
        let mut buf = BytesMut::with_capacity(8 * 1024);
        for piece in corpus.bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            if mode == "borrowed" {
                while let Some(fr) = f.decode_borrowed(&mut buf).expect("corpus is valid") {
                    if let BorrowedFrame::Element(e) = fr {
                        black_box((e.name(), e.ns(), e.attr("id"), e.bytes().len()));
                        total += 1;
                    }
                }
            } else if mode == "raw" {
                while let Some(fr) = f.decode_raw(&mut buf).expect("corpus is valid") {
                    if let RawFrame::Element(e) = fr {
                        black_box((e.name(), e.ns(), e.attr("id"), e.bytes().len()));
                        total += 1;
                    }
                }
            } else {
                while let Some(fr) = f.decode(&mut buf).expect("corpus is valid") {
                    if let Frame::Element(e) = fr {
                        black_box(&e);
                        total += 1;
                    }
                }
            }
        }
    }
    report(t0);
    assert_eq!(total, iters * corpus.stanzas);
}
