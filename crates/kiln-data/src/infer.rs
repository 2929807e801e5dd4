//! Column type inference: which columns are numeric, categorical or boolean features, and
//! which are dropped (identifiers, constants, empty or free-text columns), with the reason.

use crate::error::DataError;
use crate::format::NumberFormat;
use crate::reading::Reading;
use crate::table::{Cell, Column, Table};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a feature column is read and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Real numbers.
    Numeric,
    /// A finite set of labels.
    Categorical,
    /// Two labels such as true/false or yes/no.
    Boolean,
    /// Free text, read as a bag of word n-grams and, given a checkpoint, a sentence encoder.
    Text,
    /// Dates or date-times, read as where they lie in time and in the year, week and day.
    Date,
}

/// Why a column is not used as a feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Every value is different (a row id, a key): it cannot generalise.
    Identifier,
    /// One value only: it carries no information.
    Constant,
    /// Every value is missing.
    Empty,
    /// Long free text, which tabular models do not read.
    FreeText,
    /// The user asked for it to be dropped.
    Requested,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::Identifier => "identifier-like (every value distinct)",
            DropReason::Constant => "constant (a single value)",
            DropReason::Empty => "empty (every value missing)",
            DropReason::FreeText => "free text (long, mostly distinct strings), read only with preprocess.text_vocabulary above 0 or a --pretrained checkpoint",
            DropReason::Requested => "dropped as asked (data.drop)",
        })
    }
}

/// The decision for one column of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnPlan {
    /// Column name.
    pub name: String,
    /// `Ok(kind)` for a feature, `Err(reason)` for a dropped column.
    pub use_as: Result<ColumnKind, DropReason>,
    /// How the column's text is read: formatted numbers (currency, percent, thousands,
    /// decimal comma) or dates.
    #[serde(default, skip_serializing_if = "Reading::is_as_written")]
    pub reading: Reading,
}

/// Lower-cased spellings accepted as the two values of a boolean column.
const BOOLEAN_PAIRS: [[&str; 2]; 4] = [["false", "true"], ["no", "yes"], ["f", "t"], ["n", "y"]];

/// Decides the role of every column except `target`. Fails on text in a numeric column.
pub fn infer_columns(table: &Table, target: &str) -> Result<Vec<ColumnPlan>, DataError> {
    table
        .columns
        .iter()
        .filter(|c| c.name != target)
        .map(|c| {
            let reading = Reading::of_column(c);
            Ok(ColumnPlan {
                name: c.name.clone(),
                use_as: infer_column(table, c, &reading)?,
                reading,
            })
        })
        .collect()
}

/// The role of one column, whose text is read as `reading` says.
fn infer_column(
    table: &Table,
    col: &Column,
    reading: &Reading,
) -> Result<Result<ColumnKind, DropReason>, DataError> {
    let numbers = col
        .cells
        .iter()
        .filter(|c| matches!(c, Cell::Num(_)))
        .count();
    let texts = col
        .cells
        .iter()
        .filter(|c| matches!(c, Cell::Text(_)))
        .count();
    let present = numbers + texts;
    if present == 0 {
        return Ok(Err(DropReason::Empty));
    }
    match reading {
        Reading::Numbers(format) => return Ok(infer_numeric(col, *format, present)),
        Reading::Dates(_) => return Ok(Ok(ColumnKind::Date)),
        Reading::AsWritten => {}
    }
    if texts > 0 && numbers * 10 >= present * 9 {
        let (row, value) = col
            .cells
            .iter()
            .enumerate()
            .find_map(|(i, c)| match c {
                Cell::Text(s) => Some((i, s.clone())),
                _ => None,
            })
            .expect("a text cell exists");
        return Err(DataError::TextInNumeric {
            file: table.source.clone(),
            line: table.line_of(row),
            column: col.name.clone(),
            value,
            numbers,
        });
    }
    if texts == 0 {
        return Ok(infer_numeric(col, NumberFormat::Plain, numbers));
    }
    Ok(infer_text(col, present))
}

fn infer_numeric(
    col: &Column,
    format: NumberFormat,
    present: usize,
) -> Result<ColumnKind, DropReason> {
    let values: Vec<f64> = col.cells.iter().filter_map(|c| format.number(c)).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    if sorted.len() == 1 {
        return Err(DropReason::Constant);
    }
    let integers = values.iter().all(|v| v.fract() == 0.0);
    let all_distinct = sorted.len() == present;
    let consecutive = sorted.last().unwrap() - sorted[0] + 1.0 == present as f64;
    if integers && all_distinct && present >= 20 && (consecutive || looks_like_id(&col.name)) {
        return Err(DropReason::Identifier);
    }
    Ok(ColumnKind::Numeric)
}

