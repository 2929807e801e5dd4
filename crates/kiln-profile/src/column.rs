//! One column's mergeable statistics: cells counted by kind, exact moments, a quantile sketch,
//! a distinct-count sketch, value counts (exact while there are few values, a frequent-items
//! sketch after), text lengths, and the values of the sampled rows for drift tests.

use crate::sketch::{Distinct, Frequent, Quantiles};
use kiln_data::Reading;
use kiln_data::{RawValue, classify};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Distinct values are counted exactly up to this many per column; beyond, sketches take over.
pub const EXACT_LIMIT: usize = 1000;

/// A cell quoted in a message: its 1-based file line and its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// 1-based line in the file (Parquet: row number).
    pub line: u64,
    /// The cell as written.
    pub value: String,
}

impl Example {
    /// Keeps whichever of `slot` and `candidate` comes first in the file.
    fn keep_first(slot: &mut Option<Example>, candidate: Option<&Example>) {
        if let Some(c) = candidate
            && slot.as_ref().is_none_or(|s| c.line < s.line)
        {
            *slot = Some(c.clone());
        }
    }
}

/// Count, mean, sum of squared deviations, minimum and maximum, merged exactly (Chan et al.).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Values seen.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Smallest value (+infinity, written as null, when there is none).
    #[serde(with = "bound::lower")]
    pub min: f64,
    /// Largest value (-infinity, written as null, when there is none).
    #[serde(with = "bound::upper")]
    pub max: f64,
}

/// JSON has no infinity: an empty set's bounds are written as null and read back.
mod bound {
    use serde::{Deserialize, Deserializer, Serializer};

    fn write<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => s.serialize_some(v),
            false => s.serialize_none(),
        }
    }

    /// A minimum: null reads as +infinity.
    pub mod lower {
        use super::*;
        /// Writes a finite value, or null.
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            write(v, s)
        }
        /// Reads a value, null as +infinity.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
        }
    }

    /// A maximum: null reads as -infinity.
    pub mod upper {
        use super::*;
        /// Writes a finite value, or null.
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            write(v, s)
        }
        /// Reads a value, null as -infinity.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
        }
    }
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Adds one value (Welford's update).
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Adds another set of values' moments.
    pub fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let n = (self.n + other.n) as f64;
        let delta = other.mean - self.mean;
        self.mean += delta * other.n as f64 / n;
        self.m2 += other.m2 + delta * delta * self.n as f64 * other.n as f64 / n;
        self.n += other.n;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Sample standard deviation (n - 1 in the denominator, as pandas), if n > 1.
    pub fn std(&self) -> Option<f64> {
        (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).max(0.0).sqrt())
    }
}

/// Exact counts of each distinct value, while there are at most [`EXACT_LIMIT`] of them.
#[derive(Debug, Clone, Default)]
pub struct ValueCounts {
    numbers: FxHashMap<u64, u64>,
    texts: FxHashMap<Box<str>, u64>,
}

