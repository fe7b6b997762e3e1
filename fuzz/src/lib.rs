//! What the two stable-toolchain fuzzers share: the random generator, the byte
//! mutations and the driver loop (options, corpus with outcome feedback, artifacts).
//!
//! cargo-fuzz needs nightly, so each fuzzer is a self-contained mutation fuzzer: a
//! binary in `fuzz_targets/` implements [`Target`] (its seeds, how it mutates a case,
//! what it checks) and hands it to [`driver::main`]:
//!
//! - `decode_chunked`: xmpp-xml's `StreamCodec` and `Framer`, whole against chunked;
//! - `sasl_mechanisms`: every xmpp-sasl mechanism, client and server.

pub mod driver;
pub mod mutate;
pub mod rng;

pub use driver::Target;
pub use mutate::Mutator;
pub use rng::Rng;
