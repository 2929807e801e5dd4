//! The Open Inference Protocol v2 (KServe, Triton) over REST: request and response shapes,
//! model metadata, and Triton's binary tensor data extension, which `tritonclient` uses by
//! default.

use crate::error::ApiError;
use crate::input::{Columns, DataType, NumberType, flatten, json_cell, number_cell};
use crate::model::{InputKind, ModelVersion, Outputs, Signature};
use kiln::data::{Cell, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The header that marks a request whose JSON is followed by binary tensor data.
pub const BINARY_HEADER: &str = "inference-header-content-length";

/// Per input, its binary tensor data if it was sent as such.
pub type Binary<'a> = Vec<Option<&'a [u8]>>;

/// An inference request.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// The input tensors.
    pub inputs: Vec<InputTensor>,
    /// Which outputs to return (all when absent).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// One input tensor.
#[derive(Debug, Deserialize)]
pub struct InputTensor {
    /// Its name: a feature column, or any name for the whole-row form.
    pub name: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its element type.
    pub datatype: String,
    /// Its elements, flat or nested row-major (absent when sent as binary data).
    #[serde(default)]
    pub data: Option<Value>,
    /// Extension parameters (`binary_data_size`).
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

/// An output the client asks for.
#[derive(Debug, Deserialize)]
pub struct RequestedOutput {
    /// The output's name.
    pub name: String,
}

/// Parses a request body: JSON, or JSON followed by binary tensor data when `json_len` (the
/// `Inference-Header-Content-Length` header) is given. Returns the request and, per input,
/// its binary data if it has any.
pub fn parse(body: &[u8], json_len: Option<usize>) -> Result<(InferRequest, Binary<'_>), ApiError> {
    let (head, mut rest) = match json_len {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the Inference-Header-Content-Length header says {n} bytes of JSON, but the body has only {}",
                body.len()
            )));
        }
        None => (body, &[][..]),
    };
    let request: InferRequest = serde_json::from_slice(head).map_err(|e| {
        ApiError::bad_request(format!("the request is not a valid inference request: {e}"))
    })?;
    let mut binary = Vec::with_capacity(request.inputs.len());
    for input in &request.inputs {
        let size = input
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "input '{}': binary_data_size must be a whole number",
                        input.name
                    ))
                })
            })
            .transpose()?;
        match size {
            Some(n) => {
                let n = n as usize;
                if n > rest.len() {
                    return Err(ApiError::bad_request(format!(
                        "input '{}': binary_data_size is {n} bytes but only {} bytes of binary data remain",
                        input.name,
                        rest.len()
                    )));
                }
                let (data, tail) = rest.split_at(n);
                binary.push(Some(data));
                rest = tail;
            }
            None => binary.push(None),
        }
    }
    Ok((request, binary))
}

/// The request's rows as a table of raw cells, from per-column inputs or one `[rows, inputs]` tensor.
pub fn table(
    request: &InferRequest,
    binary: &[Option<&[u8]>],
    signature: &Signature,
) -> Result<Table, ApiError> {
    if request.inputs.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the request has no inputs; send one per column ({}) or one [rows, {}] tensor",
            signature.names(),
            signature.inputs.len()
        )));
    }
    let width = signature.inputs.len() as i64;
    if let [only] = request.inputs.as_slice()
        && only.shape.len() == 2
        && only.shape[1] == width
        && (width > 1 || signature.position(&only.name).is_none())
    {
        let cells = cells(only, binary[0])?;
        let what = format!("input '{}'", only.name);
        return Columns::from_rows(signature, cells, &what)?.into_table(signature);
    }
    let mut columns = Columns::default();
    for (input, bytes) in request.inputs.iter().zip(binary) {
        let rows = match input.shape.as_slice() {
            [n] | [n, 1] if *n >= 0 => *n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "input '{}' has shape {:?}; a column input has shape [rows] or [rows, 1], and the whole-row form is one input of shape [rows, {width}]",
                    input.name, input.shape
                )));
            }
        };
        let cells = cells(input, *bytes)?;
        debug_assert_eq!(cells.len() as i64, rows);
        columns.push(signature, &input.name, cells)?;
    }
    columns.into_table(signature)
}

