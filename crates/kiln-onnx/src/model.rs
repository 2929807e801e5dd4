//! A loaded ONNX model: its graph, a plan for the output and one for the penultimate
//! features, and the runner that walks a plan with burn.

use crate::OnnxError;
use crate::exec::{Inputs, execute};
use crate::graph::Graph;
use crate::op::Op;
use crate::proto::ModelProto;
use crate::value::{Float, Value};
use burn::prelude::*;
use prost::Message;
use std::path::Path;

/// The steps needed for one value, each with the inputs it reads for the last time.
#[derive(Debug, Clone)]
struct Plan {
    /// The value computed.
    target: usize,
    /// Step indices, in order, each with "last read" flags per input.
    steps: Vec<(usize, Vec<bool>)>,
}

/// An ONNX model (a small CNN: convolutions, batch norm, pooling, activations, a linear
/// head), loaded from a `.onnx` file and run in burn on the CPU.
#[derive(Debug)]
pub struct OnnxModel {
    source: String,
    graph: Graph,
    input_name: String,
    output_name: String,
    output_plan: Plan,
    features: Option<(Plan, usize)>,
}

impl OnnxModel {
    /// Loads the model at `path`, checking that Kiln can run every node in it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
            file: file.clone(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "no such file; give the path of an .onnx model".into()
            } else {
                e.to_string()
            },
        })?;
        Self::from_bytes(&bytes, &file)
    }

    /// Loads a model from the bytes of an `.onnx` file; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, OnnxError> {
        let model = ModelProto::decode(bytes).map_err(|e| OnnxError::NotOnnx {
            file: source.into(),
            reason: format!("it does not decode as an ONNX protobuf ({e})"),
        })?;
        if model.ir_version <= 0 && model.graph.is_none() {
            return Err(OnnxError::NotOnnx {
                file: source.into(),
                reason: "it has neither an IR version nor a graph".into(),
            });
        }
        let device = Device::flex();
        let mut graph = Graph::read(&model, source, &device)?;
        let features = penultimate(&graph);
        let mut keep = vec![graph.output];
        keep.extend(features.map(|(slot, _)| slot));
        graph.simplify(&keep, source)?;
        let output_plan = plan(&graph, graph.output);
        let features = features.map(|(slot, width)| (plan(&graph, slot), width));
        let output_name = graph.names[graph.output].clone();
        Ok(Self {
            source: source.into(),
            input_name: graph.names[graph.input].clone(),
            output_name,
            output_plan,
            features,
            graph,
        })
    }

    /// The file (or source) the model came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The graph input's name.
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// The graph input's declared [N, C, H, W] (`None` for a free size); empty when the file
    /// does not declare it.
    pub fn input_dims(&self) -> &[Option<usize>] {
        &self.graph.input_dims
    }

    /// The name of the graph output [`OnnxModel::run`] returns (the first one).
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// The version of the default ONNX operator set the model uses.
    pub fn opset(&self) -> i64 {
        self.graph.opset
    }

    /// The number of steps a run takes (after constant folding and batch-norm folding).
    pub fn steps(&self) -> usize {
        self.output_plan.steps.len()
    }

    /// The width of [`OnnxModel::features`] (the inner dimension of the final MatMul or
    /// Gemm), if the model has one.
    pub fn feature_width(&self) -> Option<usize> {
        self.features.as_ref().map(|(_, width)| *width)
    }

    /// The model's output for a batch of images [N, C, H, W], as [N, outputs] (a higher-rank
    /// output is flattened after its first axis).
    pub fn run(&self, input: Tensor<4>) -> Result<Tensor<2>, OnnxError> {
        let value = self.evaluate(&self.output_plan, input)?;
        matrix(value, &self.output_name)
    }

    /// The penultimate features of a batch of images: the value feeding the final MatMul or
    /// Gemm, as [N, F]; for use as a frozen feature extractor.
    pub fn features(&self, input: Tensor<4>) -> Result<Tensor<2>, OnnxError> {
        let (plan, _) = self.features.as_ref().ok_or(OnnxError::NoFeatures)?;
        let value = self.evaluate(plan, input)?;
        matrix(value, &self.graph.names[plan.target])
    }

    /// Checks `dims` against the declared input.
    fn check_input(&self, dims: [usize; 4]) -> Result<(), OnnxError> {
        let declared = &self.graph.input_dims;
        let fits = declared
            .iter()
            .zip(dims)
            .all(|(want, got)| want.is_none_or(|w| w == got));
        if !fits {
            let shown: Vec<String> = declared
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            return Err(OnnxError::Input(format!(
                "'{}' takes [{}] (N, C, H, W), but got {dims:?}",
                self.input_name,
                shown.join(", ")
            )));
        }
        if dims.contains(&0) {
            return Err(OnnxError::Input(format!("the batch {dims:?} is empty")));
        }
        Ok(())
    }

    /// Runs `plan` on `input`.
    fn evaluate(&self, plan: &Plan, input: Tensor<4>) -> Result<Value, OnnxError> {
        let dims = input.dims();
        self.check_input(dims)?;
        let graph = &self.graph;
        let mut slots: Vec<Option<Value>> = vec![None; graph.names.len()];
        let input = input.to_device(&graph.device);
        slots[graph.input] = Some(Value::Float(Float::new(input, dims.to_vec())));
        for (index, last) in &plan.steps {
            let step = &graph.steps[*index];
            let mut values = Vec::with_capacity(step.inputs.len());
            for (slot, &last) in step.inputs.iter().zip(last) {
                values.push(match slot {
                    None => None,
                    Some(s) => match &graph.constants[*s] {
                        Some(c) => Some(c.clone()),
                        None if last => slots[*s].take(),
                        None => slots[*s].clone(),
                    },
                });
            }
            let value =
                execute(&step.op, Inputs::new(values), &graph.device).map_err(|reason| {
                    OnnxError::Node {
                        node: step.name.clone(),
                        op: step.op_type.clone(),
                        reason,
                    }
                })?;
            slots[step.output] = Some(value);
        }
        graph.constants[plan.target]
            .clone()
            .or_else(|| slots[plan.target].take())
            .ok_or_else(|| OnnxError::Node {
                node: graph.names[plan.target].clone(),
                op: "?".into(),
                reason: "the value was not computed".into(),
            })
    }
}

