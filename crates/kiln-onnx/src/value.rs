//! The values flowing through a graph: float tensors of rank 0 to 4 held in burn, and small
//! integer tensors (shapes, axes, indices) held as plain vectors.

use crate::proto::{TensorProto, data_type};
use burn::prelude::*;

/// The highest rank a float value may have.
pub const MAX_RANK: usize = 4;

/// A float tensor of rank 0 to 4, held as a rank-4 burn tensor whose missing leading
/// dimensions are 1, so numpy-style broadcasting lines up as burn's does.
#[derive(Debug, Clone)]
pub struct Float {
    /// The values, padded in front to rank 4.
    pub tensor: Tensor<4>,
    /// The value's own shape (rank 0 to 4).
    pub shape: Vec<usize>,
}

/// `shape` padded in front with ones to rank 4.
pub fn padded(shape: &[usize]) -> [usize; 4] {
    let mut out = [1; 4];
    out[MAX_RANK - shape.len()..].copy_from_slice(shape);
    out
}

/// The number of elements of a tensor with `shape` (saturating, so absurd shapes read from a
/// file cannot overflow).
pub fn volume(shape: &[usize]) -> usize {
    shape.iter().fold(1, |n, &d| n.saturating_mul(d))
}

impl Float {
    /// Wraps `values` (row-major) of `shape` in a tensor on `device`.
    pub fn from_values(
        values: Vec<f32>,
        shape: Vec<usize>,
        device: &Device,
    ) -> Result<Self, String> {
        if shape.len() > MAX_RANK {
            return Err(format!(
                "a float tensor of shape {shape:?} has rank {}; Kiln runs tensors of rank up \
                 to {MAX_RANK}",
                shape.len()
            ));
        }
        if values.len() != volume(&shape) {
            return Err(format!(
                "{} values do not fill shape {shape:?}",
                values.len()
            ));
        }
        let tensor = Tensor::from_data(TensorData::new(values, padded(&shape)), device);
        Ok(Self { tensor, shape })
    }

    /// Wraps a burn tensor whose shape is `shape` padded to rank 4.
    pub fn new(tensor: Tensor<4>, shape: Vec<usize>) -> Self {
        debug_assert_eq!(tensor.dims(), padded(&shape));
        Self { tensor, shape }
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The burn axis of this value's `axis`.
    pub fn axis(&self, axis: usize) -> usize {
        axis + MAX_RANK - self.rank()
    }

    /// The same values in a new shape with as many elements.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self, String> {
        if shape.len() > MAX_RANK {
            return Err(format!(
                "the result would have shape {shape:?}, rank {}; Kiln runs tensors of rank up \
                 to {MAX_RANK}",
                shape.len()
            ));
        }
        if volume(&shape) != volume(&self.shape) {
            return Err(format!(
                "cannot reshape {:?} ({} values) to {shape:?} ({} values)",
                self.shape,
                volume(&self.shape),
                volume(&shape)
            ));
        }
        let tensor = if padded(&shape) == padded(&self.shape) {
            self.tensor
        } else {
            self.tensor.reshape(padded(&shape))
        };
        Ok(Self { tensor, shape })
    }

    /// The values, row-major.
    pub fn values(&self) -> Result<Vec<f32>, String> {
        self.tensor
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| format!("cannot read a tensor's values: {e:?}"))
    }
}

/// An integer tensor (a shape, axes, indices), kept outside burn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ints {
    /// The shape (any rank).
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<i64>,
}

impl Ints {
    /// A one-dimensional tensor of `values`.
    pub fn vector(values: Vec<i64>) -> Self {
        Self {
            shape: vec![values.len()],
            values,
        }
    }

