//! Anomalies: what is wrong with a data set, against a schema or on its own, each with its
//! column, how many cells, the first example's line and a severity that can gate a pipeline.

use crate::check::Violations;
use crate::column::{ColumnStats, Example};
use crate::profile::Pass;
use crate::schema::Schema;
use crate::summary::{FeatureType, distinct, feature_type};
use serde::{Deserialize, Serialize};

/// Share of a column's values that may fall outside its range before it is an error, not a
/// warning (a clean sample can hold a few values past the range seen in the reference).
const RANGE_ERROR_SHARE: f64 = 0.01;

/// How serious an anomaly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; does not fail validation.
    Warning,
    /// Fails validation (non-zero exit code; training refuses the data).
    Error,
}

/// The kinds of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A required column is absent.
    MissingColumn,
    /// A column the schema does not know.
    NewColumn,
    /// Cells of the wrong type (text in a numeric column, numbers where text was expected).
    TypeMismatch,
    /// NaN or infinite numbers.
    NonFinite,
    /// Numbers outside the allowed range.
    OutOfRange,
    /// Values outside the allowed domain (new categories).
    OutOfDomain,
    /// More missing cells than allowed.
    MissingRate,
    /// Rows that repeat earlier rows.
    DuplicateRows,
    /// A column holding one value only.
    ConstantColumn,
    /// A column with no value at all.
    EmptyColumn,
    /// The distribution moved away from the reference.
    Drift,
}

/// One thing wrong with the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Error or warning.
    pub severity: Severity,
    /// What kind.
    pub kind: AnomalyKind,
    /// The column, where it concerns one.
    pub column: Option<String>,
    /// Affected cells or rows, where countable.
    pub count: Option<u64>,
    /// The first offending cell.
    pub example: Option<Example>,
    /// What is wrong and what to do, in words.
    pub message: String,
}

impl Anomaly {
    fn new(severity: Severity, kind: AnomalyKind, column: Option<&str>, message: String) -> Self {
        Self {
            severity,
            kind,
            column: column.map(str::to_string),
            count: None,
            example: None,
            message,
        }
    }

    fn counted(mut self, count: u64, example: Option<&Example>) -> Self {
        self.count = Some(count);
        self.example = example.cloned();
        self
    }
}

/// Where an example was found, for messages about many cells.
fn at(example: Option<&Example>) -> String {
    example.map_or(String::new(), |e| {
        format!(" (first at line {}: '{}')", e.line, e.value)
    })
}

/// Anomalies of a data set on its own, with no schema: stray text in numeric columns,
/// non-finite numbers, empty and constant columns, duplicated rows.
pub fn intrinsic(pass: &Pass) -> Vec<Anomaly> {
    let mut found = Vec::new();
    for c in &pass.profile.columns {
        let kind = feature_type(c);
        type_and_value_checks(c, kind, &mut found);
        column_shape_checks(c, kind, &mut found);
    }
    let dup = pass.profile.duplicate_rows;
    if dup > 0 {
        found.push(
            Anomaly::new(
                Severity::Warning,
                AnomalyKind::DuplicateRows,
                None,
                format!(
                    "{dup} of {} rows repeat an earlier row; duplicates can leak between training and test rows",
                    pass.profile.rows
                ),
            )
            .counted(dup, None),
        );
    }
    found
}

fn type_and_value_checks(c: &ColumnStats, kind: FeatureType, found: &mut Vec<Anomaly>) {
    if kind == FeatureType::Numeric && c.texts > 0 {
        found.push(text_in_numeric(c, "a numeric column"));
    }
    if c.non_finite > 0 {
        let first = c.first_non_finite.as_ref();
        found.push(
            Anomaly::new(
                Severity::Error,
                AnomalyKind::NonFinite,
                Some(&c.name),
                format!(
                    "'{}' is not a finite number ({} such cell(s)); leave missing values empty",
                    first.map_or("", |e| e.value.as_str()),
                    c.non_finite
                ),
            )
            .counted(c.non_finite, first),
        );
    }
}

/// Text cells in a column that should hold numbers.
fn text_in_numeric(c: &ColumnStats, what: &str) -> Anomaly {
    let first = c.first_text.as_ref();
    Anomaly::new(
        Severity::Error,
        AnomalyKind::TypeMismatch,
        Some(&c.name),
        format!(
            "'{}' is text in {what} ({} such cell(s)); fix them or leave them empty",
            first.map_or("", |e| e.value.as_str()),
            c.texts
        ),
    )
    .counted(c.texts, first)
}

