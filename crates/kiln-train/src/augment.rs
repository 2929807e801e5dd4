//! Image augmentation applied to each training batch as it is drawn: random flips and shifts
//! (a random crop of the image padded with black), seeded by the training run's noise stream,
//! so the same seed gives the same augmented batches.

use kiln_model::ImageShape;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which transforms training applies to images: the `[train.augment]` section of a Kiln config.
/// Tables are never augmented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augmentation {
    /// Mirror left to right with probability 1/2.
    pub horizontal_flip: bool,
    /// Mirror top to bottom with probability 1/2.
    pub vertical_flip: bool,
    /// Shift by up to this many pixels each way, filling with black (a random crop of the
    /// image padded by this much); `None` chooses 1/14 of the smaller side, 2 pixels at 28.
    pub shift: Option<usize>,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            horizontal_flip: true,
            vertical_flip: false,
            shift: None,
        }
    }
}

impl Augmentation {
    /// No transforms at all.
    pub fn none() -> Self {
        Self {
            horizontal_flip: false,
            vertical_flip: false,
            shift: Some(0),
        }
    }

    /// The largest shift used for images of `shape`.
    pub fn shift_for(&self, shape: &ImageShape) -> usize {
        self.shift
            .unwrap_or_else(|| (shape.height.min(shape.width) / 14).max(1))
    }

    /// The transforms in words, for training notes.
    pub fn describe(&self, shape: &ImageShape) -> String {
        let mut parts = Vec::new();
        if self.horizontal_flip {
            parts.push("horizontal flips".to_string());
        }
        if self.vertical_flip {
            parts.push("vertical flips".to_string());
        }
        let shift = self.shift_for(shape);
        if shift > 0 {
            parts.push(format!("shifts of up to {shift} pixels"));
        }
        if parts.is_empty() {
            "no augmentation".into()
        } else {
            format!("augmentation: {}", parts.join(", "))
        }
    }

    /// Transforms each image row of `batch` in place, drawing from `rng`.
    pub fn apply(&self, batch: &mut [f32], shape: &ImageShape, rng: &mut ChaCha8Rng) {
        let n = shape.len();
        let shift = self.shift_for(shape) as i64;
        let mut scratch = vec![0.0f32; n];
        for image in batch.chunks_exact_mut(n) {
            let flip_x = self.horizontal_flip && rng.random::<bool>();
            let flip_y = self.vertical_flip && rng.random::<bool>();
            let (dx, dy) = if shift > 0 {
                (
                    rng.random_range(-shift..=shift),
                    rng.random_range(-shift..=shift),
                )
            } else {
                (0, 0)
            };
            if !flip_x && !flip_y && dx == 0 && dy == 0 {
                continue;
            }
            transform(image, &mut scratch, shape, flip_x, flip_y, dx, dy);
            image.copy_from_slice(&scratch);
        }
    }
}

/// Writes into `out` the image `src` mirrored as asked, then moved `dx` pixels right and `dy`
/// down, black where nothing moves in.
fn transform(
    src: &[f32],
    out: &mut [f32],
    shape: &ImageShape,
    flip_x: bool,
    flip_y: bool,
    dx: i64,
    dy: i64,
) {
    let (h, w) = (shape.height as i64, shape.width as i64);
    for c in 0..shape.channels {
        let plane = c * shape.height * shape.width;
        for y in 0..h {
            let sy = y - dy;
            let row = &mut out[plane + (y * w) as usize..plane + ((y + 1) * w) as usize];
            if !(0..h).contains(&sy) {
                row.fill(0.0);
                continue;
            }
            let sy = if flip_y { h - 1 - sy } else { sy };
            for (x, value) in row.iter_mut().enumerate() {
                let sx = x as i64 - dx;
                *value = if (0..w).contains(&sx) {
                    let sx = if flip_x { w - 1 - sx } else { sx };
                    src[plane + (sy * w + sx) as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SHAPE: ImageShape = ImageShape {
        channels: 2,
        height: 3,
        width: 4,
    };

    fn image() -> Vec<f32> {
        (1..=24).map(|v| v as f32).collect()
    }

    fn at(image: &[f32], c: usize, y: usize, x: usize) -> f32 {
        image[c * 12 + y * 4 + x]
    }

    #[test]
    fn a_flip_mirrors_every_row_of_every_channel() {
        let src = image();
        let mut out = vec![0.0; 24];
        transform(&src, &mut out, &SHAPE, true, false, 0, 0);
        for c in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(at(&out, c, y, x), at(&src, c, y, 3 - x));
                }
            }
        }
        transform(&src, &mut out, &SHAPE, false, true, 0, 0);
        assert_eq!(at(&out, 1, 0, 2), at(&src, 1, 2, 2));
    }

    #[test]
    fn a_shift_moves_pixels_and_fills_with_black() {
        let src = image();
        let mut out = vec![0.0; 24];
        transform(&src, &mut out, &SHAPE, false, false, 1, -1);
        for c in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    let expected = if x == 0 || y == 2 {
                        0.0
                    } else {
                        at(&src, c, y + 1, x - 1)
                    };
                    assert_eq!(at(&out, c, y, x), expected, "c{c} y{y} x{x}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_batch() {
        let augment = Augmentation {
            vertical_flip: true,
            shift: Some(1),
            ..Augmentation::default()
        };
        let run = |seed| {
            let mut batch: Vec<f32> = (0..10).flat_map(|_| image()).collect();
            augment.apply(&mut batch, &SHAPE, &mut ChaCha8Rng::seed_from_u64(seed));
            batch
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let mut untouched: Vec<f32> = image();
        Augmentation::none().apply(&mut untouched, &SHAPE, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(untouched, image());
    }
}
