//! The fuzzers' random generator.

/// xorshift64*: deterministic for a seed, so `--seed` reproduces a run, and
/// dependency-free.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`. xorshift never leaves the all-zero state,
    /// so a zero seed is taken as 1.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// A number in `0..n`, or 0 when `n` is 0 (so an empty range needs no special case).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut z = Rng::new(0);
        assert_ne!(z.next_u64(), 0, "a zero seed must not stall the generator");
        assert_eq!(Rng::new(7).below(0), 0);
        assert!((0..100).all(|_| a.below(3) < 3));
    }
}
