//! A model file's graph as steps Kiln can run: every value named by a slot, constants and
//! initializers decoded, nodes parsed, checked and put in topological order (the work done
//! once on constants is in `fold`).

use crate::OnnxError;
use crate::op::{self, Op, ParseError, SUPPORTED_OPS};
use crate::proto::{ModelProto, NodeProto, TensorProto, data_type, type_proto};
use crate::value::{DecodeError, Float, Value, decode};
use burn::prelude::*;
use std::collections::{HashMap, VecDeque};

/// One node to run: operator, input slots (`None`: omitted optional input), output slot.
#[derive(Debug, Clone)]
pub struct Step {
    /// The node's name, for error messages.
    pub name: String,
    /// The ONNX operator name.
    pub op_type: String,
    /// The operator with its attributes.
    pub op: Op,
    /// Input slots.
    pub inputs: Vec<Option<usize>>,
    /// Output slot.
    pub output: usize,
}

/// A graph ready to run.
#[derive(Debug)]
pub struct Graph {
    /// Each slot's value name.
    pub names: Vec<String>,
    /// Each slot's constant value, if it is one.
    pub constants: Vec<Option<Value>>,
    /// The steps, in an order where every input is computed before it is read.
    pub steps: Vec<Step>,
    /// The graph input's slot.
    pub input: usize,
    /// The graph input's declared dimensions (`None`: free); empty when undeclared.
    pub input_dims: Vec<Option<usize>>,
    /// The (first) graph output's slot.
    pub output: usize,
    /// The default-domain operator set version.
    pub opset: i64,
    /// The device the constants live on.
    pub device: Device,
}

/// A node's name for messages: its own, or its first output's.
fn label(node: &NodeProto) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        format!("output {}", node.output.first().map_or("?", String::as_str))
    }
}

/// Builds a [`Graph`], naming `file` in its errors.
struct Builder<'a> {
    file: &'a str,
    device: &'a Device,
    names: Vec<String>,
    index: HashMap<String, usize>,
    constants: Vec<Option<Value>>,
    defined: Vec<bool>,
}

impl Builder<'_> {
    /// A graph-structure error.
    fn malformed(&self, reason: String) -> OnnxError {
        OnnxError::Malformed {
            file: self.file.into(),
            reason,
        }
    }

    /// The slot of value `name`, made on first use.
    fn slot(&mut self, name: &str) -> usize {
        if let Some(&s) = self.index.get(name) {
            return s;
        }
        let s = self.names.len();
        self.names.push(name.into());
        self.index.insert(name.into(), s);
        self.constants.push(None);
        self.defined.push(false);
        s
    }

    /// Marks `name` as computed by `what`, refusing a second definition.
    fn define(&mut self, name: &str, what: &str) -> Result<usize, OnnxError> {
        if name.is_empty() {
            return Err(self.malformed(format!("{what} has an output with no name")));
        }
        let s = self.slot(name);
        if std::mem::replace(&mut self.defined[s], true) {
            return Err(
                self.malformed(format!("value '{name}' is defined twice (again by {what})"))
            );
        }
        Ok(s)
    }

    /// The value of a stored tensor, `what` naming it in errors.
    fn decode(&self, t: &TensorProto, what: &str) -> Result<Value, OnnxError> {
        decode(t, self.device).map_err(|e| match e {
            DecodeError::Type(data_type) => OnnxError::UnsupportedType {
                file: self.file.into(),
                what: what.into(),
                data_type,
            },
            DecodeError::Malformed(reason) => self.malformed(format!("{what}: {reason}")),
        })
    }
}

impl Graph {
    /// Reads `model`'s graph, naming `file` in errors, with constants on `device`.
    pub fn read(model: &ModelProto, file: &str, device: &Device) -> Result<Self, OnnxError> {
        let graph = model.graph.as_ref().ok_or_else(|| OnnxError::NotOnnx {
            file: file.into(),
            reason: "it decodes as protobuf but holds no graph".into(),
        })?;
        let mut b = Builder {
            file,
            device,
            names: Vec::new(),
            index: HashMap::new(),
            constants: Vec::new(),
            defined: Vec::new(),
        };
        if graph.node.is_empty() {
            return Err(b.malformed("its graph has no nodes".into()));
        }
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| {
                b.malformed(
                    "it declares no version of the default ONNX operator set (opset_import)".into(),
                )
            })?;
        if opset < 7 {
            return Err(b.malformed(format!(
                "it uses ONNX opset {opset}; Kiln runs opset 7 and newer (convert it with \
                 onnx.version_converter)"
            )));
        }

        for t in &graph.initializer {
            let what = format!("initializer '{}'", t.name);
            let value = b.decode(t, &what)?;
            let s = b.define(&t.name, &what)?;
            b.constants[s] = Some(value);
        }

