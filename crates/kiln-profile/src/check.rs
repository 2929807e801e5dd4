//! Checks made while profiling: values outside a schema's numeric range or category domain,
//! counted with the first example's line, so validating a file takes one pass over it.

use crate::column::Example;
use kiln_data::RawValue;
use kiln_data::table::format_number;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// New values listed by name per column, at most.
const NEW_VALUES_LISTED: usize = 10;

/// What to check in each column, by column name.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Checks by column name; columns not named are not checked.
    pub columns: HashMap<String, ColumnCheck>,
}

impl Checks {
    /// The check for each of `headers`, in order (an empty check for unnamed columns).
    pub(crate) fn resolve(&self, headers: &[String]) -> Vec<ColumnCheck> {
        headers
            .iter()
            .map(|h| self.columns.get(h).cloned().unwrap_or_default())
            .collect()
    }
}

/// The allowed values of one column.
#[derive(Debug, Clone, Default)]
pub struct ColumnCheck {
    /// Inclusive numeric range.
    pub range: Option<(f64, f64)>,
    /// Allowed values, as written.
    pub domain: Option<FxHashSet<String>>,
}

impl ColumnCheck {
    /// Counts `value` (from file line `line`) into `found` if it breaks the check.
    pub(crate) fn check(&self, value: &RawValue<'_>, line: u64, found: &mut Violations) {
        if let (Some((lo, hi)), RawValue::Number(v)) = (self.range, value) {
            if *v < lo {
                found.below_range += 1;
            } else if *v > hi {
                found.above_range += 1;
            }
            if (*v < lo || *v > hi) && found.range_example.is_none() {
                found.range_example = Some(Example {
                    line,
                    value: format_number(*v),
                });
            }
        }
        if let Some(domain) = &self.domain {
            let text = match value {
                RawValue::Number(v) => format_number(*v),
                RawValue::Text(s) => (*s).to_string(),
                RawValue::Missing | RawValue::NonFinite(_) => return,
            };
            if !domain.contains(&text) {
                found.out_of_domain += 1;
                if found.new_values.len() < NEW_VALUES_LISTED
                    || found.new_values.contains_key(&text)
                {
                    *found.new_values.entry(text.clone()).or_insert(0) += 1;
                }
                if found.domain_example.is_none() {
                    found.domain_example = Some(Example { line, value: text });
                }
            }
        }
    }
}

/// What the checks found in one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Violations {
    /// Values below the range.
    pub below_range: u64,
    /// Values above the range.
    pub above_range: u64,
    /// The first value outside the range.
    pub range_example: Option<Example>,
    /// Values outside the domain.
    pub out_of_domain: u64,
    /// The first value outside the domain.
    pub domain_example: Option<Example>,
    /// Some of the values outside the domain, with counts (the first few met).
    pub new_values: BTreeMap<String, u64>,
}

impl Violations {
    /// Adds what the same checks found in later rows.
    pub(crate) fn merge(&mut self, later: &Violations) {
        self.below_range += later.below_range;
        self.above_range += later.above_range;
        if self.range_example.is_none() {
            self.range_example = later.range_example.clone();
        }
        self.out_of_domain += later.out_of_domain;
        if self.domain_example.is_none() {
            self.domain_example = later.domain_example.clone();
        }
        for (value, count) in &later.new_values {
            if self.new_values.len() < NEW_VALUES_LISTED || self.new_values.contains_key(value) {
                *self.new_values.entry(value.clone()).or_insert(0) += count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_and_domain_values_are_counted_with_the_first_line() {
        let check = ColumnCheck {
            range: Some((0.0, 10.0)),
            domain: Some(["1", "2", "a"].iter().map(|s| s.to_string()).collect()),
        };
        let mut found = Violations::default();
        for (line, v) in [
            (2, RawValue::Number(1.0)),
            (3, RawValue::Number(11.0)),
            (4, RawValue::Number(-1.0)),
            (5, RawValue::Text("b")),
            (6, RawValue::Text("a")),
            (7, RawValue::Missing),
        ] {
            check.check(&v, line, &mut found);
        }
        assert_eq!((found.below_range, found.above_range), (1, 1));
        assert_eq!(found.range_example.as_ref().unwrap().line, 3);
        // 11, -1 and b are outside the domain.
        assert_eq!(found.out_of_domain, 3);
        assert_eq!(found.domain_example.as_ref().unwrap().value, "11");
        assert_eq!(found.new_values.get("b"), Some(&1));
    }
}
