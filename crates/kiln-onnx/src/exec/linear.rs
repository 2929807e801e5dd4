//! Matrix products: MatMul (numpy rules: vectors, broadcast batches) and Gemm.

use super::{Inputs, as_float};
use crate::value::{Float, MAX_RANK, broadcast, padded};

/// The matrix product of `a` and `b` with numpy's rules (vectors and broadcast batches).
pub fn matmul(a: Float, b: Float) -> Result<Float, String> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(format!(
            "MatMul needs tensors of rank 1 or more, got {:?} and {:?}",
            a.shape, b.shape
        ));
    }
    let (a_vector, b_vector) = (a.rank() == 1, b.rank() == 1);
    let a = if a_vector {
        let k = a.shape[0];
        a.reshape(vec![1, k])?
    } else {
        a
    };
    let b = if b_vector {
        let k = b.shape[0];
        b.reshape(vec![k, 1])?
    } else {
        b
    };
    let (ra, rb) = (a.rank(), b.rank());
    let (m, k) = (a.shape[ra - 2], a.shape[ra - 1]);
    let (k2, n) = (b.shape[rb - 2], b.shape[rb - 1]);
    let batch = broadcast(&a.shape[..ra - 2], &b.shape[..rb - 2]);
    let Some(batch) = batch.filter(|_| k == k2) else {
        return Err(format!(
            "shapes {:?} and {:?} do not multiply",
            a.shape, b.shape
        ));
    };
    let mut shape = batch;
    shape.extend([m, n]);
    if shape.len() > MAX_RANK {
        return Err(format!("the product would have rank {}", shape.len()));
    }
    let full = padded(&shape);
    let ta = if a.tensor.dims()[..2] == full[..2] {
        a.tensor
    } else {
        a.tensor.expand([full[0], full[1], m, k])
    };
    let tb = if b.tensor.dims()[..2] == full[..2] {
        b.tensor
    } else {
        b.tensor.expand([full[0], full[1], k, n])
    };
    let y = Float::new(ta.matmul(tb), shape.clone());
    let mut out = shape;
    if b_vector {
        out.pop();
    }
    if a_vector {
        let at = out.len() - if b_vector { 1 } else { 2 };
        out.remove(at);
    }
    y.reshape(out)
}

/// alpha · A' · B' + beta · C on inputs A, B and optional C (Gemm).
pub fn gemm(
    inputs: &mut Inputs,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<Float, String> {
    let a = inputs.float(0)?;
    let b = inputs.float(1)?;
    let c = inputs.optional(2).map(|c| as_float(c, 2)).transpose()?;
    if a.rank() != 2 || b.rank() != 2 {
        return Err(format!(
            "Gemm needs matrices, but got shapes {:?} and {:?}",
            a.shape, b.shape
        ));
    }
    let (m, k) = if trans_a {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, n) = if trans_b {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        return Err(format!(
            "A {:?} and B {:?} (transA {trans_a}, transB {trans_b}) do not multiply",
            a.shape, b.shape
        ));
    }
    let ta = if trans_a {
        a.tensor.swap_dims(2, 3)
    } else {
        a.tensor
    };
    let tb = if trans_b {
        b.tensor.swap_dims(2, 3)
    } else {
        b.tensor
    };
    let mut y = ta.matmul(tb);
    if alpha != 1.0 {
        y = y.mul_scalar(alpha);
    }
    if let Some(c) = c
        && beta != 0.0
    {
        if broadcast(&c.shape, &[m, n]).as_deref() != Some(&[m, n][..]) {
            return Err(format!(
                "its C of shape {:?} does not broadcast to [{m}, {n}]",
                c.shape
            ));
        }
        let c = if beta == 1.0 {
            c.tensor
        } else {
            c.tensor.mul_scalar(beta)
        };
        y = y + c;
    }
    Ok(Float::new(y, vec![m, n]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::Device;

    #[test]
    fn matmul_of_a_vector_drops_its_axis() {
        let device = Device::flex();
        let a = Float::from_values(vec![1.0, 2.0], vec![2], &device).unwrap();
        let b =
            Float::from_values(vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0], vec![2, 3], &device).unwrap();
        let y = matmul(a, b).unwrap();
        assert_eq!(y.shape, vec![3]);
        assert_eq!(y.values().unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
