//! A checkpoint folder's weights: every float tensor of `model.safetensors` by name, read
//! once, so the network can take each as it is built.

use crate::TextError;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// A float tensor read from a checkpoint: its shape and values in row-major order.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// The float tensors of a safetensors file by name (a `bert.` prefix, as some checkpoints
/// have, is dropped), taken out as the network is built.
#[derive(Debug)]
pub struct Weights {
    file: String,
    tensors: HashMap<String, Stored>,
    /// Every tensor asked for is zeros (for a network whose weights are loaded afterwards).
    blank: bool,
}

impl Weights {
    /// Reads every F32 (or F16/BF16, widened) tensor of the safetensors file at `path`.
    pub fn read(path: &Path) -> Result<Self, TextError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TextError::Io {
            file: file.clone(),
            reason: format!("{e}; the checkpoint folder needs its model.safetensors"),
        })?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| TextError::Malformed {
            file: file.clone(),
            reason: format!("not a safetensors file ({e})"),
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                    .collect(),
                _ => continue,
            };
            let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
            tensors.insert(
                name,
                Stored {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
        Ok(Self {
            file,
            tensors,
            blank: false,
        })
    }

    /// Weights that give zeros of whatever shape is asked for.
    pub fn blank() -> Self {
        Self {
            file: String::new(),
            tensors: HashMap::new(),
            blank: true,
        }
    }

    /// Takes the tensor `name`, checking it has `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Stored, TextError> {
        if self.blank {
            return Ok(Stored {
                shape: shape.to_vec(),
                values: vec![0.0; shape.iter().product()],
            });
        }
        let stored = self.tensors.remove(name).ok_or_else(|| TextError::Malformed {
            file: self.file.clone(),
            reason: format!(
                "it has no tensor '{name}'; is this a BERT-family checkpoint matching its config.json?"
            ),
        })?;
        if stored.shape != shape {
            return Err(TextError::Malformed {
                file: self.file.clone(),
                reason: format!(
                    "tensor '{name}' has shape {:?}, but config.json implies {shape:?}",
                    stored.shape
                ),
            });
        }
        Ok(stored)
    }
}

/// An IEEE half-precision value as f32.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the fraction.
            let shift = frac.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((frac << shift) & 0x3ff) << 13
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_widen_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn tensors_are_taken_by_name_and_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let values: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![2, 2], &values).unwrap();
        safetensors::serialize_to_file([("bert.w", view)], None, &path).unwrap();
        let mut w = Weights::read(&path).unwrap();
        let err = w.take("w", &[4]).unwrap_err().to_string();
        assert!(err.contains("shape [2, 2]"), "{err}");
        let mut w = Weights::read(&path).unwrap();
        assert_eq!(
            w.take("w", &[2, 2]).unwrap().values,
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert!(
            w.take("w", &[2, 2])
                .unwrap_err()
                .to_string()
                .contains("no tensor 'w'")
        );
        std::fs::write(&path, b"nonsense").unwrap();
        assert!(
            Weights::read(&path)
                .unwrap_err()
                .to_string()
                .contains("not a safetensors")
        );
    }
}
