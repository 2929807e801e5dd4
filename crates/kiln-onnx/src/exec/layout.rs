//! Operators that move values without arithmetic: Reshape, Shape, Slice, Concat, Cast,
//! Gather, Unsqueeze, Squeeze, Flatten and Transpose, on float tensors (in burn) and on integer
//! tensors (shapes and indices, on the host).

use super::{Inputs, axis_index};
use crate::op::SliceAttrs;
use crate::proto::data_type;
use crate::value::{Float, Ints, MAX_RANK, Value, volume};
use burn::prelude::*;

/// Input 0 in the shape input 1 gives (Reshape).
pub fn reshape(inputs: &mut Inputs, allowzero: bool) -> Result<Value, String> {
    let data = inputs.required(0)?;
    let spec = inputs
        .ints(1)?
        .ok_or_else(|| "its shape input is missing".to_string())?;
    let shape = reshaped(data.shape(), &spec.values, allowzero)?;
    with_shape(data, shape)
}

/// The dimensions of `data` from `start` to `end` (Shape).
pub fn shape(data: &Value, start: i64, end: Option<i64>) -> Value {
    let rank = data.shape().len() as i64;
    let clamp = |a: i64| (if a < 0 { a + rank } else { a }).clamp(0, rank) as usize;
    let (s, e) = (clamp(start), clamp(end.unwrap_or(rank)));
    let dims = data.shape()[s..e.max(s)]
        .iter()
        .map(|&d| d as i64)
        .collect();
    Value::Int(Ints::vector(dims))
}

/// Input 0 with size-1 axes inserted at `axes` (an attribute) or at input 1 (Unsqueeze).
pub fn unsqueeze(inputs: &mut Inputs, axes: Option<&[i64]>) -> Result<Value, String> {
    let data = inputs.required(0)?;
    let axes = match axes {
        Some(a) => a.to_vec(),
        None => {
            inputs
                .ints(1)?
                .ok_or_else(|| "its axes input is missing".to_string())?
                .values
        }
    };
    let rank = data.shape().len() + axes.len();
    let mut positions = axes
        .iter()
        .map(|&a| axis_index(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    positions.sort_unstable();
    if positions.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("its axes {axes:?} repeat an axis"));
    }
    let mut rest = data.shape().iter();
    let shape = (0..rank)
        .map(|i| {
            if positions.contains(&i) {
                1
            } else {
                *rest.next().unwrap_or(&1)
            }
        })
        .collect();
    with_shape(data, shape)
}

/// Input 0 without the size-1 axes `axes` (an attribute), input 1, or all of them (Squeeze).
pub fn squeeze(inputs: &mut Inputs, axes: Option<&[i64]>) -> Result<Value, String> {
    let data = inputs.required(0)?;
    let axes = match axes {
        Some(a) => Some(a.to_vec()),
        None => inputs.ints(1)?.map(|i| i.values),
    };
    let rank = data.shape().len();
    let drop: Vec<usize> = match axes {
        Some(axes) => axes
            .iter()
            .map(|&a| {
                let i = axis_index(a, rank)?;
                if data.shape()[i] == 1 {
                    Ok(i)
                } else {
                    Err(format!(
                        "axis {a} of shape {:?} is not of size 1",
                        data.shape()
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
        None => (0..rank).filter(|&i| data.shape()[i] == 1).collect(),
    };
    let shape = (0..rank)
        .filter(|i| !drop.contains(i))
        .map(|i| data.shape()[i])
        .collect();
    with_shape(data, shape)
}

/// `data` as a matrix split before `axis` (Flatten).
pub fn flatten(data: Value, axis: i64) -> Result<Value, String> {
    let rank = data.shape().len();
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if !(0..=rank as i64).contains(&a) {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    let (outer, inner) = data.shape().split_at(a as usize);
    let shape = vec![volume(outer), volume(inner)];
    with_shape(data, shape)
}

/// `data` with its axes in the order `perm` (reversed when absent) (Transpose).
pub fn transpose(data: Value, perm: Option<&[usize]>) -> Result<Value, String> {
    let rank = data.shape().len();
    let perm = perm.map_or_else(|| (0..rank).rev().collect(), <[usize]>::to_vec);
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(format!(
            "perm {perm:?} is not an order of the {rank} axes of {:?}",
            data.shape()
        ));
    }
    Ok(match data {
        Value::Int(i) => Value::Int(i.transpose(&perm)),
        Value::Float(f) => {
            let pad = MAX_RANK - rank;
            let mut axes = [0, 1, 2, 3];
            for (j, &p) in perm.iter().enumerate() {
                axes[pad + j] = pad + p;
            }
            let shape = perm.iter().map(|&p| f.shape[p]).collect();
            Value::Float(Float::new(f.tensor.permute(axes), shape))
        }
    })
}

/// The shape Reshape's `spec` gives a tensor of shape `from`.
fn reshaped(from: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(format!("shape {spec:?} has more than one -1"));
                }
                shape.push(1);
            }
            0 if !allowzero => shape.push(*from.get(i).ok_or_else(|| {
                format!(
                    "shape {spec:?} copies dimension {i} (a 0), but the input {from:?} has \
                     only {} dimensions",
                    from.len()
                )
            })?),
            s if s >= 0 => shape.push(s as usize),
            _ => return Err(format!("shape {spec:?} has a negative size")),
        }
    }
    let total = volume(from);
    if let Some(i) = infer {
        let known = volume(&shape);
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!(
                "the -1 in shape {spec:?} cannot be inferred for the {total} values of {from:?}"
            ));
        }
        shape[i] = total / known;
    }
    if volume(&shape) != total {
        return Err(format!(
            "shape {spec:?} does not hold the {total} values of {from:?}"
        ));
    }
    Ok(shape)
}

