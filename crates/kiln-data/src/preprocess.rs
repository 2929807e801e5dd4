//! Preprocessing fitted on training rows only (imputation, scaling or piecewise-linear
//! encoding of numbers, one-hot encoding of categories) and stored with the model, so that
//! prediction applies exactly the training transform.

use crate::date;
use crate::error::DataError;
use crate::format::NumberFormat;
use crate::infer::{ColumnKind, ColumnPlan, DropReason, boolean_value};
use crate::reading::Reading;
use crate::table::{Cell, Column, Table};
use crate::text::TextEncoder;
use crate::tokens::TextModel;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How numeric columns become network inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NumericEncoding {
    /// Standardised to zero mean and unit variance.
    Standard,
    /// Piecewise-linear encoding over training quantile bins (Gorishniy et al., 2022).
    PiecewiseLinear {
        /// The most bins per column (fewer when a column has fewer distinct values).
        bins: usize,
    },
}

/// Options of the preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreprocessOptions {
    /// Numeric encoding.
    pub numeric: NumericEncoding,
    /// The most one-hot levels per categorical column; rarer levels share an "other" input.
    pub max_levels: usize,
    /// A pretrained model: for free text, a sentence-encoder checkpoint folder (BERT family:
    /// config.json, model.safetensors, tokenizer.json), whose sentence vectors the text
    /// columns also become; for images, an `.onnx` CNN whose features the model reads.
    pub pretrained: Option<String>,
    /// The most word n-grams (unigrams and bigrams, TF-IDF weighted) read from each free-text
    /// column; 0 reads none (then free text is dropped unless `pretrained` is given).
    pub text_vocabulary: usize,
    /// How free text is modelled: "bag" (n-grams, plus the frozen `pretrained` encoder's
    /// sentence vectors), "gru" or "lstm" (a recurrent network over the words), "finetune"
    /// (the `pretrained` encoder, its top layers trained).
    pub text_model: TextModel,
    /// The most tokens read from each text by the sequence models (gru, lstm, finetune).
    pub max_tokens: usize,
    /// The most distinct words the recurrent models (gru, lstm) know; rarer words share one
    /// token.
    pub token_vocabulary: usize,
    /// With an ONNX image model as `pretrained`: the [height, width] images are resized to;
    /// none: the size the network declares, or, for a network of any size, the images' own
    /// size (enlarged by a whole factor up to 64 pixels).
    pub pretrained_size: Option<[usize; 2]>,
    /// With an ONNX image model: per channel (or one for all), the mean of the 0-1 pixel
    /// values the network was trained to expect; pixels become (p / 255 - mean) / std.
    pub pretrained_mean: Vec<f32>,
    /// With an ONNX image model: per channel (or one for all), the deviation to divide by.
    pub pretrained_std: Vec<f32>,
}

impl Default for PreprocessOptions {
    fn default() -> Self {
        Self {
            numeric: NumericEncoding::Standard,
            max_levels: 64,
            pretrained: None,
            text_vocabulary: 2048,
            text_model: TextModel::Bag,
            max_tokens: 256,
            token_vocabulary: 20_000,
            pretrained_size: None,
            pretrained_mean: vec![0.5],
            pretrained_std: vec![0.5],
        }
    }
}