fn column_shape_checks(c: &ColumnStats, kind: FeatureType, found: &mut Vec<Anomaly>) {
    if kind == FeatureType::Empty {
        found.push(Anomaly::new(
            Severity::Warning,
            AnomalyKind::EmptyColumn,
            Some(&c.name),
            "every cell is missing".into(),
        ));
    } else if c.present() > 1 && distinct(c).value <= 1.0 {
        found.push(Anomaly::new(
            Severity::Warning,
            AnomalyKind::ConstantColumn,
            Some(&c.name),
            "every present cell holds the same value; it carries no information".into(),
        ));
    }
}

/// Anomalies of a data set against `schema`, using what the pass counted for its checks.
pub fn against_schema(schema: &Schema, pass: &Pass) -> Vec<Anomaly> {
    let profile = &pass.profile;
    let mut found = Vec::new();
    for expected in &schema.columns {
        if expected.required && profile.column(&expected.name).is_none() {
            found.push(Anomaly::new(
                Severity::Error,
                AnomalyKind::MissingColumn,
                Some(&expected.name),
                "a required column is absent from the data".into(),
            ));
        }
    }
    for (c, violations) in profile.columns.iter().zip(&pass.violations) {
        let Some(expected) = schema.column(&c.name) else {
            found.push(Anomaly::new(
                Severity::Warning,
                AnomalyKind::NewColumn,
                Some(&c.name),
                "the schema does not describe this column; add it to the schema or drop it".into(),
            ));
            continue;
        };
        let kind = feature_type(c);
        column_against_schema(c, kind, expected, violations, &mut found);
    }
    if let Some(limit) = schema.max_duplicate_rate {
        let rate = profile.duplicate_rows as f64 / profile.rows.max(1) as f64;
        if rate > limit {
            found.push(
                Anomaly::new(
                    Severity::Warning,
                    AnomalyKind::DuplicateRows,
                    None,
                    format!(
                        "{:.2}% of rows repeat an earlier row; the schema allows {:.2}%",
                        rate * 100.0,
                        limit * 100.0
                    ),
                )
                .counted(profile.duplicate_rows, None),
            );
        }
    }
    found
}

fn column_against_schema(
    c: &ColumnStats,
    kind: FeatureType,
    expected: &crate::schema::ColumnSchema,
    violations: &Violations,
    found: &mut Vec<Anomaly>,
) {
    let name = c.name.as_str();
    if expected.kind == FeatureType::Numeric && c.texts > 0 {
        found.push(text_in_numeric(c, "a column the schema says is numeric"));
    } else if kind != expected.kind
        && !matches!(
            (expected.kind, kind),
            // Labels are labels, numbers or words, two of them or more; new ones are caught
            // by the domain check.
            (
                FeatureType::Categorical | FeatureType::Boolean,
                FeatureType::Categorical | FeatureType::Boolean | FeatureType::Numeric
            ) | (_, FeatureType::Empty)
        )
    {
        found.push(Anomaly::new(
            Severity::Error,
            AnomalyKind::TypeMismatch,
            Some(name),
            format!(
                "the column reads as {kind}, the schema says {}",
                expected.kind
            ),
        ));
    }
    let mut value_checks = Vec::new();
    type_and_value_checks(c, FeatureType::Empty, &mut value_checks);
    found.extend(value_checks);
    let count = c.count().max(1);
    let missing_rate = c.missing as f64 / count as f64;
    if let Some(limit) = expected.max_missing
        && missing_rate > limit
    {
        found.push(
            Anomaly::new(
                Severity::Error,
                AnomalyKind::MissingRate,
                Some(name),
                format!(
                    "{:.1}% of cells are missing; the schema allows {:.1}%",
                    missing_rate * 100.0,
                    limit * 100.0
                ),
            )
            .counted(c.missing, None),
        );
    }
    let outside = violations.below_range + violations.above_range;
    if outside > 0 {
        let share = outside as f64 / c.numbers.max(1) as f64;
        let severity = if share > RANGE_ERROR_SHARE {
            Severity::Error
        } else {
            Severity::Warning
        };
        found.push(
            Anomaly::new(
                severity,
                AnomalyKind::OutOfRange,
                Some(name),
                format!(
                    "{outside} value(s) ({:.1}%) outside [{}, {}]: {} below, {} above{}",
                    share * 100.0,
                    fmt_bound(expected.min),
                    fmt_bound(expected.max),
                    violations.below_range,
                    violations.above_range,
                    at(violations.range_example.as_ref())
                ),
            )
            .counted(outside, violations.range_example.as_ref()),
        );
    }
    if violations.out_of_domain > 0 {
        let listed: Vec<String> = violations
            .new_values
            .iter()
            .map(|(v, n)| format!("'{v}' ×{n}"))
            .collect();
        found.push(
            Anomaly::new(
                Severity::Error,
                AnomalyKind::OutOfDomain,
                Some(name),
                format!(
                    "{} value(s) outside the schema's domain: {}{}; add them to the domain if they are valid",
                    violations.out_of_domain,
                    listed.join(", "),
                    at(violations.domain_example.as_ref())
                ),
            )
            .counted(violations.out_of_domain, violations.domain_example.as_ref()),
        );
    }
    let mut shape = Vec::new();
    column_shape_checks(c, kind, &mut shape);
    found.extend(shape);
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map_or("-inf/inf".into(), |v| format!("{v}"))
}

