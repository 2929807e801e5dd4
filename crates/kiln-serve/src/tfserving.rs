//! TensorFlow Serving's REST predict API: `instances` (row format) or `inputs` (columnar
//! format) in, `predictions` or `outputs` back, as TF Serving's clients expect.

use crate::error::ApiError;
use crate::input::{Columns, json_cell};
use crate::model::{ModelVersion, Outputs, Signature};
use kiln::data::{Cell, Table};
use serde_json::{Map, Value, json};

/// Which format the request used, which the response follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `instances`: one entry per row; answered with `predictions`.
    Rows,
    /// `inputs`: one entry per column; answered with `outputs`.
    Columns,
}

/// Reads a predict request into a table of raw cells.
pub fn table(body: &[u8], signature: &Signature) -> Result<(Table, Format), ApiError> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request is not valid JSON: {e}")))?;
    let Value::Object(mut request) = request else {
        return Err(ApiError::bad_request(
            "the request must be a JSON object with \"instances\" or \"inputs\"",
        ));
    };
    match (request.remove("instances"), request.remove("inputs")) {
        (Some(Value::Array(rows)), None) => {
            Ok((from_rows(&rows, signature, "instances")?, Format::Rows))
        }
        (None, Some(Value::Array(rows))) => {
            Ok((from_rows(&rows, signature, "inputs")?, Format::Columns))
        }
        (None, Some(Value::Object(columns))) => {
            Ok((from_columns(columns, signature)?, Format::Columns))
        }
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "the request has both \"instances\" and \"inputs\"; send one of them",
        )),
        _ => Err(ApiError::bad_request(
            "the request needs \"instances\": a list of rows (objects keyed by column, or lists in the model's input order), or \"inputs\": an object of columns",
        )),
    }
}

fn from_rows(rows: &[Value], signature: &Signature, field: &str) -> Result<Table, ApiError> {
    let width = signature.inputs.len();
    let mut cells = Vec::with_capacity(rows.len() * width);
    for (i, row) in rows.iter().enumerate() {
        let at = |e: String| ApiError::bad_request(format!("{field}[{i}]: {e}"));
        match row {
            Value::Object(values) => {
                if let Some(unknown) = values.keys().find(|k| signature.position(k).is_none()) {
                    return Err(at(format!(
                        "the model has no input named '{unknown}'; its inputs are {}",
                        signature.names()
                    )));
                }
                for (name, _) in &signature.inputs {
                    let value = values.get(name).ok_or_else(|| {
                        at(format!(
                            "input '{name}' is missing; send null for a missing value"
                        ))
                    })?;
                    cells.push(
                        json_cell(value, None).map_err(|e| at(format!("input '{name}': {e}")))?,
                    );
                }
            }
            Value::Array(values) if values.len() == width => {
                for ((name, _), value) in signature.inputs.iter().zip(values) {
                    cells.push(
                        json_cell(value, None).map_err(|e| at(format!("input '{name}': {e}")))?,
                    );
                }
            }
            Value::Array(values) => {
                return Err(at(format!(
                    "a row list has {} values but the model has {width} inputs ({})",
                    values.len(),
                    signature.names()
                )));
            }
            _ if width == 1 => cells.push(json_cell(row, None).map_err(at)?),
            _ => {
                return Err(at(
                    "each row must be an object keyed by input name or a list of values in the model's input order".into(),
                ));
            }
        }
    }
    Columns::from_rows(signature, cells, field)?.into_table(signature)
}

fn from_columns(columns: Map<String, Value>, signature: &Signature) -> Result<Table, ApiError> {
    let mut out = Columns::default();
    for (name, values) in columns {
        let Value::Array(values) = values else {
            return Err(ApiError::bad_request(format!(
                "inputs['{name}'] must be a list with one value per row"
            )));
        };
        let cells: Vec<Cell> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json_cell(v, None)
                    .map_err(|e| ApiError::bad_request(format!("inputs['{name}'][{i}]: {e}")))
            })
            .collect::<Result<_, _>>()?;
        out.push(signature, &name, cells)?;
    }
    out.into_table(signature)
}

/// The response, in the request's format.
pub fn response(model: &ModelVersion, outputs: &Outputs, format: Format) -> Value {
    let s = &model.signature;
    if !s.is_classifier() {
        return match format {
            Format::Rows => json!({ "predictions": outputs.values }),
            Format::Columns => json!({ "outputs": outputs.values }),
        };
    }
    let classes = s.classes.len();
    let labels: Vec<&str> = outputs
        .labels(classes)
        .into_iter()
        .map(|i| s.classes[i].as_str())
        .collect();
    let probabilities: Vec<&[f32]> = outputs.values.chunks(classes).collect();
    match format {
        Format::Rows => {
            let rows: Vec<Value> = labels
                .iter()
                .zip(&probabilities)
                .map(|(l, p)| json!({"label": l, "probabilities": p}))
                .collect();
            json!({ "predictions": rows })
        }
        Format::Columns => json!({"outputs": {"label": labels, "probabilities": probabilities}}),
    }
}

/// TF Serving's model status answer.
pub fn status(versions: &[u64]) -> Value {
    let list: Vec<Value> = versions
        .iter()
        .rev()
        .map(|v| json!({"version": v.to_string(), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}))
        .collect();
    json!({ "model_version_status": list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_signature;

    #[test]
    fn rows_as_objects_lists_and_columns_give_the_same_table() {
        let s = test_signature(&[]);
        let (a, fa) = table(br#"{"instances":[{"x":1,"c":"r"},{"c":null,"x":"2"}]}"#, &s).unwrap();
        let (b, _) = table(br#"{"instances":[[1,"r"],[2,null]]}"#, &s).unwrap();
        let (c, fc) = table(br#"{"inputs":{"c":["r",""],"x":[1,2]}}"#, &s).unwrap();
        assert_eq!((fa, fc), (Format::Rows, Format::Columns));
        for t in [&b, &c] {
            for name in ["x", "c"] {
                assert_eq!(
                    a.column(name).unwrap().cells,
                    t.column(name).unwrap().cells,
                    "{name}"
                );
            }
        }
        assert_eq!(
            a.column("c").unwrap().cells,
            vec![Cell::Text("r".into()), Cell::Missing]
        );
    }

    #[test]
    fn bad_requests_name_the_row_and_input() {
        let s = test_signature(&[]);
        for (body, expected) in [
            (
                &br#"{"instances":[{"x":1}]}"#[..],
                "instances[0]: input 'c' is missing",
            ),
            (
                br#"{"instances":[{"x":1,"c":"a","z":2}]}"#,
                "no input named 'z'",
            ),
            (
                br#"{"instances":[[1]]}"#,
                "has 1 values but the model has 2 inputs",
            ),
            (
                br#"{"instances":[[1,"a"],["b","a"]]}"#,
                "row 1: \"b\" is not a number",
            ),
            (br#"{"rows":[]}"#, "needs \"instances\""),
            (br#"[1,2]"#, "must be a JSON object"),
        ] {
            let err = table(body, &s).unwrap_err();
            assert!(
                err.message.contains(expected),
                "{} lacks {expected}",
                err.message
            );
        }
    }
}
