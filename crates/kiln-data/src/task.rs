//! The learning task, inferred from the target column (or chosen by the user), and the
//! target's encoding: class labels, or the scale of a regression target.

use crate::error::DataError;
use crate::format::NumberFormat;
use crate::table::{Cell, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes.
    Binary,
    /// Three or more classes.
    Multiclass,
    /// A real number.
    Regression,
}

impl Task {
    /// Whether the task predicts classes.
    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Binary => "binary classification",
            Task::Multiclass => "multiclass classification",
            Task::Regression => "regression",
        })
    }
}

/// The user's choice of task: inferred, or forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskChoice {
    /// Infer from the target's values.
    #[default]
    Auto,
    /// Force binary classification.
    Binary,
    /// Force multiclass classification.
    Multiclass,
    /// Force regression.
    Regression,
}

/// The target column's encoding, fitted on the training data and stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Column name.
    pub column: String,
    /// The task.
    pub task: Task,
    /// Class labels in index order (classification only).
    pub classes: Vec<String>,
    /// Why this task was chosen, in words.
    pub reason: String,
    /// How a regression target writes its numbers (currency, percent, thousands separators).
    #[serde(default, skip_serializing_if = "NumberFormat::is_plain")]
    pub format: NumberFormat,
}

/// Infers the task from the target column, or checks the user's choice against it.
pub fn infer_task(table: &Table, column: &str, choice: TaskChoice) -> Result<Target, DataError> {
    let col = table
        .column(column)
        .ok_or_else(|| DataError::MissingColumn {
            file: table.source.clone(),
            column: column.to_string(),
            hint: table.suggest(column),
        })?;
    let bad = |problem: String| DataError::BadTarget {
        file: table.source.clone(),
        column: column.to_string(),
        problem,
    };
    let present: Vec<&Cell> = col
        .cells
        .iter()
        .filter(|c| !matches!(c, Cell::Missing))
        .collect();
    if present.is_empty() {
        return Err(bad("has no values: every cell is empty".into()));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &present {
        *counts.entry(c.as_text()).or_default() += 1;
    }
    if counts.len() == 1 {
        let only = counts.keys().next().unwrap();
        return Err(bad(format!(
            "has a single value ('{only}'), so there is nothing to learn; choose another target column"
        )));
    }
    let numeric = present.iter().all(|c| matches!(c, Cell::Num(_)));
    let format = match numeric {
        true => NumberFormat::Plain,
        false => NumberFormat::of_column(col).unwrap_or_default(),
    };
    let numbers: Vec<f64> = present.iter().filter_map(|c| format.number(c)).collect();
    let classes_of = |counts: &BTreeMap<String, usize>| -> Vec<String> {
        let mut classes: Vec<String> = counts.keys().cloned().collect();
        if numeric {
            classes.sort_by(|a, b| {
                a.parse::<f64>()
                    .unwrap()
                    .total_cmp(&b.parse::<f64>().unwrap())
            });
        }
        classes
    };
    let k = counts.len();
    let (task, reason) = match choice {
        TaskChoice::Regression => {
            if !numeric && format.is_plain() {
                let text = present
                    .iter()
                    .find(|c| matches!(c, Cell::Text(_)))
                    .unwrap()
                    .as_text();
                return Err(bad(format!(
                    "holds text ('{text}'), which regression cannot predict; drop --task regression or clean the column"
                )));
            }
            (Task::Regression, "chosen with --task".to_string())
        }
        TaskChoice::Binary if k != 2 => {
            return Err(bad(format!(
                "has {k} distinct values, but binary classification needs exactly 2"
            )));
        }
        TaskChoice::Binary => (Task::Binary, "chosen with --task".into()),
        TaskChoice::Multiclass => (
            if k == 2 {
                Task::Binary
            } else {
                Task::Multiclass
            },
            "chosen with --task".into(),
        ),
        TaskChoice::Auto => {
            // Formatted numbers ("$1,200") are a quantity when their values would be one;
            // otherwise their texts are the class labels.
            let as_numbers = auto_task(true, &numbers, &counts, present.len());
            match as_numbers {
                Ok((Task::Regression, reason)) if !format.is_plain() => (
                    Task::Regression,
                    format!("{reason}, written{}", format.like()),
                ),
                _ if numeric => as_numbers.map_err(bad)?,
                _ => auto_task(false, &numbers, &counts, present.len()).map_err(bad)?,
            }
        }
    };
    let classes = if task.is_classification() {
        classes_of(&counts)
    } else {
        Vec::new()
    };
    if task.is_classification() && k > 1000 {
        return Err(bad(format!(
            "has {k} distinct values, too many classes; use --task regression if it is a quantity"
        )));
    }
    Ok(Target {
        column: column.to_string(),
        task,
        classes,
        reason,
        format: match task {
            Task::Regression => format,
            _ => NumberFormat::Plain,
        },
    })
}

fn auto_task(
    numeric: bool,
    numbers: &[f64],
    counts: &BTreeMap<String, usize>,
    n: usize,
) -> Result<(Task, String), String> {
    let k = counts.len();
    if k == 2 {
        return Ok((Task::Binary, "the target has two distinct values".into()));
    }
    if !numeric {
        if n >= 40 && k * 2 > n {
            return Err(format!(
                "has {k} distinct text values in {n} rows: it looks like an identifier or free text, not a label"
            ));
        }
        return Ok((
            Task::Multiclass,
            format!("the target holds {k} text labels"),
        ));
    }
    let integers = numbers.iter().all(|v| v.fract() == 0.0);
    if !integers || k > 30 {
        return Ok((
            Task::Regression,
            format!("the target is numeric with {k} distinct values"),
        ));
    }
    // A short integer scale: labels, unless it reads as an ordinal quantity, which is a
    // contiguous range whose rarest level is far rarer than an even share (ratings, counts).
    let lo = numbers.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let contiguous = hi - lo + 1.0 == k as f64;
    let rarest = *counts.values().min().unwrap() as f64 / n as f64;
    if contiguous && rarest < 0.25 / k as f64 {
        Ok((
            Task::Regression,
            format!(
                "the target is an integer scale {lo}..{hi} whose extreme levels are rare, so it is treated as a quantity; pass --task multiclass to treat its levels as classes"
            ),
        ))
    } else {
        Ok((
            Task::Multiclass,
            format!(
                "the target has {k} integer levels, each common enough to be a class; pass --task regression to treat it as a quantity"
            ),
        ))
    }
}

impl Target {
    /// The encoded target of each row: a class index, or the raw number for regression.
    /// Rows whose target is missing give `None`.
    pub fn encode(&self, table: &Table) -> Result<Vec<Option<f32>>, DataError> {
        let col = table
            .column(&self.column)
            .ok_or_else(|| DataError::MissingColumn {
                file: table.source.clone(),
                column: self.column.clone(),
                hint: " (the model's target, needed to evaluate it)".into(),
            })?;
        col.cells
            .iter()
            .enumerate()
            .map(|(row, cell)| match (cell, self.task) {
                (Cell::Missing, _) => Ok(None),
                (Cell::Num(v), Task::Regression) => Ok(Some(*v as f32)),
                (Cell::Text(s), Task::Regression) => match self.format.parse(s) {
                    Some(v) if !self.format.is_plain() => Ok(Some(v as f32)),
                    _ => Err(DataError::BadValue {
                        file: table.source.clone(),
                        line: table.line_of(row),
                        column: self.column.clone(),
                        problem: format!(
                            "'{s}' is not a number{}, but the model predicts a number",
                            self.format.like()
                        ),
                    }),
                },
                (c, _) => {
                    let label = c.as_text();
                    match self.classes.iter().position(|k| *k == label) {
                        Some(i) => Ok(Some(i as f32)),
                        None => Err(DataError::BadValue {
                            file: table.source.clone(),
                            line: table.line_of(row),
                            column: self.column.clone(),
                            problem: format!(
                                "class '{label}' was not seen in training (classes: {})",
                                self.classes.join(", ")
                            ),
                        }),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_csv;
    use std::io::BufReader;

    fn table(values: &[&str]) -> Table {
        let csv = format!("y\n{}\n", values.join("\n"));
        read_csv(BufReader::new(csv.as_bytes()), "t.csv").unwrap()
    }

    fn auto(values: &[&str]) -> Result<Target, DataError> {
        infer_task(&table(values), "y", TaskChoice::Auto)
    }

    #[test]
    fn text_labels_are_classes() {
        assert_eq!(auto(&["a", "b", "a"]).unwrap().task, Task::Binary);
        let t = auto(&["a", "b", "c", "a"]).unwrap();
        assert_eq!(t.task, Task::Multiclass);
        assert_eq!(t.classes, vec!["a", "b", "c"]);
    }

    #[test]
    fn real_numbers_are_regression() {
        assert_eq!(
            auto(&["1.5", "2.25", "3.0"]).unwrap().task,
            Task::Regression
        );
    }

    #[test]
    fn formatted_quantities_are_regression_and_formatted_levels_classes() {
        let prices: Vec<String> = (0..50)
            .map(|i| format!("\"${},{:03}.5\"", i + 1, i))
            .collect();
        let p: Vec<&str> = prices.iter().map(String::as_str).collect();
        let t = auto(&p).unwrap();
        assert_eq!((t.task, t.format), (Task::Regression, NumberFormat::Point));
        let y = t.encode(&table(&p)).unwrap();
        assert_eq!(y[1], Some(2001.5));
        let levels = auto(&["$10", "$20", "$30", "$10"]).unwrap();
        assert_eq!(levels.task, Task::Multiclass);
        assert_eq!(levels.classes, ["$10", "$20", "$30"]);
    }

    #[test]
    fn balanced_integer_levels_are_classes_and_skewed_scales_are_quantities() {
        let balanced: Vec<String> = (0..100).map(|i| (i % 10).to_string()).collect();
        let b: Vec<&str> = balanced.iter().map(String::as_str).collect();
        let t = auto(&b).unwrap();
        assert_eq!(t.task, Task::Multiclass);
        assert_eq!(t.classes[9], "9", "numeric classes sort by value");
        let mut skewed: Vec<&str> = vec!["5"; 200];
        skewed.extend(vec!["6"; 180]);
        skewed.extend(["3", "4", "4", "7", "7", "8"]);
        assert_eq!(auto(&skewed).unwrap().task, Task::Regression);
    }

    #[test]
    fn constant_or_empty_target_is_refused() {
        let err = auto(&["a", "a"]).unwrap_err().to_string();
        assert!(err.contains("single value"), "{err}");
        assert!(auto(&["", "NA"]).is_err());
    }

    #[test]
    fn forced_tasks_are_checked() {
        let t = table(&["a", "b", "c"]);
        assert!(infer_task(&t, "y", TaskChoice::Binary).is_err());
        assert!(infer_task(&t, "y", TaskChoice::Regression).is_err());
        let t = table(&["1", "2", "3"]);
        assert_eq!(
            infer_task(&t, "y", TaskChoice::Multiclass).unwrap().task,
            Task::Multiclass
        );
    }

    #[test]
    fn missing_target_column_suggests_names() {
        let err = infer_task(&table(&["1"]), "Y", TaskChoice::Auto)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column 'Y'") && err.contains("'y'"),
            "{err}"
        );
    }

    #[test]
    fn encoding_maps_labels_to_indices_and_refuses_unknown_classes() {
        let t = auto(&["b", "a", "NA", "b"]).unwrap();
        let enc = t.encode(&table(&["b", "a", "NA", "b"])).unwrap();
        assert_eq!(enc, vec![Some(1.0), Some(0.0), None, Some(1.0)]);
        assert!(t.encode(&table(&["z"])).is_err());
    }
}
