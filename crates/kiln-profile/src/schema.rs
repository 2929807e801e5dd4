//! The schema: what valid data looks like, column by column, as an editable TOML file.
//! Inferred from a profile with margins for sampling noise, then tightened by hand.

use crate::check::{Checks, ColumnCheck};
use crate::error::ProfileError;
use crate::profile::Profile;
use crate::summary::{FeatureType, feature_type};
use kiln_data::Reading;
use serde::{Deserialize, Serialize};

/// Slack added to an observed missing rate: at least this much...
const MISSING_SLACK: f64 = 0.05;
/// ...or this share of the observed rate, whichever is larger.
const MISSING_SLACK_SHARE: f64 = 0.25;
/// An inferred range is widened by this share of its width on each side.
const RANGE_SLACK: f64 = 0.1;
/// Categories listed in an inferred domain, at most.
const DOMAIN_LEVELS: usize = 100;
/// Slack added to the observed duplicate-row rate.
const DUPLICATE_SLACK: f64 = 0.01;

/// Expectations about a whole data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Largest allowed share of rows that repeat an earlier row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duplicate_rate: Option<f64>,
    /// Expectations per column, in file order.
    #[serde(rename = "column", default)]
    pub columns: Vec<ColumnSchema>,
}

/// Expectations about one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// What it holds: numeric, categorical, boolean, text or empty.
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Whether the column must be present.
    #[serde(default = "yes")]
    pub required: bool,
    /// Largest allowed share of missing cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_missing: Option<f64>,
    /// Smallest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Rounds `v` outward (down for a lower bound, up for an upper one) to 4 significant digits,
/// so the schema reads well and still contains what was seen.
fn round_outward(v: f64, up: bool) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    let scaled = v * scale;
    (if up { scaled.ceil() } else { scaled.floor() }) / scale
}

impl Schema {
    /// Infers a schema from a profile: every column required, its type, a missing-rate limit
    /// with slack, a numeric range widened by 10% each side (not below zero for a column
    /// that never was), and the list of categories where
    /// there are few and none was seen only once (a category seen once suggests unseen ones).
    pub fn infer(profile: &Profile) -> Self {
        let columns = profile
            .columns
            .iter()
            .map(|c| {
                let kind = feature_type(c);
                let count = c.count().max(1) as f64;
                let missing = c.missing as f64 / count;
                let max_missing =
                    (missing + MISSING_SLACK.max(MISSING_SLACK_SHARE * missing)).min(1.0);
                // Dates move on with time: a range from the reference would flag new ones.
                let dates = matches!(c.reading, Reading::Dates(_));
                let (min, max) = if kind == FeatureType::Numeric && c.numbers > 0 && !dates {
                    let slack = RANGE_SLACK * (c.moments.max - c.moments.min);
                    // A column never below zero is not widened below zero.
                    let low = c.moments.min - slack;
                    let low = if c.moments.min >= 0.0 {
                        low.max(0.0)
                    } else {
                        low
                    };
                    (
                        Some(round_outward(low, false)),
                        Some(round_outward(c.moments.max + slack, true)),
                    )
                } else {
                    (None, None)
                };
                let domain = match (&c.counts, kind) {
                    (Some(counts), FeatureType::Categorical | FeatureType::Boolean)
                        if counts.len() <= DOMAIN_LEVELS =>
                    {
                        let levels = counts.sorted();
                        let singletons = levels.iter().any(|(_, n)| *n == 1);
                        (!singletons).then(|| {
                            let mut names: Vec<String> =
                                levels.into_iter().map(|(v, _)| v).collect();
                            names.sort();
                            names
                        })
                    }
                    _ => None,
                };
                ColumnSchema {
                    name: c.name.clone(),
                    kind,
                    required: true,
                    max_missing: Some((max_missing * 1000.0).ceil() / 1000.0),
                    min,
                    max,
                    domain,
                }
            })
            .collect();
        let duplicate_rate = profile.duplicate_rows as f64 / profile.rows.max(1) as f64;
        Self {
            max_duplicate_rate: Some(((duplicate_rate + DUPLICATE_SLACK) * 1000.0).ceil() / 1000.0),
            columns,
        }
    }