        let free: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !b.index.contains_key(&i.name))
            .collect();
        let info = match free.as_slice() {
            [one] => *one,
            [] => return Err(b.malformed("it has no graph input to feed".into())),
            many => {
                let names: Vec<&str> = many.iter().map(|i| i.name.as_str()).collect();
                return Err(b.malformed(format!(
                    "it has {} inputs ({}); Kiln runs models with one image input",
                    many.len(),
                    names.join(", ")
                )));
            }
        };
        let mut input_dims = Vec::new();
        if let Some(type_proto::Value::TensorType(t)) =
            info.r#type.as_ref().and_then(|t| t.value.as_ref())
        {
            if t.elem_type != data_type::FLOAT {
                return Err(OnnxError::UnsupportedType {
                    file: file.into(),
                    what: format!("graph input '{}'", info.name),
                    data_type: data_type::name(t.elem_type),
                });
            }
            if let Some(shape) = &t.shape {
                use crate::proto::tensor_shape_proto::dimension::Value as Dim;
                input_dims = shape
                    .dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(v)) if v > 0 => Some(v as usize),
                        _ => None,
                    })
                    .collect();
                if input_dims.len() != 4 {
                    return Err(b.malformed(format!(
                        "its input '{}' has rank {}; Kiln's ONNX runner takes image batches \
                         [N, C, H, W]",
                        info.name,
                        input_dims.len()
                    )));
                }
            }
        }
        let input = b.define(&info.name, "the graph input")?;

        let mut steps = Vec::new();
        let mut extra_outputs = Vec::new();
        for node in &graph.node {
            let name = label(node);
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(unsupported(
                    file,
                    &format!("{}:{}", node.domain, node.op_type),
                    &name,
                ));
            }
            let what = format!("node '{name}' ({})", node.op_type);
            let out = node.output.first().map_or("", String::as_str);
            if node.op_type == "Constant" {
                let t = op::constant(node).map_err(|e| match e {
                    ParseError::Bad(r) => b.malformed(format!("{what}: {r}")),
                    _ => b.malformed(format!("{what}: it cannot be read")),
                })?;
                let value = b.decode(&t, &what)?;
                let s = b.define(out, &what)?;
                b.constants[s] = Some(value);
                continue;
            }
            let op = op::parse(node, opset).map_err(|e| match e {
                ParseError::Unsupported => unsupported(file, &node.op_type, &name),
                ParseError::Type(data_type) => OnnxError::UnsupportedType {
                    file: file.into(),
                    what: what.clone(),
                    data_type,
                },
                ParseError::Bad(r) => b.malformed(format!("{what}: {r}")),
            })?;
            let output = b.define(out, &what)?;
            for (k, extra) in node.output.iter().enumerate().skip(op.outputs()) {
                if !extra.is_empty() {
                    extra_outputs.push((extra.clone(), what.clone(), k));
                }
            }
            let inputs = node
                .input
                .iter()
                .map(|i| (!i.is_empty()).then(|| b.slot(i)))
                .collect();
            steps.push(Step {
                name,
                op_type: node.op_type.clone(),
                op,
                inputs,
                output,
            });
        }

        let output_name = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| b.malformed("its graph declares no output".into()))?;
        let output = b.slot(&output_name);
        for (name, what, k) in &extra_outputs {
            let s = b.slot(name);
            let read = s == output || steps.iter().any(|st| st.inputs.contains(&Some(s)));
            if read {
                return Err(b.malformed(format!(
                    "{what}: its output #{} '{name}' is used, but Kiln computes only the first \
                     output of this operator",
                    k + 1
                )));
            }
        }
        for step in &steps {
            for s in step.inputs.iter().flatten() {
                if !b.defined[*s] {
                    return Err(b.malformed(format!(
                        "node '{}' ({}) reads '{}', which no node, initializer or graph input \
                         provides",
                        step.name, step.op_type, b.names[*s]
                    )));
                }
            }
        }
        if !b.defined[output] {
            return Err(b.malformed(format!("its output '{output_name}' is computed by no node")));
        }
        let steps = topological(steps, b.names.len()).map_err(|r| b.malformed(r))?;

        let mut graph = Graph {
            names: b.names,
            constants: b.constants,
            steps,
            input,
            input_dims,
            output,
            opset,
            device: device.clone(),
        };
        graph.fold_constants(file, device)?;
        Ok(graph)
    }

    /// The constant float tensor in `slot`, if it holds one.
    pub fn constant_float(&self, slot: Option<usize>) -> Option<&Float> {
        match slot.and_then(|s| self.constants[s].as_ref()) {
            Some(Value::Float(f)) => Some(f),
            _ => None,
        }
    }
}

/// The "unsupported operator" error for `op` at node `node`.
fn unsupported(file: &str, op: &str, node: &str) -> OnnxError {
    OnnxError::UnsupportedOp {
        file: file.into(),
        op: op.into(),
        node: node.into(),
        supported: SUPPORTED_OPS.join(", "),
    }
}

/// `steps` reordered so each comes after the steps computing its inputs (stable otherwise).
fn topological(steps: Vec<Step>, slots: usize) -> Result<Vec<Step>, String> {
    let mut producer = vec![None; slots];
    for (i, step) in steps.iter().enumerate() {
        producer[step.output] = Some(i);
    }
    let mut waiting = vec![0usize; steps.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for &s in step.inputs.iter().flatten() {
            if let Some(p) = producer[s] {
                waiting[i] += 1;
                readers[p].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &r in &readers[i] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push_back(r);
            }
        }
    }
    if order.len() != steps.len() {
        let stuck = (0..steps.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        return Err(format!(
            "its graph has a cycle through node '{}' ({})",
            steps[stuck].name, steps[stuck].op_type
        ));
    }
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
