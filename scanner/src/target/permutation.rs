//! A keyed pseudo-random permutation of `[0, n)`, so a sweep visits every (address,
//! port) exactly once in an order where no subnet or host is hit in a burst.
//!
//! A four-round Feistel network (SipHash as the round function) permutes the
//! smallest even-bit power-of-two domain that holds `n`; cycle walking (apply again
//! until the value falls inside `[0, n)`) turns that into a bijection on `[0, n)`
//! itself. The domain is under 4n, so a walk takes fewer than four steps on average.
//!
//! Because `index → element` is a pure function, sharding (`--shard I/N`: indexes
//! congruent to I mod N) and resuming (an index to start from) need no coordination.

use scanner_common::cookie::siphash_u64;

const ROUNDS: usize = 4;

#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    half_mask: u64,
    round_keys: [[u64; 2]; ROUNDS],
}

impl Permutation {
    /// A permutation of `[0, n)` chosen by `seed`.
    pub fn new(n: u64, seed: u64) -> Self {
        assert!(n > 0, "cannot permute an empty space");
        let bits = (64 - (n - 1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut round_keys = [[0u64; 2]; ROUNDS];
        for (round, key) in round_keys.iter_mut().enumerate() {
            let base = [0x7065_726d_7574_6521, round as u64];
            *key = [siphash_u64(&base, seed), siphash_u64(&base, !seed)];
        }
        Self {
            n,
            half_bits,
            half_mask: (1u64 << half_bits) - 1,
            round_keys,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The element at position `index` (`index < len()`).
    pub fn apply(&self, index: u64) -> u64 {
        debug_assert!(index < self.n);
        let mut x = index;
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mut left = x >> self.half_bits;
        let mut right = x & self.half_mask;
        for key in &self.round_keys {
            let mixed = left ^ (siphash_u64(key, right) & self.half_mask);
            left = right;
            right = mixed;
        }
        (left << self.half_bits) | right
    }
}

/// One slice of a sweep: positions `index, index + count, index + 2·count, …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };
    /// The most shards a sweep may be cut into: one per (address, port) pair of
    /// the whole IPv4 space at most, so that splitting a shard again per sender
    /// thread ([`Shard::split`]) cannot overflow.
    pub const MAX_COUNT: u64 = 1 << 48;

    /// Parses `I/N` (0 ≤ I < N), as in `--shard 2/8`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (index, count) = text.split_once('/').ok_or_else(|| {
            anyhow::anyhow!("--shard wants I/N, such as 0/4 (shards count from 0)")
        })?;
        let index: u64 = index.trim().parse()?;
        let count: u64 = count.trim().parse()?;
        if count == 0 || index >= count {
            anyhow::bail!("--shard {index}/{count}: need 0 <= I < N");
        }
        if count > Self::MAX_COUNT {
            anyhow::bail!(
                "--shard {index}/{count}: at most {} shards (2^48, one per address and port)",
                Self::MAX_COUNT
            );
        }
        Ok(Self { index, count })
    }

    /// The `k`-th position of this shard in a space of `n`, if there is one.
    pub fn position(&self, k: u64, n: u64) -> Option<u64> {
        let position = k.checked_mul(self.count)?.checked_add(self.index)?;
        (position < n).then_some(position)
    }

    /// How many positions of a space of `n` this shard holds.
    pub fn len(&self, n: u64) -> u64 {
        if self.index >= n {
            0
        } else {
            (n - self.index).div_ceil(self.count)
        }
    }

    /// This shard split again into `parts` (one per sender thread): part `p` of it.
    pub fn split(&self, p: u64, parts: u64) -> Shard {
        Shard {
            index: self.index + p * self.count,
            count: self.count * parts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(n: u64, seed: u64) -> Vec<u64> {
        let perm = Permutation::new(n, seed);
        (0..n).map(|i| perm.apply(i)).collect()
    }

    #[test]
    fn visits_every_element_exactly_once_for_many_sizes() {
        for n in [
            1u64, 2, 3, 5, 7, 16, 17, 255, 256, 1000, 4097, 65_537, 100_003,
        ] {
            let mut seen = visit(n, 42);
            seen.sort_unstable();
            assert!(seen.iter().copied().eq(0..n), "n = {n}");
        }
    }

    #[test]
    fn order_depends_on_the_seed_and_is_scattered() {
        let a = visit(10_000, 1);
        assert_eq!(a, visit(10_000, 1));
        assert_ne!(a, visit(10_000, 2));
        // Neighbouring positions land far apart: few consecutive pairs are adjacent.
        let adjacent = a.windows(2).filter(|w| w[0].abs_diff(w[1]) == 1).count();
        assert!(adjacent < 20, "{adjacent} adjacent pairs");
    }

    #[test]
    fn shards_are_disjoint_and_complete() {
        let n = 10_007;
        let perm = Permutation::new(n, 9);
        let mut all = Vec::new();
        for index in 0..5 {
            let shard = Shard { index, count: 5 };
            let mut k = 0;
            while let Some(position) = shard.position(k, n) {
                all.push(perm.apply(position));
                k += 1;
            }
            assert_eq!(k, shard.len(n));
        }
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..n));
    }

    #[test]
    fn shard_counts_that_would_overflow_a_split_are_refused() {
        let last = format!("{}/{}", u64::MAX - 1, u64::MAX);
        let err = Shard::parse(&last).unwrap_err().to_string();
        assert!(err.contains("at most"), "{err}");
        let most = Shard::parse(&format!("{}/{}", Shard::MAX_COUNT - 1, Shard::MAX_COUNT)).unwrap();
        // One part per sender thread, as many as a machine has CPUs.
        let part = most.split(1023, 1024);
        assert_eq!(part.count, Shard::MAX_COUNT * 1024);
    }

    #[test]
    fn split_shards_partition_their_parent() {
        let n = 1000;
        let parent = Shard { index: 1, count: 3 };
        let mut from_parts: Vec<u64> = (0..4)
            .flat_map(|p| {
                let part = parent.split(p, 4);
                (0..).map_while(move |k| part.position(k, n))
            })
            .collect();
        from_parts.sort_unstable();
        let direct: Vec<u64> = (0..).map_while(|k| parent.position(k, n)).collect();
        assert_eq!(from_parts, direct);
    }

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        assert!(Shard::parse("8/8").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("0/0").is_err());
    }
}
