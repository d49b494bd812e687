//! The instance's random numbers: SplitMix64, seeded per instance, so a simulation replays the
//! same way from the same seed and inputs (tests rely on it). Written out here rather than taken
//! from `rand` because its output must never change with a dependency upgrade.

/// A small, fast, deterministic generator (SplitMix64; passes BigCrush). Not for secrets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[lo, hi)` (`lo` when the range is empty).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        if hi <= lo { lo } else { lo + (hi - lo) * self.unit() }
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// A uniformly random point in the disc of `radius` around `center`.
    pub fn in_disc(&mut self, center: crate::Vec2, radius: f32) -> crate::Vec2 {
        let r = radius * self.unit().sqrt();
        let a = self.unit() * std::f32::consts::TAU;
        crate::Vec2::new(center.x + r * a.cos(), center.y + r * a.sin())
    }
}