    /// The schema as commented TOML for a person to edit.
    pub fn to_toml(&self, source: &str, rows: u64) -> String {
        let body = toml::to_string(self).expect("schemas serialise");
        format!(
            "# Kiln schema inferred from '{source}' ({rows} rows).\n\
             # Tighten it by hand: `required`, `max_missing` (share of cells), `min`/`max`\n\
             # (numbers), `domain` (allowed values); delete a line to stop checking it.\n\
             # Check data with: kiln validate DATA --schema THIS_FILE\n\n{body}"
        )
    }

    /// Reads and checks a schema file's text.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ProfileError> {
        let bad = |reason: String| ProfileError::BadSchema {
            file: file.into(),
            reason,
        };
        let schema: Schema = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for c in &schema.columns {
            if !seen.insert(&c.name) {
                return Err(bad(format!("column '{}' is described twice", c.name)));
            }
            if let Some(m) = c.max_missing
                && !(0.0..=1.0).contains(&m)
            {
                return Err(bad(format!(
                    "column '{}': max_missing must be a share between 0 and 1, not {m}",
                    c.name
                )));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return Err(bad(format!(
                    "column '{}': min ({lo}) is above max ({hi})",
                    c.name
                )));
            }
        }
        if let Some(r) = schema.max_duplicate_rate
            && !(0.0..=1.0).contains(&r)
        {
            return Err(bad(format!(
                "max_duplicate_rate must be a share between 0 and 1, not {r}"
            )));
        }
        Ok(schema)
    }

    /// The in-pass checks this schema asks for (ranges and domains).
    pub fn checks(&self) -> Checks {
        Checks {
            columns: self
                .columns
                .iter()
                .map(|c| {
                    let range = (c.min.is_some() || c.max.is_some()).then(|| {
                        (
                            c.min.unwrap_or(f64::NEG_INFINITY),
                            c.max.unwrap_or(f64::INFINITY),
                        )
                    });
                    let domain = c.domain.as_ref().map(|d| d.iter().cloned().collect());
                    (c.name.clone(), ColumnCheck { range, domain })
                })
                .collect(),
        }
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnStats;

    fn profile() -> Profile {
        let headers = vec!["x".to_string(), "c".to_string()];
        let mut p = Profile::empty("t.csv", &headers, 1);
        let mut x = ColumnStats::new("x");
        let mut c = ColumnStats::new("c");
        for i in 0..100 {
            x.add(&format!("{}", i as f64 / 10.0), 2, None);
            c.add(["a", "b"][i % 2], 2, None);
        }
        x.add("", 2, None);
        c.add("", 2, None);
        p.columns = vec![x, c];
        p.rows = 101;
        p
    }

    #[test]
    fn inferred_schema_has_margins_and_round_trips_as_toml() {
        let s = Schema::infer(&profile());
        let x = s.column("x").unwrap();
        assert_eq!(x.kind, FeatureType::Numeric);
        // Widened by a tenth of the width, but not below zero: x never was.
        assert_eq!(x.min, Some(0.0));
        assert!(x.max.unwrap() > 9.9 && x.max.unwrap() < 11.0);
        assert!(x.max_missing.unwrap() >= 0.05);
        let c = s.column("c").unwrap();
        assert_eq!(
            c.domain.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
        let text = s.to_toml("t.csv", 101);
        assert_eq!(Schema::from_toml(&text, "s.toml").unwrap(), s);
    }

    #[test]
    fn bad_schemas_name_the_column_and_field() {
        let err = Schema::from_toml(
            "[[column]]\nname = \"x\"\ntype = \"numeric\"\nmin = 5\nmax = 1\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'x'") && err.contains("min"), "{err}");
        let err = Schema::from_toml("[[column]]\nname = \"x\"\ntype = \"numbr\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("numbr"), "{err}");
    }

    #[test]
    fn outward_rounding_contains_the_value() {
        assert_eq!(round_outward(1.23456, true), 1.235);
        assert_eq!(round_outward(1.23456, false), 1.234);
        assert_eq!(round_outward(-0.012345, false), -0.01235);
    }
}
