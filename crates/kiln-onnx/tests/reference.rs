//! Kiln's ONNX runner against ONNX Runtime: the same outputs and penultimate features within
//! 1e-4, on inputs both sides compute from one formula (`bench/onnx_reference.py` made the
//! reference files in tests/fixtures): two tiny hand-made networks, and PaddleOCR's
//! text-direction classifier (bundled in datasets/pretrained). Bad files and inputs give
//! errors.

use burn::prelude::*;
use kiln_onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
    ValueInfoProto, data_type, tensor_shape_proto, type_proto,
};
use kiln_onnx::{OnnxError, OnnxModel};
use prost::Message;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

const TOLERANCE: f64 = 1e-4;

/// The reference input: x[n,c,h,w] = sin(0.37(h+1)(c+1) + 0.11w + n) · 0.8, in f64, as f32.
fn image_batch(shape: [usize; 4]) -> Vec<f32> {
    let [n, c, h, w] = shape;
    let mut out = Vec::with_capacity(n * c * h * w);
    for b in 0..n {
        for k in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let x = 0.37 * (i + 1) as f64 * (k + 1) as f64 + 0.11 * j as f64 + b as f64;
                    out.push((x.sin() * 0.8) as f32);
                }
            }
        }
    }
    out
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), &Device::flex())
}

fn rows(value: &serde_json::Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The largest absolute difference between `got` ([N, F]) and `expected`.
fn largest_difference(got: Tensor<2>, expected: &[Vec<f64>]) -> f64 {
    let [n, f] = got.dims();
    assert_eq!(n, expected.len(), "rows");
    assert_eq!(f, expected[0].len(), "columns");
    let values = got.into_data().try_into_vec::<f32>().unwrap();
    values
        .iter()
        .zip(expected.iter().flatten())
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

/// Checks every case of the reference file against `model`; the largest differences of
/// outputs and features.
fn check_cases(model: &OnnxModel, reference: &serde_json::Value) -> (f64, f64) {
    let mut worst = (0.0f64, 0.0f64);
    for case in reference["cases"].as_array().unwrap() {
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let shape: [usize; 4] = shape.try_into().unwrap();
        let x = image_batch(shape);
        let sum: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let expected_sum = case["input_sum"].as_f64().unwrap();
        assert!(
            (sum - expected_sum).abs() < 1e-6 * expected_sum.abs().max(1.0),
            "the input formula differs from the script's: sum {sum} vs {expected_sum}"
        );
        for (k, v) in case["input_first"].as_array().unwrap().iter().enumerate() {
            // serde_json may read the last digit of an f64 one unit off; f32 is exact.
            assert_eq!(x[k], v.as_f64().unwrap() as f32, "input value {k}");
        }
        let output = largest_difference(
            model.run(tensor(x.clone(), shape)).unwrap(),
            &rows(&case["output"]),
        );
        let features = largest_difference(
            model.features(tensor(x, shape)).unwrap(),
            &rows(&case["features"]),
        );
        eprintln!("{shape:?}: largest difference {output:.2e} (output), {features:.2e} (features)");
        assert!(
            output < TOLERANCE,
            "{shape:?}: output differs by {output:e}"
        );
        assert!(
            features < TOLERANCE,
            "{shape:?}: features differ by {features:e}"
        );
        worst = (worst.0.max(output), worst.1.max(features));
    }
    worst
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn tiny_cnn_matches_onnx_runtime() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/tiny_cnn_reference.json")).unwrap();
    let model = OnnxModel::load(fixture("tiny_cnn.onnx")).unwrap();
    assert_eq!(model.input_name(), "x");
    assert_eq!(model.input_dims(), &[None, Some(3), Some(10), Some(12)]);
    assert_eq!(model.output_name(), "probs");
    assert_eq!(model.opset(), 11);
    assert_eq!(model.feature_width(), Some(6));
    check_cases(&model, &reference);
}

#[test]
fn tiny_network_of_other_operators_matches_onnx_runtime() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/tiny_ops_reference.json")).unwrap();
    let model = OnnxModel::load(fixture("tiny_ops.onnx")).unwrap();
    assert_eq!(model.opset(), 14);
    assert_eq!(model.feature_width(), Some(4));
    check_cases(&model, &reference);
}

#[test]
fn ppocr_classifier_matches_onnx_runtime() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/pretrained/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/ppocr_cls_reference.json")).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        reference["sha256"].as_str().unwrap(),
        "{} is not the file the reference was made from",
        path.display()
    );
    let started = Instant::now();
    let model = OnnxModel::load(&path).unwrap();
    eprintln!(
        "loaded in {:.1} ms: {} steps, opset {}",
        started.elapsed().as_secs_f64() * 1e3,
        model.steps(),
        model.opset()
    );
    assert_eq!(model.feature_width(), Some(200));
    assert_eq!(model.input_dims(), &[None, Some(3), None, None]);
    let (output, features) = check_cases(&model, &reference);
    eprintln!(
        "largest difference to ONNX Runtime: {output:.2e} (probabilities), {features:.2e} (features)"
    );

    // Time per image 3×48×192, alone and in batches of 8.
    for batch in [1, 8] {
        let shape = [batch, 3, 48, 192];
        let x = tensor(image_batch(shape), shape);
        model.run(x.clone()).unwrap();
        let rounds = 40 / batch;
        let started = Instant::now();
        for _ in 0..rounds {
            let _ = model.run(x.clone()).unwrap().into_data();
        }
        let per_image = started.elapsed().as_secs_f64() * 1e3 / (rounds * batch) as f64;
        eprintln!("{per_image:.2} ms per image (batches of {batch})");
    }
}