impl ValueCounts {
    /// Distinct values held.
    pub fn len(&self) -> usize {
        self.numbers.len() + self.texts.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value (numbers written the short way) with its count, most frequent first, ties by
    /// value so the order is stable.
    pub fn sorted(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .numbers
            .iter()
            .map(|(bits, c)| (kiln_data::table::format_number(f64::from_bits(*bits)), *c))
            .chain(self.texts.iter().map(|(t, c)| (t.to_string(), *c)))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all
    }

    /// The numeric values with their counts, in increasing order.
    pub fn numbers(&self) -> Vec<(f64, u64)> {
        let mut all: Vec<(f64, u64)> = self
            .numbers
            .iter()
            .map(|(b, c)| (f64::from_bits(*b), *c))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    }

    fn add_number(&mut self, v: f64, count: u64) {
        *self.numbers.entry(canonical_bits(v)).or_insert(0) += count;
    }

    fn add_text(&mut self, s: &str, count: u64) {
        match self.texts.get_mut(s) {
            Some(c) => *c += count,
            None => {
                self.texts.insert(s.into(), count);
            }
        }
    }

    fn merge(&mut self, other: &ValueCounts) {
        for (b, c) in &other.numbers {
            *self.numbers.entry(*b).or_insert(0) += c;
        }
        for (t, c) in &other.texts {
            self.add_text(t, *c);
        }
    }
}

/// The bits of `v` with -0.0 read as 0.0, so equal numbers count as one value.
fn canonical_bits(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

/// Most numbers a column keeps for exact drift distances (16 MB); beyond, the row sample serves.
const KEPT_VALUES_LIMIT: usize = 2_000_000;

/// Everything known about one column, mergeable with the same column's statistics from other
/// rows of the same data.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    /// Column name.
    pub name: String,
    /// Missing cells (empty or a missing marker).
    pub missing: u64,
    /// Cells holding a finite number.
    pub numbers: u64,
    /// Cells holding text that is not a number.
    pub texts: u64,
    /// Cells holding NaN or an infinity.
    pub non_finite: u64,
    /// Moments of the numeric cells.
    pub moments: Moments,
    /// Moments of the text cells' lengths in characters.
    pub text_length: Moments,
    /// Quantiles of the numeric cells not in `values` (those join it when read, see
    /// [`ColumnStats::quantiles`]): while every number is kept, sketching them is wasted work.
    sketch: Quantiles,
    /// Distinct non-missing values, estimated.
    pub distinct: Distinct,
    /// Exact value counts while few; `None` once there were more than [`EXACT_LIMIT`].
    pub counts: Option<ValueCounts>,
    /// Frequent text values, once the exact counts are gone.
    pub frequent: Option<Frequent>,
    /// (row key, value) of the numeric cells of sampled rows, ordered by key.
    pub sample: Vec<(u64, f64)>,
    /// The first text cell, for messages about text in a numeric column.
    pub first_text: Option<Example>,
    /// The first NaN or infinite cell.
    pub first_non_finite: Option<Example>,
    /// Every number, in file order, when the profile keeps them (for exact drift distances
    /// between two tables); not saved with the profile.
    pub values: Option<KeptValues>,
    /// How the column's text is read.
    pub reading: Reading,
}

/// Every number of a column in file order, held as the chunks that read them: merging moves
/// chunks and never copies or regrows one long list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptValues {
    parts: Vec<Vec<f64>>,
    len: usize,
}

impl KeptValues {
    /// Room for `n` more numbers in one piece.
    pub fn reserve(&mut self, n: usize) {
        match self.parts.last_mut() {
            Some(last) if last.capacity() - last.len() >= n => {}
            _ => self.parts.push(Vec::with_capacity(n)),
        }
    }

    /// Numbers held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no number is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, v: f64) {
        match self.parts.last_mut() {
            Some(last) => last.push(v),
            None => self.parts.push(vec![v]),
        }
        self.len += 1;
    }

    /// Moves `other`'s numbers after these.
    fn append(&mut self, other: &mut KeptValues) {
        self.parts.append(&mut other.parts);
        self.len += std::mem::take(&mut other.len);
    }

    /// The numbers in file order.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        self.parts.iter().flatten().copied()
    }
}