/// The slot feeding the last MatMul or Gemm (with a constant weight) that the output depends
/// on, and that weight's inner width.
fn penultimate(graph: &Graph) -> Option<(usize, usize)> {
    let needed = ancestors(graph, graph.output);
    graph
        .steps
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| needed[*i])
        .find_map(|(_, step)| {
            let weight = graph.constant_float(step.inputs.get(1).copied().flatten())?;
            let a = step.inputs.first().copied().flatten()?;
            match (&step.op, weight.shape.as_slice()) {
                (Op::MatMul, [k, _]) => Some((a, *k)),
                (Op::Gemm { trans_b, .. }, [r, c]) => Some((a, if *trans_b { *c } else { *r })),
                _ => None,
            }
        })
}

/// Which steps the value in `target` depends on.
fn ancestors(graph: &Graph, target: usize) -> Vec<bool> {
    let mut producer = vec![None; graph.names.len()];
    for (i, step) in graph.steps.iter().enumerate() {
        producer[step.output] = Some(i);
    }
    let mut needed = vec![false; graph.steps.len()];
    let mut stack = vec![target];
    while let Some(s) = stack.pop() {
        if let Some(i) = producer[s]
            && !needed[i]
        {
            needed[i] = true;
            stack.extend(graph.steps[i].inputs.iter().flatten());
        }
    }
    needed
}

/// The plan computing `target`: the steps it needs, in order, each input flagged where it is
/// read for the last time (so its memory can go, or be reused in place).
fn plan(graph: &Graph, target: usize) -> Plan {
    let needed = ancestors(graph, target);
    let chosen: Vec<usize> = (0..graph.steps.len()).filter(|&i| needed[i]).collect();
    let mut seen = vec![false; graph.names.len()];
    seen[target] = true;
    let mut steps: Vec<(usize, Vec<bool>)> = chosen
        .iter()
        .rev()
        .map(|&i| {
            let inputs = &graph.steps[i].inputs;
            let mut last = vec![false; inputs.len()];
            for (k, slot) in inputs.iter().enumerate().rev() {
                if let Some(s) = slot
                    && !std::mem::replace(&mut seen[*s], true)
                {
                    last[k] = true;
                }
            }
            (i, last)
        })
        .collect();
    steps.reverse();
    Plan { target, steps }
}

/// A value as [N, rest], `name` naming it in errors.
fn matrix(value: Value, name: &str) -> Result<Tensor<2>, OnnxError> {
    let Value::Float(f) = value else {
        return Err(OnnxError::Node {
            node: name.into(),
            op: "output".into(),
            reason: format!("the value is {}, not a float tensor", value.describe()),
        });
    };
    let [rows, cols] = match f.shape.as_slice() {
        [] => [1, 1],
        [n] => [*n, 1],
        [n, rest @ ..] => [*n, rest.iter().product()],
    };
    Ok(f.tensor.reshape([rows, cols]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<OnnxModel>();
    }
}