fn infer_text(col: &Column, present: usize) -> Result<ColumnKind, DropReason> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total_len = 0usize;
    for c in &col.cells {
        if !matches!(c, Cell::Missing) {
            let s = c.as_text();
            total_len += s.chars().count();
            *counts.entry(s).or_default() += 1;
        }
    }
    if counts.len() == 1 {
        return Err(DropReason::Constant);
    }
    if counts.len() == 2 {
        let mut keys: Vec<String> = counts.keys().map(|k| k.to_lowercase()).collect();
        keys.sort();
        if BOOLEAN_PAIRS.iter().any(|p| keys == p) {
            return Ok(ColumnKind::Boolean);
        }
    }
    let distinct_share = counts.len() as f64 / present as f64;
    if present >= 20 && distinct_share > 0.5 && total_len as f64 / present as f64 > 30.0 {
        return Err(DropReason::FreeText);
    }
    if present >= 20 && distinct_share > 0.9 {
        return Err(DropReason::Identifier);
    }
    Ok(ColumnKind::Categorical)
}

/// Whether a column name reads like a key (`id`, `user_id`, `RowId`, `index`, `uuid`).
fn looks_like_id(name: &str) -> bool {
    let lower = name.to_lowercase();
    matches!(
        lower.as_str(),
        "id" | "index" | "uuid" | "key" | "row" | "unnamed: 0"
    ) || lower.ends_with("_id")
        || lower.ends_with(" id")
        || name.ends_with("Id")
        || name.ends_with("ID")
}

/// The value of a boolean cell (true, yes, t, y are true), if it is one.
pub fn boolean_value(s: &str) -> Option<bool> {
    let l = s.to_lowercase();
    BOOLEAN_PAIRS.iter().find_map(|p| {
        if l == p[1] {
            Some(true)
        } else if l == p[0] {
            Some(false)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_csv;
    use std::io::BufReader;

    fn plans(csv: &str) -> Result<Vec<ColumnPlan>, DataError> {
        let t = read_csv(BufReader::new(csv.as_bytes()), "t.csv").unwrap();
        infer_columns(&t, "y")
    }

    fn kind(plans: &[ColumnPlan], name: &str) -> Result<ColumnKind, DropReason> {
        plans
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .use_as
            .clone()
    }

    #[test]
    fn infers_kinds_and_drops_useless_columns() {
        let mut csv = String::from("id,num,cat,flag,constant,empty,y\n");
        for i in 0..30 {
            let cat = ["red", "green", "blue"][i % 3];
            let flag = if i % 2 == 0 { "yes" } else { "No" };
            csv += &format!("{i},{},{cat},{flag},7,,{}\n", i as f64 * 0.5 + 1.0, i % 2);
        }
        let p = plans(&csv).unwrap();
        assert_eq!(p.len(), 6, "target excluded");
        assert_eq!(kind(&p, "id"), Err(DropReason::Identifier));
        assert_eq!(kind(&p, "num"), Ok(ColumnKind::Numeric));
        assert_eq!(kind(&p, "cat"), Ok(ColumnKind::Categorical));
        assert_eq!(kind(&p, "flag"), Ok(ColumnKind::Boolean));
        assert_eq!(kind(&p, "constant"), Err(DropReason::Constant));
        assert_eq!(kind(&p, "empty"), Err(DropReason::Empty));
    }

    #[test]
    fn text_in_a_numeric_column_names_line_and_column() {
        let mut csv = String::from("x,y\n");
        for i in 0..20 {
            csv += &format!(
                "{},{}\n",
                if i == 7 {
                    "oops".to_string()
                } else {
                    i.to_string()
                },
                i % 2
            );
        }
        let err = plans(&csv).unwrap_err().to_string();
        assert!(
            err.contains("line 9") && err.contains("'x'") && err.contains("oops"),
            "{err}"
        );
    }

    #[test]
    fn formatted_numbers_are_numeric_and_dates_are_dates() {
        let mut csv = String::from("price,share,day,id_like,y\n");
        for i in 0..30 {
            csv += &format!(
                "\"${},{:03}\",{i}.5%,2024-02-{:02},x{i},{}\n",
                i + 1,
                i * 7,
                i % 28 + 1,
                i % 2
            );
        }
        let p = plans(&csv).unwrap();
        assert_eq!(kind(&p, "price"), Ok(ColumnKind::Numeric));
        assert_eq!(p[0].reading, Reading::Numbers(NumberFormat::Point));
        assert_eq!(kind(&p, "share"), Ok(ColumnKind::Numeric));
        assert_eq!(kind(&p, "day"), Ok(ColumnKind::Date));
        assert_eq!(kind(&p, "id_like"), Err(DropReason::Identifier));
    }

    #[test]
    fn distinct_real_numbers_are_not_identifiers() {
        let mut csv = String::from("x,y\n");
        for i in 0..40 {
            csv += &format!("{},{}\n", (i as f64).sqrt(), i % 2);
        }
        assert_eq!(kind(&plans(&csv).unwrap(), "x"), Ok(ColumnKind::Numeric));
    }

    #[test]
    fn boolean_values_parse_both_ways() {
        assert_eq!(boolean_value("Yes"), Some(true));
        assert_eq!(boolean_value("false"), Some(false));
        assert_eq!(boolean_value("maybe"), None);
    }
}