/// The same values in `shape`.
fn with_shape(data: Value, shape: Vec<usize>) -> Result<Value, String> {
    match data {
        Value::Float(f) => Ok(Value::Float(f.reshape(shape)?)),
        Value::Int(i) => {
            if volume(&shape) != i.values.len() {
                return Err(format!(
                    "shape {shape:?} does not hold the {} values of {:?}",
                    i.values.len(),
                    i.shape
                ));
            }
            Ok(Value::Int(Ints {
                shape,
                values: i.values,
            }))
        }
    }
}

/// The indices a Slice keeps along an axis of size `dim`, as ONNX clamps them.
fn slice_range(start: i64, end: i64, step: i64, dim: usize) -> Result<Vec<usize>, String> {
    if step == 0 {
        return Err("a slice step is 0".into());
    }
    let d = dim as i64;
    if d == 0 {
        return Ok(Vec::new());
    }
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = if step > 0 {
        (norm(start).clamp(0, d), norm(end).clamp(0, d))
    } else {
        (norm(start).clamp(0, d - 1), norm(end).clamp(-1, d - 1))
    };
    let mut out = Vec::new();
    let mut i = s;
    while (step > 0 && i < e) || (step < 0 && i > e) {
        out.push(i as usize);
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(out)
}

/// A Slice of input 0, bounds from `attrs` or from inputs 1 to 4.
pub fn slice(
    inputs: &mut Inputs,
    attrs: Option<&SliceAttrs>,
    device: &Device,
) -> Result<Value, String> {
    let data = inputs.required(0)?;
    let (starts, ends, axes, steps) = match attrs {
        Some(a) => (a.starts.clone(), a.ends.clone(), a.axes.clone(), None),
        None => {
            let need = |v: Option<Ints>, what: &str| {
                v.map(|i| i.values)
                    .ok_or_else(|| format!("its {what} input is missing"))
            };
            let starts = need(inputs.ints(1)?, "starts")?;
            let ends = need(inputs.ints(2)?, "ends")?;
            let axes = inputs.ints(3)?.map(|i| i.values);
            (starts, ends, axes, inputs.ints(4)?.map(|i| i.values))
        }
    };
    let k = starts.len();
    let axes = axes.unwrap_or_else(|| (0..k as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; k]);
    if ends.len() != k || axes.len() != k || steps.len() != k {
        return Err(format!(
            "its starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in \
             length"
        ));
    }
    let shape = data.shape().to_vec();
    let rank = shape.len();
    let mut picks: Vec<Vec<usize>> = shape.iter().map(|&d| (0..d).collect()).collect();
    let mut touched = vec![false; rank];
    for j in 0..k {
        let a = axis_index(axes[j], rank)?;
        if std::mem::replace(&mut touched[a], true) {
            return Err(format!("its axes {axes:?} repeat an axis"));
        }
        picks[a] = slice_range(starts[j], ends[j], steps[j], shape[a])?;
    }
    match data {
        Value::Int(i) => Ok(Value::Int(i.pick(&picks))),
        Value::Float(mut f) => {
            if picks.iter().any(Vec::is_empty) {
                return Err(format!(
                    "it leaves nothing of {shape:?}; Kiln does not run empty float tensors"
                ));
            }
            for (a, pick) in picks.iter().enumerate() {
                if pick.len() == shape[a] && pick.iter().enumerate().all(|(i, &p)| i == p) {
                    continue;
                }
                let axis = f.axis(a);
                let contiguous = pick.windows(2).all(|w| w[1] == w[0] + 1);
                let tensor = if contiguous {
                    f.tensor.narrow(axis, pick[0], pick.len())
                } else {
                    let indices: Vec<i64> = pick.iter().map(|&p| p as i64).collect();
                    let indices =
                        Tensor::<1, Int>::from_data(TensorData::new(indices, [pick.len()]), device);
                    f.tensor.select(axis, indices)
                };
                f.shape[a] = pick.len();
                f = Float::new(tensor, f.shape);
            }
            Ok(Value::Float(f))
        }
    }
}

/// Tensors of one kind joined along `axis`.
pub fn concat(parts: Vec<Value>, axis: i64) -> Result<Value, String> {
    let Some(first) = parts.first() else {
        return Err("it has no inputs".into());
    };
    let rank = first.shape().len();
    let a = axis_index(axis, rank)?;
    let base = first.shape().to_vec();
    for p in &parts {
        let s = p.shape();
        if s.len() != rank || (0..rank).any(|i| i != a && s[i] != base[i]) {
            return Err(format!(
                "shapes {base:?} and {s:?} do not join along axis {axis}"
            ));
        }
    }
    let mut shape = base.clone();
    shape[a] = parts.iter().map(|p| p.shape()[a]).sum();
    if parts.iter().all(|p| matches!(p, Value::Int(_))) {
        let outer = volume(&shape[..a]);
        let mut values = Vec::with_capacity(volume(&shape));
        for o in 0..outer {
            for p in &parts {
                if let Value::Int(i) = p {
                    let chunk = volume(&i.shape[a..]);
                    values.extend_from_slice(&i.values[o * chunk..(o + 1) * chunk]);
                }
            }
        }
        return Ok(Value::Int(Ints { shape, values }));
    }
    let mut tensors = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Value::Float(f) if f.shape[a] > 0 => tensors.push(f.tensor),
            Value::Float(_) => {}
            Value::Int(i) => {
                return Err(format!(
                    "it joins float tensors with an integer tensor {:?}",
                    i.shape
                ));
            }
        }
    }
    if tensors.is_empty() {
        return Err("it joins only empty tensors".into());
    }
    let pad = MAX_RANK - rank;
    Ok(Value::Float(Float::new(
        Tensor::cat(tensors, pad + a),
        shape,
    )))
}

