//! Work done once, when a model loads: steps whose inputs are all constants are computed,
//! Clip bounds and one-element operands become attributes, and batch normalisation folds into
//! the convolution before it (or becomes a per-channel affine map).

use crate::OnnxError;
use crate::exec::{Inputs, execute};
use crate::graph::Graph;
use crate::op::{Binary, Op};
use crate::value::{Float, Value};
use burn::prelude::Device;

/// What constants let a step become.
enum Change {
    /// A Clip with fixed bounds.
    Clip(Option<f32>, Option<f32>),
    /// A binary operator with a one-element constant, on the tensor in slot `x`.
    Scalar {
        /// The operator.
        f: Binary,
        /// The constant.
        value: f32,
        /// The constant's shape.
        shape: Vec<usize>,
        /// Whether the tensor is the left operand.
        tensor_first: bool,
        /// The tensor's slot.
        x: usize,
    },
    /// A batch normalisation of slot `x` as a per-channel affine map.
    Norm {
        /// The normalised value.
        x: usize,
        /// Per-channel factor.
        factor: Vec<f64>,
        /// Per-channel offset.
        shift: Vec<f64>,
    },
}

impl Graph {
    /// Computes, once, every step whose inputs are all constants.
    pub fn fold_constants(&mut self, file: &str, device: &Device) -> Result<(), OnnxError> {
        let steps = std::mem::take(&mut self.steps);
        for step in steps {
            let constant = step
                .inputs
                .iter()
                .flatten()
                .all(|&s| self.constants[s].is_some());
            if !constant || step.inputs.iter().all(Option::is_none) {
                self.steps.push(step);
                continue;
            }
            let values = step
                .inputs
                .iter()
                .map(|s| s.and_then(|s| self.constants[s].clone()))
                .collect();
            let value = execute(&step.op, Inputs::new(values), device).map_err(|reason| {
                OnnxError::Malformed {
                    file: file.into(),
                    reason: format!(
                        "node '{}' ({}) fails on its constant inputs: {reason}",
                        step.name, step.op_type
                    ),
                }
            })?;
            self.constants[step.output] = Some(value);
        }
        Ok(())
    }

    /// Fixes what constants allow: Clip bounds become attributes, batch normalisation with
    /// constant statistics folds into the convolution before it (when nothing else reads the
    /// convolution's output and it is not in `keep`) or becomes a per-channel affine map.
    pub fn simplify(&mut self, keep: &[usize], file: &str) -> Result<(), OnnxError> {
        let mut readers = vec![0usize; self.names.len()];
        for step in &self.steps {
            for &s in step.inputs.iter().flatten() {
                readers[s] += 1;
            }
        }
        for &s in keep {
            readers[s] += 1;
        }
        let mut producer: Vec<Option<usize>> = vec![None; self.names.len()];
        for (i, step) in self.steps.iter().enumerate() {
            producer[step.output] = Some(i);
        }
        let mut removed = Vec::new();
        for i in 0..self.steps.len() {
            let change = self.change(i).map_err(|reason| OnnxError::Malformed {
                file: file.into(),
                reason: format!(
                    "node '{}' ({}): {reason}",
                    self.steps[i].name, self.steps[i].op_type
                ),
            })?;
            match change {
                None => {}
                Some(Change::Clip(min, max)) => {
                    let step = &mut self.steps[i];
                    step.op = Op::Clip {
                        min,
                        max,
                        from_inputs: false,
                    };
                    step.inputs.truncate(1);
                }
                Some(Change::Scalar {
                    f,
                    value,
                    shape,
                    tensor_first,
                    x,
                }) => {
                    let step = &mut self.steps[i];
                    step.op = Op::Scalar {
                        f,
                        value,
                        shape,
                        tensor_first,
                    };
                    step.inputs = vec![Some(x)];
                }
                Some(Change::Norm { x, factor, shift }) => {
                    let output = self.steps[i].output;
                    let name = self.steps[i].name.clone();
                    if let Some(j) = producer[x].filter(|_| readers[x] == 1)
                        && self.fold_into_conv(j, &factor, &shift, &name, output)
                    {
                        removed.push(i);
                        continue;
                    }
                    let c = factor.len();
                    let to_float = |v: &[f64]| {
                        Float::from_values(
                            v.iter().map(|&x| x as f32).collect(),
                            vec![c],
                            &self.device,
                        )
                    };
                    let (Ok(scale), Ok(shift)) = (to_float(&factor), to_float(&shift)) else {
                        continue;
                    };
                    let step = &mut self.steps[i];
                    step.op = Op::Affine {
                        scale: Box::new(scale),
                        shift: Box::new(shift),
                    };
                    step.inputs.truncate(1);
                }
            }
        }
        let mut i = 0;
        self.steps.retain(|_| {
            i += 1;
            !removed.contains(&(i - 1))
        });
        Ok(())
    }

