//! Full RFC 6120 negotiations per second between a client core and a server
//! core in memory (issue 17): DIGEST-MD5 through the real mechanisms, every
//! frame through the real codec; and where the time goes.
//!
//! Group `negotiation`, one negotiation per iteration:
//! - `full`: the cores, the mechanisms and the codec: what a pair of shells
//!   does minus the sockets (see `negotiation/driver.rs`).
//! - `direct`: the same negotiation with the frames handed from core to
//!   core as built: the cores and the mechanisms, no XML.
//! - `mechanisms`: the DIGEST-MD5 exchange alone (client and server
//!   mechanism objects, the store lookup; no XML, no cores).
//! - `codec`: the XML alone: the frames of one negotiation encoded by the
//!   sender's codec and decoded by the receiver's, fresh codecs each time.
//! - `xml-floor`: the same bytes read and written back by quick-xml
//!   (`NsReader` events, attributes resolved, text decoded; `Writer`): less
//!   than any codec does, so `codec` can be set against it, and
//!   `mechanisms + xml-floor` against the target.
//!
//! `cargo xtask bench negotiation` runs it and prints negotiations/s and
//! the breakdown (`direct - mechanisms` is the cores' own work).

#[path = "negotiation/driver.rs"]
mod driver;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use driver::{Setup, Wire};

fn negotiation(c: &mut Criterion) {
    let setup = Setup::new();
    let mechanism_config = setup.mechanism_config();
    let transcript = driver::transcript(&setup);
    let wire = driver::wire_bytes(&setup);
    let mut g = c.benchmark_group("negotiation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("full", |b| {
        b.iter(|| black_box(driver::negotiate(&setup, Wire::Codec, None)))
    });
    g.bench_function("direct", |b| {
        b.iter(|| black_box(driver::negotiate(&setup, Wire::Direct, None)))
    });
    g.bench_function("mechanisms", |b| {
        b.iter(|| driver::mechanisms(&setup, &mechanism_config))
    });
    g.bench_function("codec", |b| {
        b.iter_batched(
            || transcript.clone(),
            |steps| black_box(driver::replay_codec(&setup, steps)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("xml-floor", |b| {
        b.iter(|| black_box(driver::quick_xml_floor(&wire)))
    });
    g.finish();
}

criterion_group!(benches, negotiation);
criterion_main!(benches);