/// The elements of one input, checked against its shape and datatype.
fn cells(input: &InputTensor, binary: Option<&[u8]>) -> Result<Vec<Cell>, ApiError> {
    let name = &input.name;
    let datatype = DataType::parse(&input.datatype, name)?;
    if input.shape.iter().any(|&d| d < 0) {
        return Err(ApiError::bad_request(format!(
            "input '{name}' has shape {:?}; dimensions cannot be negative",
            input.shape
        )));
    }
    let count: usize = input.shape.iter().map(|&d| d as usize).product();
    let cells = match (binary, &input.data) {
        (Some(bytes), _) => binary_cells(bytes, datatype, count, name)?,
        (None, Some(data)) => {
            let mut values = Vec::with_capacity(count);
            flatten(data, &mut values);
            if values.len() != count {
                return Err(ApiError::bad_request(format!(
                    "input '{name}' has shape {:?}, which holds {count} values, but its data has {}",
                    input.shape,
                    values.len()
                )));
            }
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    json_cell(v, Some(datatype)).map_err(|e| {
                        ApiError::bad_request(format!("input '{name}', element {i}: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "input '{name}' has no data; send its values in \"data\" or as binary data"
            )));
        }
    };
    Ok(cells)
}

/// Decodes binary tensor data: little-endian numbers, one byte per BOOL, and BYTES elements
/// each prefixed by a 4-byte little-endian length.
fn binary_cells(
    bytes: &[u8],
    datatype: DataType,
    count: usize,
    name: &str,
) -> Result<Vec<Cell>, ApiError> {
    let wrong_size = |expected: usize| {
        ApiError::bad_request(format!(
            "input '{name}': its binary data is {} bytes, but its shape and datatype need {expected}",
            bytes.len()
        ))
    };
    match datatype {
        DataType::Bool => {
            if bytes.len() != count {
                return Err(wrong_size(count));
            }
            Ok(bytes
                .iter()
                .map(|&b| Cell::Num(f64::from(u8::from(b != 0))))
                .collect())
        }
        DataType::Number(kind) => {
            let width = match kind {
                NumberType::Unsigned(w) | NumberType::Signed(w) | NumberType::Float(w) => w,
            };
            if bytes.len() != count * width {
                return Err(wrong_size(count * width));
            }
            Ok(bytes
                .chunks_exact(width)
                .map(|b| number_cell(decode_number(b, kind)))
                .collect())
        }
        DataType::Bytes => {
            let mut cells = Vec::with_capacity(count);
            let mut rest = bytes;
            while !rest.is_empty() {
                let (len, tail) = rest.split_at_checked(4).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "input '{name}': its BYTES binary data ends inside a length prefix"
                    ))
                })?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let (s, tail) = tail.split_at_checked(len).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "input '{name}': its BYTES binary data ends inside an element"
                    ))
                })?;
                let s = std::str::from_utf8(s).map_err(|_| {
                    ApiError::bad_request(format!(
                        "input '{name}', element {}: not UTF-8 text",
                        cells.len()
                    ))
                })?;
                cells.push(Cell::from_text(s));
                rest = tail;
            }
            if cells.len() != count {
                return Err(ApiError::bad_request(format!(
                    "input '{name}': its shape holds {count} elements but its binary data has {}",
                    cells.len()
                )));
            }
            Ok(cells)
        }
    }
}