/// Whether any anomaly is an error.
pub fn has_errors(anomalies: &[Anomaly]) -> bool {
    anomalies.iter().any(|a| a.severity == Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Checks;
    use crate::profile::{ProfileOptions, profile_file};
    use std::io::Write;

    fn pass(text: &str, checks: &Checks) -> Pass {
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        profile_file(f.path(), &ProfileOptions::default(), checks, &mut |_| {}).unwrap()
    }

    fn kinds(found: &[Anomaly]) -> Vec<(AnomalyKind, Option<String>)> {
        found.iter().map(|a| (a.kind, a.column.clone())).collect()
    }

    #[test]
    fn intrinsic_checks_find_text_non_finite_constant_and_duplicates() {
        let mut text = String::from("x,y,k\n");
        for i in 0..50 {
            text += &format!("{i},{},1\n", i % 7);
        }
        text += "oops,inf,1\n1,1,1\n1,1,1\n";
        let found = intrinsic(&pass(&text, &Checks::default()));
        let k = kinds(&found);
        assert!(k.contains(&(AnomalyKind::TypeMismatch, Some("x".into()))));
        assert!(k.contains(&(AnomalyKind::NonFinite, Some("y".into()))));
        assert!(k.contains(&(AnomalyKind::ConstantColumn, Some("k".into()))));
        assert!(k.contains(&(AnomalyKind::DuplicateRows, None)));
        let text_anomaly = &found[0];
        assert_eq!(text_anomaly.example.as_ref().unwrap().line, 52);
        assert!(has_errors(&found));
    }

    #[test]
    fn schema_checks_find_missing_columns_ranges_domains_and_missing_rates() {
        let reference = pass("a,b,c\n1,x,5\n2,y,6\n3,x,7\n4,y,8\n", &Checks::default());
        let mut schema = Schema::infer(&reference.profile);
        schema.column_mut_for_test("b").domain = Some(vec!["x".into(), "y".into()]);
        let current = pass("a,b,d\n1,x,0\n,z,0\n,x,0\n100,y,0\n", &schema.checks());
        let found = against_schema(&schema, &current);
        let k = kinds(&found);
        assert!(k.contains(&(AnomalyKind::MissingColumn, Some("c".into()))));
        assert!(k.contains(&(AnomalyKind::NewColumn, Some("d".into()))));
        assert!(k.contains(&(AnomalyKind::MissingRate, Some("a".into()))));
        assert!(k.contains(&(AnomalyKind::OutOfRange, Some("a".into()))));
        let domain = found
            .iter()
            .find(|a| a.kind == AnomalyKind::OutOfDomain)
            .unwrap();
        assert_eq!(domain.example.as_ref().unwrap().line, 3);
        assert!(domain.message.contains("'z'"));
        assert!(has_errors(&found));
    }

    #[test]
    fn data_that_fits_its_own_schema_has_no_errors() {
        let text = "a,b\n1,x\n2,y\n3,x\n4,y\n";
        let schema = Schema::infer(&pass(text, &Checks::default()).profile);
        let found = against_schema(&schema, &pass(text, &schema.checks()));
        assert!(!has_errors(&found), "{found:?}");
    }

    impl Schema {
        fn column_mut_for_test(&mut self, name: &str) -> &mut crate::schema::ColumnSchema {
            self.columns.iter_mut().find(|c| c.name == name).unwrap()
        }
    }
}
