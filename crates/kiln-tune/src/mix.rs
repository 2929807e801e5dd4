//! Seed and hash mixing: SplitMix64, so that nearby inputs (trial 7, trial 8) give unrelated
//! seeds and hashes on every platform.

/// SplitMix64's finaliser of `x` (Steele, Lea and Flood, 2014): a bijection on `u64` whose
/// outputs look independent for consecutive inputs.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