    /// What constants allow step `i` to become, if anything.
    fn change(&self, i: usize) -> Result<Option<Change>, String> {
        let step = &self.steps[i];
        let input = |k: usize| step.inputs.get(k).copied().flatten();
        match &step.op {
            Op::Clip {
                from_inputs: true, ..
            } => {
                let bound = |k: usize| -> Result<Option<Option<f32>>, String> {
                    match input(k).map(|s| &self.constants[s]) {
                        None => Ok(Some(None)),
                        Some(None) => Ok(None),
                        Some(Some(Value::Float(f))) => match f.values()?.as_slice() {
                            [v] => Ok(Some(Some(*v))),
                            _ => Err(format!("its bound has shape {:?}, not one value", f.shape)),
                        },
                        Some(Some(Value::Int(_))) => Err("its bound is an integer".into()),
                    }
                };
                Ok(match (bound(1)?, bound(2)?) {
                    (Some(min), Some(max)) => Some(Change::Clip(min, max)),
                    _ => None,
                })
            }
            Op::Binary(f) => {
                let (Some(a), Some(b)) = (input(0), input(1)) else {
                    return Ok(None);
                };
                let one = |s: usize| match &self.constants[s] {
                    Some(Value::Float(c)) if c.shape.iter().product::<usize>() == 1 => Some(c),
                    _ => None,
                };
                let (x, c, tensor_first) = match (one(a), one(b)) {
                    (None, Some(c)) => (a, c, true),
                    (Some(c), None) => (b, c, false),
                    _ => return Ok(None),
                };
                let value = c.values()?[0];
                Ok(Some(Change::Scalar {
                    f: *f,
                    value,
                    shape: c.shape.clone(),
                    tensor_first,
                    x,
                }))
            }
            Op::BatchNorm { epsilon } => {
                let params: Vec<&Float> = (1..5)
                    .filter_map(|k| self.constant_float(input(k)))
                    .collect();
                let (Some(x), [scale, bias, mean, var]) = (input(0), params.as_slice()) else {
                    return Ok(None);
                };
                let c = scale.shape.iter().product::<usize>();
                if [scale, bias, mean, var].iter().any(|p| p.shape != [c]) {
                    return Err("its scale, B, mean and var are not vectors of one length".into());
                }
                let (scale, bias, mean, var) = (
                    scale.values()?,
                    bias.values()?,
                    mean.values()?,
                    var.values()?,
                );
                let factor: Vec<f64> = (0..c)
                    .map(|k| f64::from(scale[k]) / (f64::from(var[k]) + f64::from(*epsilon)).sqrt())
                    .collect();
                let shift = (0..c)
                    .map(|k| f64::from(bias[k]) - f64::from(mean[k]) * factor[k])
                    .collect();
                Ok(Some(Change::Norm { x, factor, shift }))
            }
            _ => Ok(None),
        }
    }

    /// Folds a per-channel `factor` and `shift` into the convolution of step `j` (if it is
    /// one with constant weights), which then writes `output`. Whether it did.
    fn fold_into_conv(
        &mut self,
        j: usize,
        factor: &[f64],
        shift: &[f64],
        name: &str,
        output: usize,
    ) -> bool {
        let step = &self.steps[j];
        if !matches!(step.op, Op::Conv { .. }) {
            return false;
        }
        let Some(w) = self.constant_float(step.inputs.get(1).copied().flatten()) else {
            return false;
        };
        let bias_slot = step.inputs.get(2).copied().flatten();
        let bias = match bias_slot {
            None => None,
            Some(_) => match self.constant_float(bias_slot) {
                Some(b) => Some(b),
                None => return false,
            },
        };
        let m = factor.len();
        if w.shape.first() != Some(&m) {
            return false;
        }
        let (Ok(weights), Ok(bias)) = (w.values(), bias.map(Float::values).transpose()) else {
            return false;
        };
        let per = weights.len() / m;
        let folded: Vec<f32> = weights
            .iter()
            .enumerate()
            .map(|(i, &v)| (f64::from(v) * factor[i / per]) as f32)
            .collect();
        let folded_bias: Vec<f32> = (0..m)
            .map(|k| {
                let b = bias.as_ref().map_or(0.0, |b| f64::from(b[k]));
                (b * factor[k] + shift[k]) as f32
            })
            .collect();
        let device = w.tensor.device();
        let (Ok(w), Ok(b)) = (
            Float::from_values(folded, w.shape.clone(), &device),
            Float::from_values(folded_bias, vec![m], &device),
        ) else {
            return false;
        };
        let w_slot = self.push_constant(&format!("{name}.folded_weight"), Value::Float(w));
        let b_slot = self.push_constant(&format!("{name}.folded_bias"), Value::Float(b));
        let step = &mut self.steps[j];
        step.inputs = vec![step.inputs[0], Some(w_slot), Some(b_slot)];
        step.output = output;
        true
    }

    /// A new constant slot named after `base`.
    fn push_constant(&mut self, base: &str, value: Value) -> usize {
        let mut name = base.to_string();
        while self.names.contains(&name) {
            name.push('_');
        }
        self.names.push(name);
        self.constants.push(Some(value));
        self.names.len() - 1
    }
}