/// The fitted transform of one feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FeatureEncoder {
    /// A numeric column.
    Numeric {
        /// Training median, used for missing values.
        median: f64,
        /// Training mean.
        mean: f64,
        /// Training standard deviation (1 if zero).
        std: f64,
        /// Bin edges for piecewise-linear encoding; empty for standardisation.
        edges: Vec<f64>,
        /// Whether a 0/1 "was missing" input follows.
        missing_indicator: bool,
        /// How the column writes its numbers.
        #[serde(default, skip_serializing_if = "NumberFormat::is_plain")]
        format: NumberFormat,
    },
    /// A date column: days since 1970 standardised, then the sine and cosine of the angle
    /// through the year, the week and, with times, the day.
    Date {
        /// The chrono layout the column's values are written in.
        format: String,
        /// Training mean of the days since 1970, used for missing values.
        mean: f64,
        /// Training standard deviation of the days (1 if zero).
        std: f64,
        /// Whether the values carry a time of day (two more inputs).
        time_of_day: bool,
        /// Whether a 0/1 "was missing" input follows.
        missing_indicator: bool,
    },
    /// A categorical column, one-hot encoded.
    Categorical {
        /// Levels with their own input, most frequent first.
        levels: Vec<String>,
        /// Whether an "other" input collects levels beyond `levels`.
        other: bool,
    },
    /// A boolean column as one 0/1 input.
    Boolean {
        /// Whether a 0/1 "was missing" input follows.
        missing_indicator: bool,
    },
    /// An image's pixel value (0-255), passed on unchanged: the network standardises pixels
    /// itself. Every pixel must be given.
    Pixel,
    /// Free text as a bag of word n-grams and/or a pretrained encoder's sentence vector.
    Text(TextEncoder),
}

impl FeatureEncoder {
    /// How the column writes its numbers: plain unless a numeric column's are formatted.
    pub fn number_format(&self) -> NumberFormat {
        match self {
            FeatureEncoder::Numeric { format, .. } => *format,
            _ => NumberFormat::Plain,
        }
    }

    /// Number of network inputs this column becomes.
    pub fn width(&self) -> usize {
        match self {
            FeatureEncoder::Numeric {
                edges,
                missing_indicator,
                ..
            } => edges.len().saturating_sub(1).max(1) + usize::from(*missing_indicator),
            FeatureEncoder::Categorical { levels, other } => levels.len() + usize::from(*other),
            FeatureEncoder::Date {
                time_of_day,
                missing_indicator,
                ..
            } => 1 + date::cycle_inputs(*time_of_day) + usize::from(*missing_indicator),
            FeatureEncoder::Boolean { missing_indicator } => 1 + usize::from(*missing_indicator),
            FeatureEncoder::Pixel => 1,
            FeatureEncoder::Text(text) => text.width(),
        }
    }
}

/// One input column of the model and its fitted transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// Column name.
    pub column: String,
    /// Its inferred kind.
    pub kind: ColumnKind,
    /// Its fitted transform.
    pub encoder: FeatureEncoder,
}

/// The whole fitted preprocessing: used features in order, and dropped columns with reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Feature columns in input order.
    pub features: Vec<Feature>,
    /// Columns not used, with the reason.
    pub dropped: Vec<(String, DropReason)>,
    /// The target column, which prediction does not need.
    pub target: String,
    /// A pretrained image network the pixel rows pass through: the model reads its features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone: Option<crate::image::ImageBackbone>,
}

/// A table turned into a dense row-major matrix of network inputs.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Row-major values, `rows * width`.
    pub values: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Inputs per row.
    pub width: usize,
    /// Columns present in the file but not used by the model.
    pub ignored_columns: Vec<String>,
    /// Per column, how many cells held a category never seen in training.
    pub unseen_levels: Vec<(String, usize)>,
}