    /// The elements at the chosen index of every axis: `picks[a]` lists the indices kept
    /// along axis `a`, in order (all of them in range).
    pub fn pick(&self, picks: &[Vec<usize>]) -> Self {
        let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
        let strides = strides(&self.shape);
        let mut values = Vec::with_capacity(volume(&shape));
        for_each_index(&shape, |index| {
            let offset: usize = index
                .iter()
                .enumerate()
                .map(|(a, &i)| picks[a][i] * strides[a])
                .sum();
            values.push(self.values[offset]);
        });
        Self { shape, values }
    }

    /// The axes reordered: output axis `a` is input axis `perm[a]`.
    pub fn transpose(&self, perm: &[usize]) -> Self {
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let strides = strides(&self.shape);
        let mut values = Vec::with_capacity(self.values.len());
        for_each_index(&shape, |index| {
            let offset: usize = index
                .iter()
                .enumerate()
                .map(|(a, &i)| i * strides[perm[a]])
                .sum();
            values.push(self.values[offset]);
        });
        Self { shape, values }
    }

    /// `f` of every pair of elements of `self` and `other`, broadcast numpy-style.
    pub fn zip(
        &self,
        other: &Self,
        f: impl Fn(i64, i64) -> Result<i64, String>,
    ) -> Result<Self, String> {
        let shape = broadcast(&self.shape, &other.shape).ok_or_else(|| {
            format!(
                "shapes {:?} and {:?} do not broadcast",
                self.shape, other.shape
            )
        })?;
        let offset = |of: &Self, index: &[usize]| -> usize {
            let skip = index.len() - of.shape.len();
            let strides = strides(&of.shape);
            of.shape
                .iter()
                .enumerate()
                .map(|(a, &d)| {
                    if d == 1 {
                        0
                    } else {
                        index[skip + a] * strides[a]
                    }
                })
                .sum()
        };
        let mut values = Vec::with_capacity(volume(&shape));
        let mut failure = None;
        for_each_index(&shape, |index| {
            match f(
                self.values[offset(self, index)],
                other.values[offset(other, index)],
            ) {
                Ok(v) => values.push(v),
                Err(e) => {
                    failure.get_or_insert(e);
                    values.push(0);
                }
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(Self { shape, values }),
        }
    }
}

/// A value in a graph: a float tensor or an integer tensor.
// Nearly every value is a float tensor; boxing it would cost an allocation per step.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Value {
    /// A float tensor, in burn.
    Float(Float),
    /// An integer tensor, on the host.
    Int(Ints),
}

impl Value {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Float(f) => &f.shape,
            Value::Int(i) => &i.shape,
        }
    }

    /// A short description for error messages, such as "a float tensor [2, 3]".
    pub fn describe(&self) -> String {
        match self {
            Value::Float(f) => format!("a float tensor {:?}", f.shape),
            Value::Int(i) => format!("an integer tensor {:?}", i.shape),
        }
    }
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut out = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        out[a] = out[a + 1] * shape[a + 1];
    }
    out
}

/// Calls `f` with every index of `shape`, in row-major order (once, with `[]`, for a scalar).
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut index = vec![0; shape.len()];
    loop {
        f(&index);
        let mut a = shape.len();
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            index[a] += 1;
            if index[a] < shape[a] {
                break;
            }
            index[a] = 0;
        }
    }
}

/// The numpy broadcast of two shapes, or `None` when they do not broadcast.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        let skip = rank - s.len();
        if i < skip { 1 } else { s[i - skip] }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Why a stored tensor could not be turned into a value.
#[derive(Debug)]
pub enum DecodeError {
    /// Its element type is one Kiln does not compute with (the type's name).
    Type(String),
    /// Its content is inconsistent (what is wrong).
    Malformed(String),
}