/// `v` converted to element type `to` (FLOAT, INT32 or INT64).
pub fn cast(v: Value, to: i32, device: &Device) -> Result<Value, String> {
    let narrow = |x: i64| {
        if to == data_type::INT32 {
            i64::from(x as i32)
        } else {
            x
        }
    };
    Ok(match (v, to) {
        (Value::Float(f), data_type::FLOAT) => Value::Float(f),
        (Value::Int(i), data_type::FLOAT) => Value::Float(Float::from_values(
            i.values.iter().map(|&x| x as f32).collect(),
            i.shape,
            device,
        )?),
        (Value::Int(i), _) => Value::Int(Ints {
            values: i.values.into_iter().map(narrow).collect(),
            shape: i.shape,
        }),
        (Value::Float(f), _) => Value::Int(Ints {
            values: f.values()?.into_iter().map(|x| narrow(x as i64)).collect(),
            shape: f.shape,
        }),
    })
}

/// The elements of `data` at `indices` along `axis`.
pub fn gather(data: Value, indices: &Ints, axis: i64, device: &Device) -> Result<Value, String> {
    let rank = data.shape().len();
    let a = axis_index(axis, rank)?;
    let d = data.shape()[a] as i64;
    let flat = indices
        .values
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + d } else { i };
            if (0..d).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!("index {i} is out of range for an axis of size {d}"))
            }
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let mut shape = data.shape()[..a].to_vec();
    shape.extend(&indices.shape);
    shape.extend(&data.shape()[a + 1..]);
    match data {
        Value::Int(x) => {
            let mut picks: Vec<Vec<usize>> = x.shape.iter().map(|&d| (0..d).collect()).collect();
            picks[a] = flat;
            Ok(Value::Int(Ints {
                shape,
                values: x.pick(&picks).values,
            }))
        }
        Value::Float(x) => {
            if flat.is_empty() {
                return Err("it gathers nothing; Kiln does not run empty float tensors".into());
            }
            let ids: Vec<i64> = flat.iter().map(|&j| j as i64).collect();
            let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [flat.len()]), device);
            let axis = x.axis(a);
            let mut mid = x.shape.clone();
            mid[a] = flat.len();
            let t = x.tensor.select(axis, ids);
            Ok(Value::Float(Float::new(t, mid).reshape(shape)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_as_onnx_says() {
        assert_eq!(slice_range(1, i64::MAX, 1, 4).unwrap(), vec![1, 2, 3]);
        assert_eq!(slice_range(-1, i64::MIN, -1, 4).unwrap(), vec![3, 2, 1, 0]);
        assert_eq!(slice_range(0, 4, 2, 4).unwrap(), vec![0, 2]);
        assert!(slice_range(0, 1, 0, 4).is_err());
    }

    #[test]
    fn reshape_copies_and_infers() {
        assert_eq!(reshaped(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert!(reshaped(&[2, 3], &[4, -1], false).is_err());
        assert!(reshaped(&[2, 3], &[-1, -1], false).is_err());
    }
}
