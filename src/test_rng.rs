//! The unit tests' source of random cases: xorshift32, deterministic
//! so a failure repeats.

pub(crate) struct XorShift(u32);

impl XorShift {
    /// A generator from a non-zero seed.
    pub(crate) fn new(seed: u32) -> XorShift {
        assert_ne!(seed, 0);
        XorShift(seed)
    }

    /// The next number.
    pub(crate) fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A number below `n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }

    /// Fewer than `max` bytes, each picked from `alphabet`.
    pub(crate) fn bytes(&mut self, max: usize, alphabet: &[u8]) -> Vec<u8> {
        let n = self.below(max);
        (0..n).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }
}
