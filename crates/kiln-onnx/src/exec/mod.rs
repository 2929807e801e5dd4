//! Running one operator: from its input values to its output value, with every shape checked
//! first so a bad input gives an error rather than a panic inside burn.

mod layout;
mod linear;
mod window;

use crate::op::{Binary, Op, Unary};
use crate::value::{Float, Ints, Value, broadcast, padded, volume};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, sigmoid, softmax};

/// The inputs of one node, taken out one by one (`None`: an omitted optional input).
pub struct Inputs(Vec<Option<Value>>);

impl Inputs {
    /// Wraps a node's input values, in order.
    pub fn new(values: Vec<Option<Value>>) -> Self {
        Self(values)
    }

    /// Input `i`, if given.
    fn optional(&mut self, i: usize) -> Option<Value> {
        self.0.get_mut(i).and_then(Option::take)
    }

    /// Input `i`, which the operator needs.
    fn required(&mut self, i: usize) -> Result<Value, String> {
        self.optional(i)
            .ok_or_else(|| format!("its required input #{} is missing", i + 1))
    }

    /// Input `i` as a float tensor.
    fn float(&mut self, i: usize) -> Result<Float, String> {
        as_float(self.required(i)?, i)
    }

    /// Input `i` as an integer tensor, if given.
    fn ints(&mut self, i: usize) -> Result<Option<Ints>, String> {
        match self.optional(i) {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(v)),
            Some(other) => Err(format!(
                "input #{} should be an integer tensor, but it is {}",
                i + 1,
                other.describe()
            )),
        }
    }

    /// Every input, all of which the operator needs.
    fn all(&mut self) -> Result<Vec<Value>, String> {
        (0..self.0.len()).map(|i| self.required(i)).collect()
    }
}

/// `value` as a float tensor, `i` naming the input in the error.
fn as_float(value: Value, i: usize) -> Result<Float, String> {
    match value {
        Value::Float(f) => Ok(f),
        other => Err(format!(
            "input #{} should be a float tensor, but it is {}",
            i + 1,
            other.describe()
        )),
    }
}