impl ColumnStats {
    /// Statistics of no rows yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            missing: 0,
            numbers: 0,
            texts: 0,
            non_finite: 0,
            moments: Moments::default(),
            text_length: Moments::default(),
            sketch: Quantiles::new(),
            distinct: Distinct::new(),
            counts: Some(ValueCounts::default()),
            frequent: None,
            sample: Vec::new(),
            first_text: None,
            first_non_finite: None,
            values: None,
            reading: Reading::AsWritten,
        }
    }

    /// Cells seen.
    pub fn count(&self) -> u64 {
        self.missing + self.numbers + self.texts + self.non_finite
    }

    /// Non-missing cells.
    pub fn present(&self) -> u64 {
        self.numbers + self.texts + self.non_finite
    }

    /// Adds one cell (already UTF-8) from file line `line`; `sample_key` is the row's key when
    /// the row is in the sample. Returns the classified value for further checks.
    pub fn add<'a>(&mut self, raw: &'a str, line: u64, sample_key: Option<u64>) -> RawValue<'a> {
        let value = self.reading.read(classify(raw));
        match value {
            RawValue::Missing => self.missing += 1,
            RawValue::Number(v) => {
                self.numbers += 1;
                self.moments.push(v);
                self.distinct.add_number(canonical_bits(v));
                if let Some(counts) = &mut self.counts {
                    counts.add_number(v, 1);
                    self.spill_if_full();
                }
                if let Some(key) = sample_key {
                    self.sample.push((key, v));
                }
                match &mut self.values {
                    Some(values) if values.len() < KEPT_VALUES_LIMIT => values.push(v),
                    Some(_) => {
                        // Too many to keep: drift falls back to the row sample.
                        self.drop_values();
                        self.sketch.add(v);
                    }
                    None => self.sketch.add(v),
                }
            }
            RawValue::NonFinite(s) => {
                self.non_finite += 1;
                if self.first_non_finite.is_none() {
                    self.first_non_finite = Some(Example {
                        line,
                        value: s.to_string(),
                    });
                }
            }
            RawValue::Text(s) => {
                self.texts += 1;
                self.text_length.push(s.chars().count() as f64);
                self.distinct.add_text(s);
                match &mut self.counts {
                    Some(counts) => {
                        counts.add_text(s, 1);
                        self.spill_if_full();
                    }
                    None => self.frequent_mut().add(s, 1),
                }
                if self.first_text.is_none() {
                    self.first_text = Some(Example {
                        line,
                        value: s.to_string(),
                    });
                }
            }
        }
        value
    }

    fn frequent_mut(&mut self) -> &mut Frequent {
        self.frequent.get_or_insert_with(Frequent::new)
    }

    /// Moves text counts into the frequent-items sketch once exact counts hold too many values.
    fn spill_if_full(&mut self) {
        if self.counts.as_ref().is_some_and(|c| c.len() > EXACT_LIMIT) {
            let counts = self.counts.take().expect("checked above");
            let frequent = self.frequent_mut();
            for (text, count) in counts.texts {
                frequent.add(&text, count);
            }
        }
    }

    /// Adds the statistics of other rows of the same column (their kept numbers move, not
    /// copied). `threshold` is the largest row key kept in the merged sample.
    pub fn merge(&mut self, mut other: ColumnStats, threshold: u64) {
        self.missing += other.missing;
        self.numbers += other.numbers;
        self.texts += other.texts;
        self.non_finite += other.non_finite;
        self.moments.merge(&other.moments);
        self.text_length.merge(&other.text_length);
        self.sketch.merge(&other.sketch);
        self.distinct.merge(&other.distinct);
        match (&mut self.counts, &other.counts) {
            (Some(mine), Some(theirs)) => {
                mine.merge(theirs);
                self.spill_if_full();
            }
            (Some(_), None) => {
                if let Some(mine) = self.counts.take() {
                    let frequent = self.frequent_mut();
                    for (text, count) in mine.texts {
                        frequent.add(&text, count);
                    }
                }
            }
            (None, Some(theirs)) => {
                let frequent = self.frequent_mut();
                for (text, count) in &theirs.texts {
                    frequent.add(text, *count);
                }
            }
            (None, None) => {}
        }
        if let Some(theirs) = &other.frequent {
            self.frequent_mut().merge(theirs);
        }
        self.sample = merge_sample(&self.sample, &other.sample, threshold);
        match (&mut self.values, &mut other.values) {
            (Some(mine), Some(theirs)) if mine.len() + theirs.len() <= KEPT_VALUES_LIMIT => {
                mine.append(theirs)
            }
            (_, theirs) => {
                // Kept values no longer kept go into the sketch.
                self.drop_values();
                for v in theirs.iter().flat_map(KeptValues::iter) {
                    self.sketch.add(v);
                }
            }
        }
        Example::keep_first(&mut self.first_text, other.first_text.as_ref());
        Example::keep_first(&mut self.first_non_finite, other.first_non_finite.as_ref());
    }

    /// Stops keeping every number; the kept ones go into the quantile sketch.
    fn drop_values(&mut self) {
        for v in self.values.take().unwrap_or_default().iter() {
            self.sketch.add(v);
        }
    }

    /// Quantiles of the numeric cells.
    pub fn quantiles(&self) -> std::borrow::Cow<'_, Quantiles> {
        match &self.values {
            Some(values) if !values.is_empty() => {
                let mut all = self.sketch.clone();
                for v in values.iter() {
                    all.add(v);
                }
                std::borrow::Cow::Owned(all)
            }
            _ => std::borrow::Cow::Borrowed(&self.sketch),
        }
    }

    /// The sampled numeric values, in row-key order (a uniform random sample of the rows).
    pub fn sample_values(&self) -> Vec<f64> {
        self.sample.iter().map(|(_, v)| *v).collect()
    }

    /// Every number when the profile kept them, else the sampled ones, in increasing order;
    /// and whether they are all.
    pub fn comparable_values(&self) -> (Vec<f64>, bool) {
        match &self.values {
            Some(values) => (kiln_stats::sorted(values.iter()), true),
            None => (kiln_stats::sorted(self.sample_values()), false),
        }
    }

    /// The most frequent values with counts, most frequent first, and whether counts are exact.
    pub fn top_values(&self, k: usize) -> (Vec<(String, u64)>, bool) {
        match (&self.counts, &self.frequent) {
            (Some(counts), _) => (counts.sorted().into_iter().take(k).collect(), true),
            (None, Some(frequent)) => (frequent.top(k), false),
            (None, None) => (Vec::new(), true),
        }
    }
}