/// A graph input or output named `name` of FLOAT type with these dimensions (0: free).
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension::Value as Dim};
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(if d > 0 {
                                Dim::DimValue(d)
                            } else {
                                Dim::DimParam("free".into())
                            }),
                            ..Dimension::default()
                        })
                        .collect(),
                }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

/// The bytes of a one-input model with these nodes, whose output is `y`.
fn model_bytes(nodes: Vec<NodeProto>, initializer: Vec<kiln_onnx::proto::TensorProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer,
            input: vec![value_info("x", &[0, 3, 0, 0])],
            output: vec![value_info("y", &[0, 0])],
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    }
    .encode_to_vec()
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..NodeProto::default()
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = OnnxModel::load("/no/such/dir/model.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::Io { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("/no/such/dir/model.onnx"), "{message}");
    assert!(message.contains("no such file"), "{message}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        (
            "text.onnx",
            b"this is not a model, just some text\n".to_vec(),
        ),
        ("empty.onnx", Vec::new()),
        ("noise.onnx", (0..=255u8).rev().cycle().take(4000).collect()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = OnnxModel::load(&path).unwrap_err();
        assert!(
            matches!(err, OnnxError::NotOnnx { .. } | OnnxError::Malformed { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
        eprintln!("{err}");
    }
}

#[test]
fn an_unsupported_operator_is_named_at_load() {
    let bytes = model_bytes(
        vec![
            node("Relu", "first", &["x"], "r"),
            node("Einsum", "mystery", &["r"], "y"),
        ],
        vec![],
    );
    let err = OnnxModel::from_bytes(&bytes, "einsum.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::UnsupportedOp { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("'Einsum'"), "{message}");
    assert!(message.contains("'mystery'"), "{message}");
    assert!(message.contains("einsum.onnx"), "{message}");

    let mut custom = node("Relu", "vendor", &["x"], "y");
    custom.domain = "com.microsoft".into();
    let err = OnnxModel::from_bytes(&model_bytes(vec![custom], vec![]), "ms.onnx").unwrap_err();
    assert!(err.to_string().contains("com.microsoft:Relu"), "{err}");
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let original = std::fs::read(fixture("tiny_cnn.onnx")).unwrap();
    let shape = [2, 3, 10, 12];
    let x = tensor(image_batch(shape), shape);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..1 + next(3) {
            let at = next(bytes.len());
            bytes[at] = next(256) as u8;
        }
        if next(10) == 0 {
            bytes.truncate(next(bytes.len()));
        }
        match OnnxModel::from_bytes(&bytes, "damaged.onnx") {
            Ok(model) => {
                loaded += 1;
                let _ = model.run(x.clone());
                let _ = model.features(x.clone());
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    eprintln!("damaged copies: {loaded} loaded, {refused} refused");
    assert!(refused > 0);
}

#[test]
fn broken_graphs_are_refused() {
    let dangling = model_bytes(vec![node("Add", "add", &["x", "nowhere"], "y")], vec![]);
    let err = OnnxModel::from_bytes(&dangling, "dangling.onnx").unwrap_err();
    assert!(err.to_string().contains("'nowhere'"), "{err}");

    let cycle = model_bytes(
        vec![
            node("Add", "a", &["x", "b_out"], "a_out"),
            node("Relu", "b", &["a_out"], "b_out"),
            node("Relu", "c", &["a_out"], "y"),
        ],
        vec![],
    );
    let err = OnnxModel::from_bytes(&cycle, "cycle.onnx").unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");

    let text = kiln_onnx::proto::TensorProto {
        name: "words".into(),
        dims: vec![1],
        data_type: data_type::STRING,
        string_data: vec![b"hello".to_vec()],
        ..Default::default()
    };
    let strings = model_bytes(vec![node("Add", "add", &["x", "words"], "y")], vec![text]);
    let err = OnnxModel::from_bytes(&strings, "strings.onnx").unwrap_err();
    assert!(matches!(err, OnnxError::UnsupportedType { .. }), "{err:?}");
    assert!(err.to_string().contains("STRING"), "{err}");
}

#[test]
fn inputs_that_do_not_fit_are_errors_not_panics() {
    let model = OnnxModel::load(fixture("tiny_cnn.onnx")).unwrap();
    let shape = [1, 1, 10, 12];
    let err = model.run(tensor(image_batch(shape), shape)).unwrap_err();
    assert!(matches!(err, OnnxError::Input(_)), "{err:?}");
    assert!(err.to_string().contains("[?, 3, 10, 12]"), "{err}");

    // A 3×3 convolution without padding cannot run on a 2×2 image.
    let weight = kiln_onnx::proto::TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: data_type::FLOAT,
        float_data: vec![0.1; 108],
        ..Default::default()
    };
    let bytes = model_bytes(
        vec![
            node("Conv", "conv", &["x", "w"], "c"),
            node("GlobalAveragePool", "pool", &["c"], "p"),
            node("Flatten", "flat", &["p"], "y"),
        ],
        vec![weight],
    );
    let model = OnnxModel::from_bytes(&bytes, "conv.onnx").unwrap();
    assert_eq!(model.feature_width(), None);
    let shape = [1, 3, 5, 5];
    let y = model.run(tensor(image_batch(shape), shape)).unwrap();
    assert_eq!(y.dims(), [1, 4]);
    let shape = [1, 3, 2, 2];
    let err = model.run(tensor(image_batch(shape), shape)).unwrap_err();
    assert!(matches!(err, OnnxError::Node { .. }), "{err:?}");
    assert!(err.to_string().contains("'conv'"), "{err}");
    let err = model
        .features(tensor(image_batch(shape), shape))
        .unwrap_err();
    assert!(matches!(err, OnnxError::NoFeatures), "{err:?}");
}