/// `axis` (negative counts from the end) as an index into `rank` axes.
pub fn axis_index(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// A float tensor's single value (a Clip bound).
fn scalar(value: Float, what: &str) -> Result<f32, String> {
    let values = value.values()?;
    match values.as_slice() {
        [v] => Ok(*v),
        _ => Err(format!(
            "its {what} should be one value, but it has shape {:?}",
            value.shape
        )),
    }
}

/// The output of operator `op` on `inputs`, creating new tensors on `device`.
pub fn execute(op: &Op, mut inputs: Inputs, device: &Device) -> Result<Value, String> {
    let value = match op {
        Op::Conv { window, group } => Value::Float(window::conv(&mut inputs, window, *group)?),
        Op::BatchNorm { epsilon } => Value::Float(batch_norm(&mut inputs, *epsilon)?),
        Op::Affine { scale, shift } => Value::Float(affine(inputs.float(0)?, scale, shift)?),
        Op::Unary(Unary::Identity) => inputs.required(0)?,
        Op::Unary(f) => Value::Float(unary(*f, inputs.float(0)?)),
        Op::Binary(f) => binary(*f, inputs.required(0)?, inputs.required(1)?)?,
        Op::Scalar {
            f,
            value,
            shape,
            tensor_first,
        } => Value::Float(with_scalar(
            *f,
            inputs.float(0)?,
            *value,
            shape,
            *tensor_first,
        )?),
        Op::PRelu => Value::Float(prelu(inputs.float(0)?, inputs.float(1)?)?),
        Op::Clip {
            min,
            max,
            from_inputs,
        } => Value::Float(clip(&mut inputs, *min, *max, *from_inputs)?),
        Op::GlobalPool { max } => Value::Float(global_pool(inputs.float(0)?, *max)?),
        Op::MaxPool(w) => Value::Float(window::pool(inputs.float(0)?, w, None)?),
        Op::AveragePool {
            window: w,
            count_include_pad,
        } => Value::Float(window::pool(inputs.float(0)?, w, Some(*count_include_pad))?),
        Op::Reshape { allowzero } => layout::reshape(&mut inputs, *allowzero)?,
        Op::Shape { start, end } => layout::shape(&inputs.required(0)?, *start, *end),
        Op::Slice { attrs } => layout::slice(&mut inputs, attrs.as_ref(), device)?,
        Op::Concat { axis } => layout::concat(inputs.all()?, *axis)?,
        Op::Cast { to } => layout::cast(inputs.required(0)?, *to, device)?,
        Op::Gather { axis } => {
            let data = inputs.required(0)?;
            let indices = inputs
                .ints(1)?
                .ok_or_else(|| "its indices input is missing".to_string())?;
            layout::gather(data, &indices, *axis, device)?
        }
        Op::Unsqueeze { axes } => layout::unsqueeze(&mut inputs, axes.as_deref())?,
        Op::Squeeze { axes } => layout::squeeze(&mut inputs, axes.as_deref())?,
        Op::Flatten { axis } => layout::flatten(inputs.required(0)?, *axis)?,
        Op::Transpose { perm } => layout::transpose(inputs.required(0)?, perm.as_deref())?,
        Op::MatMul => Value::Float(linear::matmul(inputs.float(0)?, inputs.float(1)?)?),
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => Value::Float(linear::gemm(
            &mut inputs,
            *alpha,
            *beta,
            *trans_a,
            *trans_b,
        )?),
        Op::Softmax { axis, coerce } => {
            Value::Float(softmax_over(inputs.float(0)?, *axis, *coerce)?)
        }
    };
    Ok(value)
}

/// Inference batch normalisation of input 0 with inputs scale, B, mean and var.
fn batch_norm(inputs: &mut Inputs, epsilon: f32) -> Result<Float, String> {
    let x = inputs.float(0)?;
    let scale = inputs.float(1)?;
    let bias = inputs.float(2)?;
    let mean = inputs.float(3)?;
    let var = inputs.float(4)?;
    let c = channels(&x)?;
    for (name, p) in [
        ("scale", &scale),
        ("B", &bias),
        ("mean", &mean),
        ("var", &var),
    ] {
        if p.shape != [c] {
            return Err(format!(
                "its {name} has shape {:?}, but the input has {c} channels",
                p.shape
            ));
        }
    }
    let factor = scale.tensor / (var.tensor.add_scalar(epsilon)).sqrt();
    let shift = bias.tensor - mean.tensor * factor.clone();
    affine(x, &Float::new(factor, vec![c]), &Float::new(shift, vec![c]))
}

/// An element-wise function of `x`.
fn unary(f: Unary, x: Float) -> Float {
    let t = x.tensor;
    let t = match f {
        Unary::Relu => relu(t),
        Unary::Sigmoid => sigmoid(t),
        Unary::Tanh => t.tanh(),
        Unary::HardSigmoid { alpha, beta } => t.mul_scalar(alpha).add_scalar(beta).clamp(0.0, 1.0),
        Unary::HardSwish => t.clone() * t.div_scalar(6.0).add_scalar(0.5).clamp(0.0, 1.0),
        Unary::LeakyRelu { alpha } => leaky_relu(t, f64::from(alpha)),
        Unary::Identity => t,
    };
    Float::new(t, x.shape)
}

/// `x ∘ value` (or `value ∘ x`), the constant having `shape`.
fn with_scalar(
    f: Binary,
    x: Float,
    value: f32,
    shape: &[usize],
    tensor_first: bool,
) -> Result<Float, String> {
    let out = broadcast(&x.shape, shape).unwrap_or_else(|| x.shape.clone());
    let t = match (f, tensor_first) {
        (Binary::Add, _) => x.tensor.add_scalar(value),
        (Binary::Mul, _) => x.tensor.mul_scalar(value),
        (Binary::Sub, true) => x.tensor.sub_scalar(value),
        (Binary::Sub, false) => x.tensor.neg().add_scalar(value),
        (Binary::Div, true) => x.tensor.div_scalar(value),
        (Binary::Div, false) => x.tensor.recip().mul_scalar(value),
    };
    Float::new(t, x.shape).reshape(out)
}

/// `x` where positive, `slope · x` elsewhere.
fn prelu(x: Float, slope: Float) -> Result<Float, String> {
    if broadcast(&x.shape, &slope.shape).as_deref() != Some(x.shape.as_slice()) {
        return Err(format!(
            "its slope of shape {:?} does not broadcast to the input's {:?}",
            slope.shape, x.shape
        ));
    }
    let t = x.tensor.clone().clamp_min(0.0) + x.tensor.clamp_max(0.0) * slope.tensor;
    Ok(Float::new(t, x.shape))
}

/// Input 0 clamped to fixed bounds, or (`from_inputs`) to inputs 1 and 2.
fn clip(
    inputs: &mut Inputs,
    min: Option<f32>,
    max: Option<f32>,
    from_inputs: bool,
) -> Result<Float, String> {
    let x = inputs.float(0)?;
    let (min, max) = if from_inputs {
        let mut bound = |k: usize, what: &str| -> Result<Option<f32>, String> {
            inputs
                .optional(k)
                .map(|v| scalar(as_float(v, k)?, what))
                .transpose()
        };
        (bound(1, "min")?, bound(2, "max")?)
    } else {
        (min, max)
    };
    let t = match (min, max) {
        // burn's clamp refuses min > max; ONNX Runtime then gives max everywhere.
        (Some(lo), Some(hi)) if lo <= hi => x.tensor.clamp(lo, hi),
        (Some(lo), Some(hi)) => x.tensor.clamp_min(lo).clamp_max(hi),
        (Some(lo), None) => x.tensor.clamp_min(lo),
        (None, Some(hi)) => x.tensor.clamp_max(hi),
        (None, None) => x.tensor,
    };
    Ok(Float::new(t, x.shape))
}

/// The mean (or maximum) of `x` [N, C, spatial…] over all spatial positions.
fn global_pool(x: Float, max: bool) -> Result<Float, String> {
    if x.rank() < 3 {
        return Err(format!(
            "its input has shape {:?}; global pooling needs [N, C, spatial…]",
            x.shape
        ));
    }
    let (n, c) = (x.shape[0], x.shape[1]);
    let mut out_shape = x.shape.clone();
    out_shape[2..].fill(1);
    let spatial = volume(&x.shape[2..]);
    let flat = x.reshape(vec![n, c, spatial])?;
    let t = if max {
        flat.tensor.max_dim(3)
    } else {
        flat.tensor.mean_dim(3)
    };
    Float::new(t, vec![n, c, 1]).reshape(out_shape)
}

/// Softmax of `x` over `axis` (or, `coerce`d as before opset 13, over all axes from it on).
fn softmax_over(x: Float, axis: i64, coerce: bool) -> Result<Float, String> {
    if x.rank() == 0 {
        return Err("its input is a scalar; Softmax needs at least one axis".into());
    }
    let a = axis_index(axis, x.rank())?;
    if coerce {
        let shape = x.shape.clone();
        let (outer, inner) = shape.split_at(a);
        let flat = x.reshape(vec![volume(outer), volume(inner)])?;
        let t = softmax(flat.tensor, 3);
        Float::new(t, flat.shape).reshape(shape)
    } else {
        let dim = x.axis(a);
        Ok(Float::new(softmax(x.tensor, dim), x.shape))
    }
}

/// The channel count of an [N, C, …] tensor.
fn channels(x: &Float) -> Result<usize, String> {
    if x.rank() < 2 {
        return Err(format!(
            "its input has shape {:?}; it needs [N, C, …]",
            x.shape
        ));
    }
    Ok(x.shape[1])
}

/// x · scale + shift, with per-channel (axis 1) `scale` and `shift` of shape [C].
pub fn affine(x: Float, scale: &Float, shift: &Float) -> Result<Float, String> {
    let c = channels(&x)?;
    if scale.shape != [c] {
        return Err(format!(
            "it normalises {:?} channels, but its input {:?} has {c}",
            scale.shape, x.shape
        ));
    }
    let mut per_channel = vec![1; x.rank()];
    per_channel[1] = c;
    let s = scale.tensor.clone().reshape(padded(&per_channel));
    let b = shift.tensor.clone().reshape(padded(&per_channel));
    Ok(Float::new(x.tensor * s + b, x.shape))
}

/// `f` of two broadcast tensors of one kind.
fn binary(f: Binary, a: Value, b: Value) -> Result<Value, String> {
    match (a, b) {
        (Value::Float(a), Value::Float(b)) => {
            let shape = broadcast(&a.shape, &b.shape).ok_or_else(|| {
                format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape)
            })?;
            let t = match f {
                Binary::Add => a.tensor + b.tensor,
                Binary::Sub => a.tensor - b.tensor,
                Binary::Mul => a.tensor * b.tensor,
                Binary::Div => a.tensor / b.tensor,
            };
            Ok(Value::Float(Float::new(t, shape)))
        }
        (Value::Int(a), Value::Int(b)) => {
            let out = a.zip(&b, |x, y| {
                match f {
                    Binary::Add => x.checked_add(y),
                    Binary::Sub => x.checked_sub(y),
                    Binary::Mul => x.checked_mul(y),
                    Binary::Div => x.checked_div(y),
                }
                .ok_or_else(|| format!("integer overflow or division by zero on {x} and {y}"))
            })?;
            Ok(Value::Int(out))
        }
        (a, b) => Err(format!(
            "it combines {} with {}; both must be float or both integer",
            a.describe(),
            b.describe()
        )),
    }
}