fn decode_number(b: &[u8], kind: NumberType) -> f64 {
    match (kind, b.len()) {
        (NumberType::Float(4), _) => f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))),
        (NumberType::Float(_), _) => f64::from_le_bytes(b.try_into().expect("8 bytes")),
        (NumberType::Unsigned(_), _) => {
            let mut buf = [0u8; 8];
            buf[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(buf) as f64
        }
        (NumberType::Signed(n), _) => {
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(b);
            let shift = 64 - 8 * n as u32;
            ((i64::from_le_bytes(buf) << shift) >> shift) as f64
        }
    }
}

/// The outputs a model gives, with their datatypes.
fn output_specs(signature: &Signature) -> Vec<(&'static str, &'static str, Vec<i64>)> {
    if signature.is_classifier() {
        vec![
            ("label", "BYTES", vec![-1]),
            (
                "probabilities",
                "FP32",
                vec![-1, signature.classes.len() as i64],
            ),
        ]
    } else {
        vec![("prediction", "FP32", vec![-1])]
    }
}

/// The response to an inference request, serialised as it is written (no JSON tree).
#[derive(Debug, Serialize)]
pub struct InferResponse<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputTensor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<ResponseParameters<'a>>,
}

/// One output tensor of a response.
#[derive(Debug, Serialize)]
struct OutputTensor<'a> {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: OutputData<'a>,
}

/// An output tensor's elements.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutputData<'a> {
    Labels(Vec<&'a str>),
    Numbers(&'a [f32]),
}

/// Response parameters: per categorical input, rows that held a category unseen in training.
#[derive(Debug, Serialize)]
struct ResponseParameters<'a> {
    unseen_categories: std::collections::BTreeMap<&'a str, usize>,
}

/// The response to an inference request.
pub fn response<'a>(
    request: &'a InferRequest,
    model: &'a ModelVersion,
    outputs: &'a Outputs,
) -> Result<InferResponse<'a>, ApiError> {
    let signature = &model.signature;
    let specs = output_specs(signature);
    let wanted: Vec<&str> = match &request.outputs {
        None => specs.iter().map(|(n, _, _)| *n).collect(),
        Some(list) => {
            for o in list {
                if !specs.iter().any(|(n, _, _)| *n == o.name) {
                    let names: Vec<&str> = specs.iter().map(|(n, _, _)| *n).collect();
                    return Err(ApiError::bad_request(format!(
                        "the model has no output named '{}'; its outputs are {}",
                        o.name,
                        names.join(", ")
                    )));
                }
            }
            list.iter().map(|o| o.name.as_str()).collect()
        }
    };
    let n = outputs.rows;
    let classes = signature.classes.len();
    let tensors = wanted
        .into_iter()
        .map(|name| match name {
            "label" => OutputTensor {
                name: "label",
                datatype: "BYTES",
                shape: vec![n],
                data: OutputData::Labels(
                    outputs
                        .labels(classes)
                        .into_iter()
                        .map(|i| signature.classes[i].as_str())
                        .collect(),
                ),
            },
            "probabilities" => OutputTensor {
                name: "probabilities",
                datatype: "FP32",
                shape: vec![n, classes],
                data: OutputData::Numbers(&outputs.values),
            },
            _ => OutputTensor {
                name: "prediction",
                datatype: "FP32",
                shape: vec![n],
                data: OutputData::Numbers(&outputs.values),
            },
        })
        .collect();
    let parameters = (!outputs.unseen_categories.is_empty()).then(|| ResponseParameters {
        unseen_categories: outputs
            .unseen_categories
            .iter()
            .map(|(column, n)| (column.as_str(), *n))
            .collect(),
    });
    Ok(InferResponse {
        model_name: &model.name,
        model_version: model.version.to_string(),
        id: request.id.as_deref(),
        outputs: tensors,
        parameters,
    })
}

