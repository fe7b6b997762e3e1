//! Quick ratios to quick-xml's `Reader` on a busy machine: the framing
//! modes and the baseline take turns, pass by pass, and each keeps its
//! fastest pass, so load that comes and goes hits them alike. For a
//! first look while working; `cargo xtask bench` (criterion) is the measure.
//!
//! `cargo run --release -p benches --example ratio -- [realistic|small] [rounds]`

#[path = "../benches/framing/walk.rs"]
mod walk;

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use walk::walk;
use xmpp_xml::{BorrowedFrame, Frame, Framer, RawFrame};

fn quick_xml(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(e) => {
                black_box(&e);
                n += 1;
            }
        }
    }
}

fn chunked(bytes: &[u8], mode: &str) -> usize {
    let mut f = Framer::default();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut n = 0;
    for piece in bytes.chunks(benches::CHUNK) {
        buf.extend_from_slice(piece);
        match mode {
            "raw" => {
                while let Some(fr) = f.decode_raw(&mut buf).expect("valid") {
                    if let RawFrame::Element(e) = fr {
                        black_box((e.name(), e.ns(), e.attr("id"), e.bytes().len()));
                        n += 1;
                    }
                }
            }
            "borrowed" => {
                while let Some(fr) = f.decode_borrowed(&mut buf).expect("valid") {
                    if let BorrowedFrame::Element(e) = fr {
                        black_box((e.name(), e.ns(), e.attr("id"), e.bytes().len()));
                        n += 1;
                    }
                }
            }
            _ => {
                while let Some(fr) = f.decode(&mut buf).expect("valid") {
                    if let Frame::Element(e) = fr {
                        if mode == "walk" {
                            walk(&e);
                        }
                        black_box(&e);
                        n += 1;
                    }
                }
            }
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let corpus = match args.get(1).map(String::as_str) {
        Some("small") => benches::small(),
        _ => benches::realistic(),
    };
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let bytes = corpus.bytes.as_slice();
    let modes = ["quick-xml", "raw", "borrowed", "elements", "walk"];
    let mut best = [f64::MAX; 5];
    for _ in 0..rounds {
        for (i, m) in modes.iter().enumerate() {
            let t = Instant::now();
            let n = if *m == "quick-xml" {
                quick_xml(black_box(bytes))
            } else {
                chunked(black_box(bytes), m)
            };
            black_box(n);
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{} corpus, fastest of {rounds} passes each, interleaved",
        corpus.name
    );
    for (i, m) in modes.iter().enumerate() {
        println!(
            "{m:<10} {:>8.1} us  {:.2}x quick-xml",
            best[i] * 1e6,
            best[0] / best[i]
        );
    }
}