/// The value a stored tensor (an initializer or a `Constant`'s `value`) holds.
pub fn decode(t: &TensorProto, device: &Device) -> Result<Value, DecodeError> {
    let bad = |reason: String| DecodeError::Malformed(reason);
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(bad(
            "its values are stored in an external file; Kiln reads models whose weights are \
             inside the .onnx file (save it with onnx.save_model(..., \
             save_as_external_data=False))"
                .into(),
        ));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| bad(format!("it has a negative dimension in {:?}", t.dims)))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let count = volume(&shape);
    let raw = &t.raw_data;
    let from_raw = !raw.is_empty() || count == 0;
    let width = match t.data_type {
        data_type::FLOAT | data_type::INT32 => 4,
        data_type::DOUBLE | data_type::INT64 => 8,
        other => return Err(DecodeError::Type(data_type::name(other))),
    };
    if !raw.len().is_multiple_of(width) {
        return Err(bad(format!(
            "its raw data has {} bytes, not whole {width}-byte values",
            raw.len()
        )));
    }
    let words = raw.chunks_exact(width);
    let check = |n: usize| {
        if n == count {
            Ok(())
        } else {
            Err(bad(format!(
                "it holds {n} values, but its dimensions {shape:?} need {count}"
            )))
        }
    };
    let eight = |b: &[u8]| [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    match t.data_type {
        data_type::FLOAT | data_type::DOUBLE => {
            let values: Vec<f32> = match (t.data_type, from_raw) {
                (data_type::FLOAT, true) => words
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                (data_type::FLOAT, false) => t.float_data.clone(),
                (_, true) => words.map(|b| f64::from_le_bytes(eight(b)) as f32).collect(),
                (_, false) => t.double_data.iter().map(|&v| v as f32).collect(),
            };
            check(values.len())?;
            Float::from_values(values, shape, device)
                .map(Value::Float)
                .map_err(DecodeError::Malformed)
        }
        _ => {
            let values: Vec<i64> = match (t.data_type, from_raw) {
                (data_type::INT64, true) => words.map(|b| i64::from_le_bytes(eight(b))).collect(),
                (data_type::INT64, false) => t.int64_data.clone(),
                (_, true) => words
                    .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
                (_, false) => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            };
            check(values.len())?;
            Ok(Value::Int(Ints { shape, values }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 3, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
    }

    #[test]
    fn picking_and_transposing_integers() {
        let x = Ints {
            shape: vec![2, 3],
            values: vec![0, 1, 2, 3, 4, 5],
        };
        assert_eq!(x.pick(&[vec![1], vec![2, 0]]).values, vec![5, 3]);
        let t = x.transpose(&[1, 0]);
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.values, vec![0, 3, 1, 4, 2, 5]);
        let sum = x
            .zip(&Ints::vector(vec![10, 20, 30]), |a, b| Ok(a + b))
            .unwrap();
        assert_eq!(sum.values, vec![10, 21, 32, 13, 24, 35]);
    }

    #[test]
    fn stored_tensors_decode_from_every_field() {
        let device = Device::flex();
        let raw = TensorProto {
            dims: vec![2],
            data_type: data_type::FLOAT,
            raw_data: [1.5f32, -2.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            ..TensorProto::default()
        };
        let Value::Float(f) = decode(&raw, &device).unwrap() else {
            panic!("float expected")
        };
        assert_eq!(f.values().unwrap(), vec![1.5, -2.0]);
        let ints = TensorProto {
            dims: vec![1],
            data_type: data_type::INT32,
            int32_data: vec![200],
            ..TensorProto::default()
        };
        let Value::Int(i) = decode(&ints, &device).unwrap() else {
            panic!("ints expected")
        };
        assert_eq!(i.values, vec![200]);
        let short = TensorProto {
            dims: vec![3],
            data_type: data_type::FLOAT,
            float_data: vec![1.0],
            ..TensorProto::default()
        };
        assert!(matches!(
            decode(&short, &device),
            Err(DecodeError::Malformed(_))
        ));
        let text = TensorProto {
            data_type: data_type::STRING,
            ..TensorProto::default()
        };
        assert!(matches!(decode(&text, &device), Err(DecodeError::Type(t)) if t == "STRING"));
    }
}
