//! Byte-level mutations: the edits both fuzzers apply to their inputs, with each
//! fuzzer's own tokens (fragments of its syntax) and size bounds.

use crate::Rng;

/// A configured set of byte edits.
pub struct Mutator {
    /// Fragments of the target's syntax, inserted whole: they reach the parser's
    /// states far sooner than random bytes do.
    pub tokens: &'static [&'static [u8]],
    /// Each call applies from 1 to this many edits.
    pub max_edits: usize,
    /// The result is cut to this many bytes, so inputs cannot grow without bound.
    pub max_len: usize,
}

impl Mutator {
    /// Applies 1 to `max_edits` random edits to `data`; `donor` (another corpus
    /// entry, may be empty) supplies spliced-in slices.
    pub fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>, donor: &[u8]) {
        let d = data;
        for _ in 0..1 + rng.below(self.max_edits) {
            let i = rng.below(d.len() + 1);
            match rng.below(9) {
                0 if !d.is_empty() => {
                    let i = rng.below(d.len());
                    d[i] = rng.byte();
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
                    let t = self.tokens[rng.below(self.tokens.len())];
                    d.splice(i..i, t.iter().copied());
                }
                5 if !donor.is_empty() => {
                    let a = rng.below(donor.len());
                    let b = a + rng.below(donor.len() - a + 1);
                    d.splice(i..i, donor[a..b].iter().copied());
                }
                6 if !d.is_empty() => {
                    // Duplicate a region (deep nesting, repeated attributes or
                    // parameters, long runs), now and then hundreds of times.
                    let a = rng.below(d.len());
                    let b = (a + 1 + rng.below(32)).min(d.len());
                    let chunk = d[a..b].to_vec();
                    let most = if rng.below(8) == 0 { 400 } else { 8 };
                    for _ in 0..1 + rng.below(most) {
                        d.splice(a..a, chunk.iter().copied());
                    }
                }
                7 if !d.is_empty() => d.truncate(rng.below(d.len())),
                _ => d.insert(i.min(d.len()), rng.byte()),
            }
        }
        d.truncate(self.max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_stay_within_max_len() {
        let m = Mutator {
            tokens: &[b"<a>", b"</a>"],
            max_edits: 6,
            max_len: 64,
        };
        let mut rng = Rng::new(1);
        let mut d = b"<a>hello</a>".to_vec();
        for _ in 0..10_000 {
            m.mutate(&mut rng, &mut d, b"donor bytes");
            assert!(d.len() <= 64);
        }
    }
}
