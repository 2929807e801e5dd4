//! Request values to a table of raw cells, the same cells `kiln predict` reads from a CSV file:
//! numbers, text (parsed as a CSV cell would be) and missing values, checked against the model's
//! inputs so that a wrong value is refused with the input and element that hold it.

use crate::error::ApiError;
use crate::model::{InputKind, Signature};
use kiln::data::{Cell, Column, Table};
use serde_json::Value;

/// The name given to request tables in messages.
const SOURCE: &str = "request";

/// A tensor's element type, as the Open Inference Protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `BOOL`.
    Bool,
    /// Integers and floats of every width.
    Number(NumberType),
    /// `BYTES`: strings.
    Bytes,
}

/// A numeric element type and its width in bytes, for binary tensor data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberType {
    /// UINT8 .. UINT64.
    Unsigned(usize),
    /// INT8 .. INT64.
    Signed(usize),
    /// FP32, FP64 (FP16 is refused).
    Float(usize),
}

impl DataType {
    /// Parses a datatype name.
    pub fn parse(name: &str, input: &str) -> Result<Self, ApiError> {
        use NumberType::*;
        Ok(match name {
            "BOOL" => Self::Bool,
            "BYTES" => Self::Bytes,
            "UINT8" => Self::Number(Unsigned(1)),
            "UINT16" => Self::Number(Unsigned(2)),
            "UINT32" => Self::Number(Unsigned(4)),
            "UINT64" => Self::Number(Unsigned(8)),
            "INT8" => Self::Number(Signed(1)),
            "INT16" => Self::Number(Signed(2)),
            "INT32" => Self::Number(Signed(4)),
            "INT64" => Self::Number(Signed(8)),
            "FP32" => Self::Number(Float(4)),
            "FP64" => Self::Number(Float(8)),
            other => {
                return Err(ApiError::bad_request(format!(
                    "input '{input}': datatype '{other}' is not supported; use FP32, FP64, INT32, INT64, BOOL or BYTES"
                )));
            }
        })
    }
}

/// One cell from a JSON value of the given datatype (`None`: datatype not checked, as in TF
/// Serving's JSON, where a value's JSON type is its type).
pub fn json_cell(value: &Value, datatype: Option<DataType>) -> Result<Cell, String> {
    let fits = match (value, datatype) {
        (_, None) | (Value::Null, _) => true,
        (Value::Number(_), Some(d)) => d != DataType::Bool,
        (Value::Bool(_), Some(d)) => d == DataType::Bool,
        (Value::String(_), Some(d)) => d == DataType::Bytes,
        _ => false,
    };
    match (Cell::from_json(value), datatype) {
        (Some(cell), _) if fits => Ok(cell),
        (_, Some(datatype)) => Err(format!(
            "{} does not match the input's datatype {}",
            describe(value),
            datatype_name(datatype)
        )),
        (_, None) => Err(format!(
            "{} is not a value; send a number, a string, true/false or null",
            describe(value)
        )),
    }
}

/// A cell from a binary element: a number; NaN and infinities are missing values.
pub fn number_cell(v: f64) -> Cell {
    if v.is_finite() {
        Cell::Num(v)
    } else {
        Cell::Missing
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", truncate(s)),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::Null => "null".into(),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

fn datatype_name(d: DataType) -> &'static str {
    match d {
        DataType::Bool => "BOOL",
        DataType::Bytes => "BYTES",
        DataType::Number(NumberType::Float(_)) => "FP32/FP64",
        DataType::Number(_) => "an integer type",
    }
}

/// Columns of cells keyed by input name, assembled into a table the model's preprocessing reads.
#[derive(Debug, Default)]
pub struct Columns {
    columns: Vec<Column>,
}

impl Columns {
    /// Adds a column, refusing names the model does not have and names given twice.
    pub fn push(
        &mut self,
        signature: &Signature,
        name: &str,
        cells: Vec<Cell>,
    ) -> Result<(), ApiError> {
        let Some(position) = signature.position(name) else {
            return Err(ApiError::bad_request(format!(
                "the model has no input named '{name}'; its inputs are {} (or send one [rows, {}] tensor with them in that order)",
                signature.names(),
                signature.inputs.len()
            )));
        };
        if self.columns.iter().any(|c| c.name == name) {
            return Err(ApiError::bad_request(format!(
                "input '{name}' is given twice"
            )));
        }
        check_kind(name, signature.inputs[position].1, &cells)?;
        self.columns.push(Column {
            name: name.to_string(),
            cells,
        });
        Ok(())
    }

    /// The table, once every input is present with the same number of rows.
    pub fn into_table(self, signature: &Signature) -> Result<Table, ApiError> {
        let missing: Vec<String> = signature
            .inputs
            .iter()
            .filter(|(n, _)| !self.columns.iter().any(|c| &c.name == n))
            .map(|(n, _)| format!("'{n}'"))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(format!(
                "missing input{} {}; the model needs every one of {} (send null or an empty string for a missing value)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                signature.names()
            )));
        }
        let rows = self.columns[0].cells.len();
        if let Some(odd) = self.columns.iter().find(|c| c.cells.len() != rows) {
            return Err(ApiError::bad_request(format!(
                "input '{}' has {} rows but input '{}' has {rows}; every input needs one value per row",
                odd.name,
                odd.cells.len(),
                self.columns[0].name
            )));
        }
        if rows == 0 {
            return Err(ApiError::bad_request(
                "the request holds no rows; send at least one",
            ));
        }
        Ok(Table {
            source: SOURCE.into(),
            columns: self.columns,
            lines: Vec::new(),
        })
    }

    /// Splits row-major cells (`rows * inputs`, in the model's input order) into columns.
    pub fn from_rows(
        signature: &Signature,
        cells: Vec<Cell>,
        what: &str,
    ) -> Result<Self, ApiError> {
        let width = signature.inputs.len();
        let mut columns: Vec<Vec<Cell>> = (0..width)
            .map(|_| Vec::with_capacity(cells.len() / width.max(1)))
            .collect();
        for (i, cell) in cells.into_iter().enumerate() {
            columns[i % width].push(cell);
        }
        let mut out = Self::default();
        for ((name, kind), cells) in signature.inputs.iter().zip(columns) {
            check_kind(name, *kind, &cells)
                .map_err(|e| ApiError::bad_request(format!("{what}: {}", e.message)))?;
            out.columns.push(Column {
                name: name.clone(),
                cells,
            });
        }
        Ok(out)
    }
}