/// A model's metadata: its versions, inputs, outputs and task.
pub fn metadata(model: &ModelVersion, versions: &[u64]) -> Value {
    let s = &model.signature;
    let inputs: Vec<Value> = s
        .inputs
        .iter()
        .map(|(name, kind)| {
            let datatype = match kind {
                InputKind::Number | InputKind::Boolean => "FP32",
                InputKind::Category => "BYTES",
            };
            json!({"name": name, "datatype": datatype, "shape": [-1]})
        })
        .collect();
    let outputs: Vec<Value> = output_specs(s)
        .into_iter()
        .map(|(name, datatype, shape)| json!({"name": name, "datatype": datatype, "shape": shape}))
        .collect();
    json!({
        "name": model.name,
        "versions": versions.iter().map(u64::to_string).collect::<Vec<_>>(),
        "platform": "kiln",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": if s.is_classifier() { "classification" } else { "regression" },
            "target": s.target,
            "classes": s.classes.as_slice(),
            "whole_row_input_shape": [-1, s.inputs.len()],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_signature;

    #[test]
    fn column_inputs_and_the_whole_row_tensor_give_the_same_table() {
        let s = test_signature(&["a", "b"]);
        let by_column = br#"{"inputs":[{"name":"c","shape":[2],"datatype":"BYTES","data":["r",""]},
            {"name":"x","shape":[2,1],"datatype":"FP32","data":[[1.5],[2]]}]}"#;
        let (r, bin) = parse(by_column, None).unwrap();
        let a = table(&r, &bin, &s).unwrap();
        let whole = br#"{"inputs":[{"name":"input","shape":[2,2],"datatype":"BYTES","data":["1.5","r","2",""]}]}"#;
        let (r, bin) = parse(whole, None).unwrap();
        let b = table(&r, &bin, &s).unwrap();
        let cells = |t: &Table, name: &str| t.column(name).unwrap().cells.clone();
        assert_eq!(cells(&a, "x"), vec![Cell::Num(1.5), Cell::Num(2.0)]);
        assert_eq!(cells(&a, "x"), cells(&b, "x"));
        assert_eq!(cells(&a, "c"), vec![Cell::Text("r".into()), Cell::Missing]);
        assert_eq!(cells(&a, "c"), cells(&b, "c"));
    }

    #[test]
    fn binary_tensor_data_is_decoded() {
        let s = test_signature(&["a", "b"]);
        let json = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
            {"name":"c","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":12}}]}"#;
        let mut body = json.to_vec();
        body.extend_from_slice(&1.5f32.to_le_bytes());
        body.extend_from_slice(&f32::NAN.to_le_bytes());
        for s in ["red", "b"] {
            body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        let (r, bin) = parse(&body, Some(json.len())).unwrap();
        let t = table(&r, &bin, &s).unwrap();
        assert_eq!(
            t.column("x").unwrap().cells,
            vec![Cell::Num(1.5), Cell::Missing]
        );
        assert_eq!(
            t.column("c").unwrap().cells,
            vec![Cell::Text("red".into()), Cell::Text("b".into())]
        );
        assert_eq!(
            decode_number(&(-3i16).to_le_bytes(), NumberType::Signed(2)),
            -3.0
        );
    }

    #[test]
    fn wrong_shapes_datatypes_and_counts_are_refused_with_the_input_named() {
        let s = test_signature(&["a", "b"]);
        let cases: [(&[u8], &str); 5] = [
            (br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#, "holds 3 values, but its data has 2"),
            (br#"{"inputs":[{"name":"x","shape":[1,2,3],"datatype":"FP32","data":[1,2,3,4,5,6]}]}"#, "has shape [1, 2, 3]"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}"#, "datatype 'FP16' is not supported"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]}"#, "element 0: the string \"a\""),
            (br#"{"inputs":[]}"#, "has no inputs"),
        ];
        for (body, expected) in cases {
            let (r, bin) = parse(body, None).unwrap();
            let err = table(&r, &bin, &s).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(
                err.message.contains(expected),
                "{} lacks {expected}",
                err.message
            );
        }
        let err = parse(b"{not json", None).unwrap_err();
        assert!(
            err.message.contains("not a valid inference request"),
            "{}",
            err.message
        );
    }
}