/// Merges two key-ordered samples, keeping entries with key at most `threshold`.
fn merge_sample(a: &[(u64, f64)], b: &[(u64, f64)], threshold: u64) -> Vec<(u64, f64)> {
    let mut out: Vec<(u64, f64)> = a
        .iter()
        .chain(b)
        .copied()
        .filter(|(k, _)| *k <= threshold)
        .collect();
    out.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
    out
}

/// The serialised form of [`ColumnStats`]: sketches as base64 of their standard binary
/// formats (Apache DataSketches for HLL and frequent items), value counts as sorted lists.
#[derive(Serialize, Deserialize)]
pub(crate) struct ColumnState {
    name: String,
    missing: u64,
    numbers: u64,
    texts: u64,
    non_finite: u64,
    moments: Moments,
    text_length: Moments,
    quantiles: Quantiles,
    distinct: Distinct,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<CountsState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequent: Option<Frequent>,
    sample: Vec<(u64, f64)>,
    first_text: Option<Example>,
    first_non_finite: Option<Example>,
    #[serde(default, skip_serializing_if = "Reading::is_as_written")]
    reading: Reading,
}

#[derive(Serialize, Deserialize)]
struct CountsState {
    numbers: Vec<(f64, u64)>,
    texts: Vec<(String, u64)>,
}

