//! The three sketches a profile keeps per column, each mergeable and stated with its error:
//! quantiles (DDSketch), distinct counts (HyperLogLog) and frequent values (Misra-Gries, as in
//! Apache DataSketches). Serialised as base64 of their standard binary formats where they
//! have one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datasketches::common::NumStdDev;
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::hll::{HllSketch, HllType, HllUnion};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sketches_ddsketch::{Config, DDSketch};

/// Relative accuracy of quantile estimates: each lies within this fraction of a true value of
/// the requested rank (DDSketch's guarantee, for values of magnitude above 1e-9).
pub const QUANTILE_RELATIVE_ERROR: f64 = 0.01;
/// Most buckets a quantile sketch keeps (enough for 1e-9 to 1e9 at 1% accuracy).
const QUANTILE_BUCKETS: u32 = 2048;
/// Magnitudes below this are counted as zero by the quantile sketch.
const QUANTILE_MIN_MAGNITUDE: f64 = 1e-9;
/// log2 of the HyperLogLog register count: 4096 registers, relative standard error 1.6%.
const HLL_LG_K: u8 = 12;
/// Counters in the frequent-items sketch (a power of two); counts are exact to within
/// total / (0.75 × this).
const FREQUENT_COUNTERS: usize = 1024;

/// Quantiles of a numeric column (DDSketch with 1% relative accuracy).
#[derive(Clone)]
pub struct Quantiles(DDSketch);

impl Serialize for Quantiles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // An empty sketch holds infinite bounds, which JSON cannot write: it is written as null.
        (self.0.count() > 0).then_some(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Quantiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let sketch = Option::<DDSketch>::deserialize(d)?;
        Ok(sketch.map_or_else(Self::new, Self))
    }
}

impl std::fmt::Debug for Quantiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quantiles(n={})", self.0.count())
    }
}

impl Quantiles {
    /// An empty sketch.
    pub fn new() -> Self {
        Self(DDSketch::new(Config::new(
            QUANTILE_RELATIVE_ERROR,
            QUANTILE_BUCKETS,
            QUANTILE_MIN_MAGNITUDE,
        )))
    }

    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.0.add(v);
    }

    /// Adds another sketch's values.
    pub fn merge(&mut self, other: &Quantiles) {
        // Both sketches are built by `new` with the same configuration, so merging cannot fail.
        let _ = self.0.merge(&other.0);
    }

    /// The estimated `q`-quantile (0 = minimum, 1 = maximum), if any value was added.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q.clamp(0.0, 1.0)).ok().flatten()
    }
}

impl Default for Quantiles {
    fn default() -> Self {
        Self::new()
    }
}

/// Distinct non-missing values (HyperLogLog, 4096 registers).
#[derive(Clone)]
pub struct Distinct(HllSketch);

impl std::fmt::Debug for Distinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Distinct(~{:.0})", self.0.estimate())
    }
}

impl Distinct {
    /// An empty sketch.
    pub fn new() -> Self {
        Self(HllSketch::new(HLL_LG_K, HllType::Hll8).expect("valid HLL size"))
    }

    /// Adds a number, given by its canonical bits.
    pub fn add_number(&mut self, bits: u64) {
        self.0.update(bits);
    }

    /// Adds a text value.
    pub fn add_text(&mut self, s: &str) {
        self.0.update(s);
    }

    /// Adds another sketch's values.
    pub fn merge(&mut self, other: &Distinct) {
        let mut union = HllUnion::new(HLL_LG_K).expect("valid HLL size");
        union.update(&self.0);
        union.update(&other.0);
        self.0 = union.to_sketch(HllType::Hll8);
    }

    /// The estimate with its 95% bounds (two standard errors).
    pub fn estimate(&self) -> (f64, f64, f64) {
        (
            self.0.estimate(),
            self.0.lower_bound(NumStdDev::Two),
            self.0.upper_bound(NumStdDev::Two),
        )
    }
}

impl Default for Distinct {
    fn default() -> Self {
        Self::new()
    }
}

impl Serialize for Distinct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(self.0.serialize()))
    }
}

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = decode(d)?;
        HllSketch::deserialize(&bytes)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("distinct-count sketch: {e}")))
    }
}

/// Frequent text values (Misra-Gries with 1024 counters).
#[derive(Clone)]
pub struct Frequent(FrequentItemsSketch<String>);

impl std::fmt::Debug for Frequent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frequent(total={})", self.0.total_weight())
    }
}

impl Frequent {
    /// An empty sketch.
    pub fn new() -> Self {
        Self(FrequentItemsSketch::new(FREQUENT_COUNTERS).expect("valid counter count"))
    }

    /// Adds `count` occurrences of `s`.
    pub fn add(&mut self, s: &str, count: u64) {
        self.0.update_with_count_ref(s, count);
    }

    /// Adds another sketch's counts.
    pub fn merge(&mut self, other: &Frequent) {
        self.0.merge(&other.0);
    }

    /// Up to `k` most frequent values with estimated counts, most frequent first.
    pub fn top(&self, k: usize) -> Vec<(String, u64)> {
        let mut rows: Vec<(String, u64)> = self
            .0
            .frequent_items(ErrorType::NoFalsePositives)
            .into_iter()
            .map(|r| (r.item().clone(), r.estimate()))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows.truncate(k);
        rows
    }

    /// The estimated count of `s` (exact to within [`Frequent::max_error`]).
    pub fn estimate(&self, s: &str) -> u64 {
        self.0.estimate(s)
    }

    /// The largest error of any count.
    pub fn max_error(&self) -> u64 {
        self.0.maximum_error()
    }
}

impl Default for Frequent {
    fn default() -> Self {
        Self::new()
    }
}

impl Serialize for Frequent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(self.0.serialize()))
    }
}

impl<'de> Deserialize<'de> for Frequent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = decode(d)?;
        FrequentItemsSketch::deserialize(&bytes)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("frequent-items sketch: {e}")))
    }
}

fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_their_relative_error() {
        let mut q = Quantiles::new();
        (1..=10_000).for_each(|i| q.add(i as f64));
        let median = q.quantile(0.5).unwrap();
        assert!((median - 5000.0).abs() <= 5000.0 * QUANTILE_RELATIVE_ERROR + 1.0);
        assert_eq!(q.quantile(0.0), Some(1.0));
        assert_eq!(q.quantile(1.0), Some(10_000.0));
    }

    #[test]
    fn sketches_merge_and_round_trip() {
        let (mut a, mut b) = (Distinct::new(), Distinct::new());
        (0..3000u64).for_each(|i| a.add_number(i));
        (2000..5000u64).for_each(|i| b.add_number(i));
        a.merge(&b);
        let (est, lo, hi) = a.estimate();
        assert!(lo <= 5000.0 && 5000.0 <= hi, "{est} in [{lo}, {hi}]");
        let back: Distinct = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back.estimate(), a.estimate());

        let mut f = Frequent::new();
        f.add("a", 10);
        f.add("b", 3);
        let back: Frequent = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back.top(2), vec![("a".into(), 10), ("b".into(), 3)]);
    }

    #[test]
    fn corrupt_sketches_are_an_error_not_a_panic() {
        assert!(serde_json::from_str::<Distinct>("\"bm90IGEgc2tldGNo\"").is_err());
        assert!(serde_json::from_str::<Frequent>("\"%%%\"").is_err());
    }
}