/// Refuses text where the model was trained on numbers.
fn check_kind(name: &str, kind: InputKind, cells: &[Cell]) -> Result<(), ApiError> {
    if kind != InputKind::Number {
        return Ok(());
    }
    if let Some((row, Cell::Text(t))) = cells
        .iter()
        .enumerate()
        .find(|(_, c)| matches!(c, Cell::Text(_)))
    {
        return Err(ApiError::bad_request(format!(
            "input '{name}', row {row}: \"{}\" is not a number, but the model was trained on numbers here; send a number, or null for a missing value",
            truncate(t)
        )));
    }
    Ok(())
}

/// Every element of a (possibly nested) JSON array, in row-major order.
pub fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_signature;

    #[test]
    fn json_values_become_the_cells_a_csv_would_give() {
        assert_eq!(
            json_cell(
                &serde_json::json!(2.5),
                Some(DataType::Number(NumberType::Float(4)))
            ),
            Ok(Cell::Num(2.5))
        );
        assert_eq!(
            json_cell(&serde_json::json!("3"), Some(DataType::Bytes)),
            Ok(Cell::Num(3.0))
        );
        assert_eq!(
            json_cell(&serde_json::json!("NA"), Some(DataType::Bytes)),
            Ok(Cell::Missing)
        );
        assert_eq!(
            json_cell(&serde_json::json!(" red "), None),
            Ok(Cell::Text("red".into()))
        );
        assert_eq!(
            json_cell(&serde_json::json!(true), Some(DataType::Bool)),
            Ok(Cell::Num(1.0))
        );
        assert_eq!(json_cell(&Value::Null, None), Ok(Cell::Missing));
        let err = json_cell(
            &serde_json::json!("abc"),
            Some(DataType::Number(NumberType::Float(4))),
        )
        .unwrap_err();
        assert!(err.contains("\"abc\"") && err.contains("FP32"), "{err}");
        assert_eq!(number_cell(f64::NAN), Cell::Missing);
    }

    #[test]
    fn text_in_a_numeric_input_is_refused_with_its_row() {
        let mut columns = Columns::default();
        let err = columns
            .push(
                &test_signature(&["a", "b"]),
                "x",
                vec![Cell::Num(1.0), Cell::Text("abc".into())],
            )
            .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            err.message.contains("'x', row 1") && err.message.contains("abc"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_missing_duplicate_and_ragged_inputs_are_refused() {
        let s = test_signature(&["a", "b"]);
        let mut columns = Columns::default();
        let err = columns.push(&s, "z", vec![Cell::Num(1.0)]).unwrap_err();
        assert!(
            err.message.contains("no input named 'z'") && err.message.contains("'x', 'c'"),
            "{}",
            err.message
        );
        columns.push(&s, "x", vec![Cell::Num(1.0)]).unwrap();
        assert!(
            columns
                .push(&s, "x", vec![Cell::Num(1.0)])
                .unwrap_err()
                .message
                .contains("twice")
        );
        let err = Columns {
            columns: columns.columns.clone(),
        }
        .into_table(&s)
        .unwrap_err();
        assert!(err.message.contains("missing input 'c'"), "{}", err.message);
        columns
            .push(&s, "c", vec![Cell::Missing, Cell::Missing])
            .unwrap();
        let err = columns.into_table(&s).unwrap_err();
        assert!(err.message.contains("has 2 rows"), "{}", err.message);
    }

    #[test]
    fn row_major_cells_split_into_columns_in_input_order() {
        let s = test_signature(&["a", "b"]);
        let cells = vec![
            Cell::Num(1.0),
            Cell::Text("r".into()),
            Cell::Num(2.0),
            Cell::Missing,
        ];
        let table = Columns::from_rows(&s, cells, "input 'input'")
            .unwrap()
            .into_table(&s)
            .unwrap();
        assert_eq!(table.columns[0].cells, vec![Cell::Num(1.0), Cell::Num(2.0)]);
        assert_eq!(
            table.columns[1].cells,
            vec![Cell::Text("r".into()), Cell::Missing]
        );
    }
}