impl Serialize for ColumnStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let counts = self.counts.as_ref().map(|c| {
            let mut texts: Vec<(String, u64)> =
                c.texts.iter().map(|(t, n)| (t.to_string(), *n)).collect();
            texts.sort();
            CountsState {
                numbers: c.numbers(),
                texts,
            }
        });
        ColumnState {
            name: self.name.clone(),
            missing: self.missing,
            numbers: self.numbers,
            texts: self.texts,
            non_finite: self.non_finite,
            moments: self.moments,
            text_length: self.text_length,
            quantiles: self.quantiles().into_owned(),
            distinct: self.distinct.clone(),
            counts,
            frequent: self.frequent.clone(),
            sample: self.sample.clone(),
            first_text: self.first_text.clone(),
            first_non_finite: self.first_non_finite.clone(),
            reading: self.reading.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ColumnStats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = ColumnState::deserialize(d)?;
        let counts = s.counts.map(|c| {
            let mut counts = ValueCounts::default();
            for (v, n) in c.numbers {
                counts.add_number(v, n);
            }
            for (t, n) in c.texts {
                counts.add_text(&t, n);
            }
            counts
        });
        Ok(Self {
            name: s.name,
            missing: s.missing,
            numbers: s.numbers,
            texts: s.texts,
            non_finite: s.non_finite,
            moments: s.moments,
            text_length: s.text_length,
            sketch: s.quantiles,
            distinct: s.distinct,
            counts,
            frequent: s.frequent,
            sample: s.sample,
            first_text: s.first_text,
            first_non_finite: s.first_non_finite,
            values: None,
            reading: s.reading,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_merge_equals_one_pass() {
        let xs: Vec<f64> = (0..101).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
        let mut whole = Moments::default();
        xs.iter().for_each(|x| whole.push(*x));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        xs[..40].iter().for_each(|x| a.push(*x));
        xs[40..].iter().for_each(|x| b.push(*x));
        a.merge(&b);
        assert_eq!(a.n, whole.n);
        assert!((a.mean - whole.mean).abs() < 1e-12);
        assert!((a.std().unwrap() - whole.std().unwrap()).abs() < 1e-12);
        assert_eq!((a.min, a.max), (whole.min, whole.max));
    }

    #[test]
    fn cells_are_counted_by_kind_with_first_examples() {
        let mut c = ColumnStats::new("x");
        for (i, cell) in ["1", "", "NA", "abc", "inf", "2.5", "zz"]
            .iter()
            .enumerate()
        {
            c.add(cell, i as u64 + 2, None);
        }
        assert_eq!((c.numbers, c.missing, c.texts, c.non_finite), (2, 2, 2, 1));
        assert_eq!(c.first_text.as_ref().unwrap().value, "abc");
        assert_eq!(c.first_text.as_ref().unwrap().line, 5);
        assert_eq!(c.first_non_finite.as_ref().unwrap().line, 6);
        assert_eq!(c.counts.as_ref().unwrap().len(), 4);
    }

    #[test]
    fn kept_values_join_the_quantiles_when_read_and_when_no_longer_kept() {
        let fill = |keep: bool, from: usize| {
            let mut c = ColumnStats::new("x");
            c.values = keep.then(KeptValues::default);
            for i in from..from + 1000 {
                c.add(&format!("{}", (i * 37) % 1000), 2, None);
            }
            c
        };
        let plain = fill(false, 0);
        let kept = fill(true, 0);
        for q in [0.01, 0.25, 0.5, 0.9] {
            assert_eq!(plain.quantiles().quantile(q), kept.quantiles().quantile(q));
        }
        // Merged with a part that kept nothing, the values are dropped into the sketch.
        let mut merged = fill(true, 0);
        merged.merge(fill(false, 1000), u64::MAX);
        assert!(merged.values.is_none());
        let mut reference = fill(false, 0);
        reference.merge(fill(false, 1000), u64::MAX);
        assert_eq!(
            merged.quantiles().quantile(0.5),
            reference.quantiles().quantile(0.5)
        );
        // And serialised profiles carry them.
        let back: ColumnStats =
            serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
        assert_eq!(
            back.quantiles().quantile(0.5),
            plain.quantiles().quantile(0.5)
        );
    }

    #[test]
    fn merged_parts_stop_keeping_numbers_past_the_limit() {
        let part = |n: usize| {
            let mut c = ColumnStats::new("x");
            c.values = Some(KeptValues::default());
            for i in 0..n {
                c.add(&i.to_string(), 2, None);
            }
            c
        };
        let mut small = part(10);
        small.merge(part(20), u64::MAX);
        assert_eq!(small.values.as_ref().map(KeptValues::len), Some(30));
        let mut big = part(KEPT_VALUES_LIMIT / 2 + 1);
        big.merge(part(KEPT_VALUES_LIMIT / 2), u64::MAX);
        assert!(big.values.is_none(), "no more than the limit is kept");
        // The numbers no longer kept went into the quantile sketch.
        assert!(big.sketch.quantile(0.99).unwrap() > KEPT_VALUES_LIMIT as f64 / 3.0);
    }

    #[test]
    fn exact_counts_give_way_to_sketches_past_the_limit_and_merge_either_way() {
        let mut a = ColumnStats::new("x");
        for i in 0..(EXACT_LIMIT + 5) {
            a.add(&format!("v{i}"), 2, None);
        }
        assert!(a.counts.is_none() && a.frequent.is_some());
        let mut b = ColumnStats::new("x");
        for _ in 0..500 {
            b.add("common", 2, None);
        }
        a.merge(b, u64::MAX);
        let (top, exact) = a.top_values(1);
        assert!(!exact);
        assert_eq!(top[0].0, "common");
        assert!(top[0].1 >= 500);
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut c = ColumnStats::new("x");
        for (i, cell) in ["1", "2", "b", "", "2"].iter().enumerate() {
            c.add(cell, i as u64 + 2, Some(i as u64));
        }
        let json = serde_json::to_string(&c).unwrap();
        let back: ColumnStats = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.top_values(5).0, c.top_values(5).0);
    }
}