impl Preprocessor {
    /// Fits the transform on the given training rows of `table`.
    pub fn fit(
        table: &Table,
        plans: &[ColumnPlan],
        target: &str,
        train_rows: &[usize],
        options: &PreprocessOptions,
    ) -> Result<Self, DataError> {
        let mut features = Vec::new();
        let mut dropped = Vec::new();
        for plan in plans {
            let column = table.column(&plan.name).expect("planned columns exist");
            let reads_text = options.pretrained.is_some()
                || options.text_vocabulary > 0
                || options.text_model.reads_tokens();
            match &plan.use_as {
                Err(DropReason::FreeText) if reads_text => features.push(Feature {
                    column: plan.name.clone(),
                    kind: ColumnKind::Text,
                    encoder: FeatureEncoder::Text(TextEncoder::fit(column, train_rows, options)?),
                }),
                Err(reason) => dropped.push((plan.name.clone(), reason.clone())),
                Ok(kind) => features.push(Feature {
                    column: plan.name.clone(),
                    kind: *kind,
                    encoder: fit_column(column, *kind, &plan.reading, train_rows, options),
                }),
            }
        }
        if features.is_empty() {
            let reason = if dropped.is_empty() {
                "the table has only the target column".to_string()
            } else {
                dropped
                    .iter()
                    .map(|(c, r)| format!("'{c}' is {r}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(DataError::NoFeatures {
                file: table.source.clone(),
                reason,
            });
        }
        Ok(Self {
            features,
            dropped,
            target: target.to_string(),
            backbone: None,
        })
    }

    /// Number of network inputs per row.
    pub fn width(&self) -> usize {
        match &self.backbone {
            Some(b) => b.width(),
            None => self.column_width(),
        }
    }

    /// Number of values the feature columns become, before any pretrained image network.
    fn column_width(&self) -> usize {
        self.features.iter().map(|f| f.encoder.width()).sum()
    }

    /// Where each free-text column's token numbers sit among the network inputs (the first
    /// input) and how they were made, in feature order; empty unless text is read as tokens.
    pub fn token_spans(&self) -> Vec<(usize, &crate::tokens::TokenSlots)> {
        let mut spans = Vec::new();
        let mut offset = 0;
        for f in &self.features {
            if let FeatureEncoder::Text(text) = &f.encoder
                && let Some(tokens) = &text.tokens
            {
                spans.push((offset + text.tokens_start(), tokens));
            }
            offset += f.encoder.width();
        }
        spans
    }

    /// Whether some free-text column reaches the network as values (a bag of n-grams or
    /// sentence vectors) rather than as token numbers.
    pub fn reads_text_as_values(&self) -> bool {
        self.features.iter().any(|f| {
            matches!(&f.encoder, FeatureEncoder::Text(text) if text.tokens.is_none() && text.width() > 0)
        })
    }

    /// For each network input, the index of the feature it comes from (empty after a
    /// pretrained image network, whose every feature comes from every pixel).
    pub fn input_sources(&self) -> Vec<usize> {
        if self.backbone.is_some() {
            return Vec::new();
        }
        self.features
            .iter()
            .enumerate()
            .flat_map(|(i, f)| std::iter::repeat_n(i, f.encoder.width()))
            .collect()
    }

    /// Loads every pretrained model the transform uses (image network, sentence encoder) and
    /// checks each is the one the model was trained with, so that a missing or changed file
    /// is found before the first row arrives.
    pub fn check_pretrained(&self) -> Result<(), DataError> {
        if let Some(backbone) = &self.backbone {
            backbone.check()?;
        }
        for f in &self.features {
            if let FeatureEncoder::Text(text) = &f.encoder {
                if let Some(sentence) = &text.sentence {
                    crate::text::checked_encoder(&sentence.checkpoint, &sentence.sha256)?;
                }
                if let Some(crate::tokens::TokenSlots {
                    vocabulary: crate::tokens::Vocabulary::Checkpoint { checkpoint, sha256 },
                    ..
                }) = &text.tokens
                {
                    crate::text::checked_encoder(checkpoint, sha256)?;
                }
            }
        }
        Ok(())
    }

    /// The network's inputs from the feature columns' encoded values (row after row): those
    /// values, or the pretrained image network's features of them.
    pub fn network_inputs(&self, columns: Vec<f32>) -> Result<Vec<f32>, DataError> {
        match &self.backbone {
            Some(backbone) => backbone.features(&columns),
            None => Ok(columns),
        }
    }

    /// Transforms every row of `table`, matching columns by name in any order.
    pub fn transform(&self, table: &Table) -> Result<Encoded, DataError> {
        let mut finder = table.finder();
        let mut used = vec![false; table.columns.len()];
        let mut columns = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        for f in &self.features {
            match finder.position(&f.column) {
                Some(i) => {
                    used[i] = true;
                    columns.push(&table.columns[i]);
                }
                None => missing.push(f.column.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(DataError::MissingColumn {
                file: table.source.clone(),
                column: missing.join("', '"),
                hint: format!(
                    " which the model was trained on; add the column{} (values may be empty)",
                    if missing.len() > 1 { "s" } else { "" }
                ),
            });
        }
        let rows = table.n_rows();
        let width = self.column_width();
        let mut values = vec![0f32; rows * width];
        let mut offset = 0;
        let mut unseen_levels = Vec::new();
        for (f, column) in self.features.iter().zip(columns) {
            let unseen = encode_column(table, column, &f.encoder, &mut values, width, offset)?;
            if unseen > 0 {
                unseen_levels.push((f.column.clone(), unseen));
            }
            offset += f.encoder.width();
        }
        let known = |name: &str| name == self.target || self.dropped.iter().any(|(c, _)| c == name);
        let ignored_columns = table
            .columns
            .iter()
            .zip(&used)
            .filter(|(c, used)| !**used && !known(&c.name))
            .map(|(c, _)| c.name.clone())
            .collect();
        Ok(Encoded {
            values: self.network_inputs(values)?,
            rows,
            width: self.width(),
            ignored_columns,
            unseen_levels,
        })
    }
}

fn fit_column(
    column: &Column,
    kind: ColumnKind,
    reading: &Reading,
    rows: &[usize],
    options: &PreprocessOptions,
) -> FeatureEncoder {
    let cells: Vec<&Cell> = rows.iter().map(|&r| &column.cells[r]).collect();
    let has_missing = cells.iter().any(|c| matches!(c, Cell::Missing));
    match kind {
        ColumnKind::Text => unreachable!("text columns are fitted by TextEncoder::fit"),
        ColumnKind::Numeric => {
            let format = match reading {
                Reading::Numbers(format) => *format,
                _ => NumberFormat::Plain,
            };
            let mut v: Vec<f64> = cells.iter().filter_map(|c| format.number(c)).collect();
            v.sort_by(f64::total_cmp);
            let median = if v.is_empty() { 0.0 } else { quantile(&v, 0.5) };
            let n = v.len().max(1) as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            let edges = match options.numeric {
                NumericEncoding::Standard => Vec::new(),
                NumericEncoding::PiecewiseLinear { bins } => quantile_edges(&v, bins),
            };
            FeatureEncoder::Numeric {
                median,
                mean,
                std,
                edges,
                missing_indicator: has_missing,
                format,
            }
        }
        ColumnKind::Categorical => {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for c in &cells {
                let level = match c {
                    Cell::Missing => MISSING_LEVEL.to_string(),
                    other => other.as_text(),
                };
                *counts.entry(level).or_default() += 1;
            }
            let mut levels: Vec<(String, usize)> = counts.into_iter().collect();
            levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let other = levels.len() > options.max_levels;
            levels.truncate(if other {
                options.max_levels.saturating_sub(1)
            } else {
                levels.len()
            });
            FeatureEncoder::Categorical {
                levels: levels.into_iter().map(|(l, _)| l).collect(),
                other,
            }
        }
        ColumnKind::Boolean => FeatureEncoder::Boolean {
            missing_indicator: has_missing,
        },
        ColumnKind::Date => {
            let Reading::Dates(format) = reading.clone() else {
                unreachable!("inference makes date columns from a date reading")
            };
            let days: Vec<f64> = cells
                .iter()
                .filter_map(|c| match c {
                    Cell::Text(t) => date::parse(&format, t).map(date::days),
                    _ => None,
                })
                .collect();
            let n = days.len().max(1) as f64;
            let mean = days.iter().sum::<f64>() / n;
            let var = days.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
            FeatureEncoder::Date {
                time_of_day: date::has_time(&format),
                format,
                mean,
                std: if var > 0.0 { var.sqrt() } else { 1.0 },
                missing_indicator: has_missing,
            }
        }
    }
}

/// The level name that stands for a missing categorical value.
pub const MISSING_LEVEL: &str = "<missing>";

/// The q-quantile of sorted values, by linear interpolation.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Distinct quantile bin edges of sorted values, at most `bins + 1` of them.
fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    if sorted.is_empty() || bins == 0 {
        return Vec::new();
    }
    let mut edges: Vec<f64> = (0..=bins)
        .map(|i| quantile(sorted, i as f64 / bins as f64))
        .collect();
    edges.dedup_by(|a, b| (*a - *b).abs() <= 1e-12 * b.abs().max(1.0));
    if edges.len() < 2 { Vec::new() } else { edges }
}

/// Writes one column's inputs into `out` at `offset`; returns the count of unseen levels.
fn encode_column(
    table: &Table,
    column: &Column,
    encoder: &FeatureEncoder,
    out: &mut [f32],
    width: usize,
    offset: usize,
) -> Result<usize, DataError> {
    if let FeatureEncoder::Text(text) = encoder {
        text.encode(column, out, width, offset)?;
        return Ok(0);
    }
    let mut unseen = 0;
    for (row, cell) in column.cells.iter().enumerate() {
        let dst = &mut out[row * width + offset..row * width + offset + encoder.width()];
        match encoder {
            FeatureEncoder::Numeric {
                median,
                mean,
                std,
                edges,
                missing_indicator,
                format,
            } => {
                let (x, was_missing) = match cell {
                    Cell::Num(v) => (*v, false),
                    Cell::Missing => (*median, true),
                    Cell::Text(s) => match format.parse(s) {
                        Some(v) if !format.is_plain() => (v, false),
                        _ => {
                            return Err(DataError::BadValue {
                                file: table.source.clone(),
                                line: table.line_of(row),
                                column: column.name.clone(),
                                problem: format!(
                                    "'{s}' is not a number{}, but the model was trained on numbers here; fix the value or leave the cell empty",
                                    format.like()
                                ),
                            });
                        }
                    },
                };
                let n = encode_number(x, *mean, *std, edges, dst);
                if *missing_indicator {
                    dst[n] = f32::from(u8::from(was_missing));
                }
            }
            FeatureEncoder::Categorical { levels, other } => {
                let level = match cell {
                    Cell::Missing => MISSING_LEVEL.to_string(),
                    c => c.as_text(),
                };
                match levels.iter().position(|l| *l == level) {
                    Some(i) => dst[i] = 1.0,
                    None if *other => dst[levels.len()] = 1.0,
                    None => unseen += usize::from(level != MISSING_LEVEL),
                }
            }
            FeatureEncoder::Date {
                format,
                mean,
                std,
                time_of_day,
                missing_indicator,
            } => {
                let moment = match cell {
                    Cell::Missing => None,
                    c => Some(
                        date::parse(format, &c.as_text()).ok_or_else(|| DataError::BadValue {
                            file: table.source.clone(),
                            line: table.line_of(row),
                            column: column.name.clone(),
                            problem: format!(
                                "'{}' is not a date written like {}, as the model was trained on; fix the value or leave the cell empty",
                                c.as_text(),
                                date::example(format)
                            ),
                        })?,
                    ),
                };
                if let Some(t) = moment {
                    dst[0] = ((date::days(t) - mean) / std).clamp(-20.0, 20.0) as f32;
                    date::cycles(t, *time_of_day, &mut dst[1..]);
                }
                if *missing_indicator {
                    dst[dst.len() - 1] = f32::from(u8::from(moment.is_none()));
                }
            }
            FeatureEncoder::Boolean { missing_indicator } => {
                let value = match cell {
                    Cell::Missing => None,
                    Cell::Num(v) if *v == 0.0 || *v == 1.0 => Some(*v == 1.0),
                    c => Some(
                        boolean_value(&c.as_text()).ok_or_else(|| DataError::BadValue {
                            file: table.source.clone(),
                            line: table.line_of(row),
                            column: column.name.clone(),
                            problem: format!(
                                "'{}' is not a yes/no value, but the model was trained on one here",
                                c.as_text()
                            ),
                        })?,
                    ),
                };
                dst[0] = value.map_or(0.5, |b| f32::from(u8::from(b)));
                if *missing_indicator {
                    dst[1] = f32::from(u8::from(value.is_none()));
                }
            }
            FeatureEncoder::Text(_) => unreachable!("text columns are encoded whole above"),
            FeatureEncoder::Pixel => {
                dst[0] = match cell {
                    Cell::Num(v) if (0.0..=255.0).contains(v) => *v as f32,
                    c => {
                        return Err(DataError::BadValue {
                            file: table.source.clone(),
                            line: table.line_of(row),
                            column: column.name.clone(),
                            problem: format!(
                                "'{}' is not a pixel value; the model reads image pixels from 0 to 255 and needs every one",
                                c.as_text()
                            ),
                        });
                    }
                };
            }
        }
    }
    Ok(unseen)
}

/// Encodes one number; returns how many inputs it used.
fn encode_number(x: f64, mean: f64, std: f64, edges: &[f64], dst: &mut [f32]) -> usize {
    if edges.len() < 2 {
        dst[0] = ((x - mean) / std).clamp(-20.0, 20.0) as f32;
        return 1;
    }
    let bins = edges.len() - 1;
    for t in 0..bins {
        let (lo, hi) = (edges[t], edges[t + 1]);
        let mut e = (x - lo) / (hi - lo);
        if t > 0 {
            e = e.max(0.0);
        }
        if t + 1 < bins {
            e = e.min(1.0);
        }
        dst[t] = e.clamp(-20.0, 20.0) as f32;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::infer_columns;
    use crate::read::read_csv;
    use std::io::BufReader;

    fn table(csv: &str) -> Table {
        read_csv(BufReader::new(csv.as_bytes()), "t.csv").unwrap()
    }

    fn fitted(csv: &str, options: &PreprocessOptions) -> (Table, Preprocessor) {
        let t = table(csv);
        let plans = infer_columns(&t, "y").unwrap();
        let rows: Vec<usize> = (0..t.n_rows()).collect();
        let p = Preprocessor::fit(&t, &plans, "y", &rows, options).unwrap();
        (t, p)
    }

    #[test]
    fn formatted_numbers_and_dates_are_encoded_as_values() {
        let csv = "price,when,y\n\"$1,000\",2024-01-06,0\n$3000.50,,1\n(500),2024-01-08,0\n";
        let (t, p) = fitted(csv, &PreprocessOptions::default());
        assert_eq!(p.features[0].encoder.number_format(), NumberFormat::Point);
        let FeatureEncoder::Numeric { mean, .. } = p.features[0].encoder else {
            panic!("price is numeric: {:?}", p.features[0]);
        };
        assert!((mean - 3500.5 / 3.0).abs() < 1e-9, "{mean}");
        assert_eq!(p.features[1].kind, ColumnKind::Date);
        // price: one input; when: days, year and week angles, missing indicator.
        let e = p.transform(&t).unwrap();
        assert_eq!(e.width, 1 + 1 + 4 + 1);
        let row = |r: usize| &e.values[r * 7..(r + 1) * 7];
        assert_eq!(row(0)[1], -1.0, "6 January is a day before the mean");
        assert_eq!(row(2)[1], 1.0);
        // Saturday 6 January: 5/7 of the way through the week.
        let week = std::f64::consts::TAU * 5.0 / 7.0;
        assert!((f64::from(row(0)[4]) - week.sin()).abs() < 1e-6);
        assert_eq!(
            row(1)[1..],
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            "a missing date"
        );
        let err = p
            .transform(&table("price,when\n$5,8 Jan 2024\n"))
            .unwrap_err();
        assert!(
            err.to_string().contains("line 2, column 'when'")
                && err.to_string().contains("'2024-03-01'"),
            "{err}"
        );
        let err = p.transform(&table("price,when\n5 dollars,\n")).unwrap_err();
        assert!(err.to_string().contains("$1,234.50"), "{err}");
    }

    #[test]
    fn standardises_imputes_and_one_hot_encodes() {
        let (t, p) = fitted("x,c,y\n1,a,0\n3,b,1\n,a,0\n", &PreprocessOptions::default());
        let e = p.transform(&t).unwrap();
        // x: standardised + missing indicator; c: two levels (a most frequent first).
        assert_eq!(e.width, 4);
        assert_eq!(&e.values[0..4], &[-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(&e.values[4..8], &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            &e.values[8..12],
            &[0.0, 1.0, 1.0, 0.0],
            "median imputed, flagged"
        );
    }

    #[test]
    fn prediction_matches_columns_by_name_and_reports_extras_and_unseen() {
        let (_, p) = fitted("x,c,y\n1,a,0\n3,b,1\n", &PreprocessOptions::default());
        let e = p.transform(&table("extra,c,x\n9,zzz,1\n")).unwrap();
        assert_eq!(&e.values, &[-1.0, 0.0, 0.0]);
        assert_eq!(e.ignored_columns, vec!["extra"]);
        assert_eq!(e.unseen_levels, vec![("c".to_string(), 1)]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let (_, p) = fitted("x,c,y\n1,a,0\n3,b,1\n", &PreprocessOptions::default());
        let err = p.transform(&table("c\na\n")).unwrap_err().to_string();
        assert!(err.contains("no column 'x'"), "{err}");
    }

    #[test]
    fn text_in_a_trained_numeric_column_is_refused_with_its_line() {
        let (_, p) = fitted("x,y\n1,0\n3,1\n", &PreprocessOptions::default());
        let err = p.transform(&table("x\n2\nabc\n")).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("abc"), "{err}");
    }

    #[test]
    fn piecewise_linear_encoding_is_monotone_and_bounded_inside() {
        let csv: String = std::iter::once("x,y\n".to_string())
            .chain((0..101).map(|i| format!("{},{}\n", f64::from(i) * 1.5, i % 2)))
            .collect();
        let options = PreprocessOptions {
            numeric: NumericEncoding::PiecewiseLinear { bins: 4 },
            ..PreprocessOptions::default()
        };
        let (_, p) = fitted(&csv, &options);
        let e = p.transform(&table("x\n0\n75\n150\n-100\n")).unwrap();
        assert_eq!(e.width, 4);
        assert_eq!(&e.values[0..4], &[0.0, 0.0, 0.0, 0.0]);
        assert_eq!(&e.values[4..8], &[1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&e.values[8..12], &[1.0, 1.0, 1.0, 1.0]);
        assert!(e.values[12] < 0.0, "extrapolates below the first edge");
    }

    #[test]
    fn rare_levels_share_an_other_input() {
        let options = PreprocessOptions {
            numeric: NumericEncoding::Standard,
            max_levels: 2,
            ..PreprocessOptions::default()
        };
        let (_, p) = fitted("c,y\na,0\na,1\nb,0\nc,1\n", &options);
        assert_eq!(p.width(), 2);
        let e = p.transform(&table("c\nb\na\n")).unwrap();
        assert_eq!(&e.values, &[0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn a_sequence_model_reads_text_as_token_numbers_after_the_other_inputs() {
        let words = [
            "free money now for all of you today",
            "meeting at noon in the big room today",
            "free lunch at noon in the big room",
            "win money now for all of you today",
        ];
        let csv: String = std::iter::once("x,text,y\n".to_string())
            .chain((0..40).map(|i| format!("{}.5,{i}x{i} {},{}\n", i % 7, words[i % 4], i % 2)))
            .collect();
        let options = PreprocessOptions {
            text_model: TextModel::Gru,
            max_tokens: 10,
            ..PreprocessOptions::default()
        };
        let (t, p) = fitted(&csv, &options);
        let spans = p.token_spans();
        assert_eq!(spans.len(), 1);
        let (offset, slots) = spans[0];
        assert_eq!((offset, slots.length), (1, 10), "the number comes first");
        assert_eq!(p.width(), 11);
        let e = p.transform(&t).unwrap();
        // Row 0: "0x0" (seen once: the unknown token, written 1), eight known words, padding.
        let row = &e.values[0..11];
        assert_eq!(row[1], 1.0, "{row:?}");
        assert!(row[2..10].iter().all(|&v| v >= 2.0), "{row:?}");
        assert_eq!(row[10], 0.0, "padding");
    }
}
