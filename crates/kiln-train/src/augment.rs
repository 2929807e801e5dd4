//! Image augmentation applied to each training batch as it is drawn, on raw pixel values
//! (0-255): per image, one geometric warp (random flips, shifts padded with black, rotations
//! and zooms about the centre, composed into a single affine map and sampled once,
//! bilinearly), then random brightness, contrast, Gaussian noise and cutout; then mixup
//! across the batch. Everything is drawn from the training run's noise stream, one seed per
//! image, so the same seed gives the same augmented batches however many threads transform
//! them.

use kiln_model::ImageShape;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
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
    /// Rotate about the centre by up to this many degrees either way, black outside (0: off).
    pub rotation: f64,
    /// Scale about the centre by a factor between `1 - zoom` and `1 + zoom` (0: off).
    pub zoom: f64,
    /// Multiply pixel values by a factor between `1 - brightness` and `1 + brightness` (0: off).
    pub brightness: f64,
    /// Scale each pixel's difference from the image mean by a factor between `1 - contrast`
    /// and `1 + contrast` (0: off).
    pub contrast: f64,
    /// Add Gaussian noise with this standard deviation in pixel values (0-255 scale; 0: off).
    pub noise: f64,
    /// Blank (set to black) one random square of this side, clipped at the edges (0: off).
    pub cutout: usize,
    /// Mix each batch with a shuffled copy of itself, weights drawn from Beta(mixup, mixup),
    /// and mix the loss likewise (0: off).
    pub mixup: f64,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            horizontal_flip: true,
            shift: None,
            ..Self::none()
        }
    }
}

/// How [`Augmentation::apply`] mixed a batch: row `i` became
/// `weight · x[i] + (1 - weight) · x[partner[i]]`, so its loss is mixed the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    /// The row each row was mixed with: a permutation of the batch's rows.
    pub partner: Vec<usize>,
    /// The weight of each row's own image, between 1/2 and 1.
    pub weight: f32,
}

impl Augmentation {
    /// No transforms at all.
    pub fn none() -> Self {
        Self {
            horizontal_flip: false,
            vertical_flip: false,
            shift: Some(0),
            rotation: 0.0,
            zoom: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            noise: 0.0,
            cutout: 0,
            mixup: 0.0,
        }
    }

    /// The largest shift used for images of `shape`.
    pub fn shift_for(&self, shape: &ImageShape) -> usize {
        self.shift
            .unwrap_or_else(|| (shape.height.min(shape.width) / 14).max(1))
    }

    /// Checks every setting, naming the offending `train.augment` key.
    pub fn validate(&self) -> Result<(), String> {
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        let rules = [
            (
                "rotation",
                self.rotation,
                (0.0..=180.0).contains(&self.rotation),
                "between 0 and 180 (degrees)",
            ),
            (
                "zoom",
                self.zoom,
                (0.0..1.0).contains(&self.zoom),
                "at least 0 and below 1",
            ),
            (
                "brightness",
                self.brightness,
                (0.0..=1.0).contains(&self.brightness),
                "between 0 and 1",
            ),
            (
                "contrast",
                self.contrast,
                (0.0..=1.0).contains(&self.contrast),
                "between 0 and 1",
            ),
            (
                "noise",
                self.noise,
                finite_non_negative(self.noise),
                "a finite standard deviation of at least 0 (in pixel values)",
            ),
            (
                "mixup",
                self.mixup,
                finite_non_negative(self.mixup),
                "a finite alpha of at least 0",
            ),
        ];
        match rules.into_iter().find(|(_, _, ok, _)| !ok) {
            Some((key, value, _, rule)) => {
                Err(format!("train.augment.{key} must be {rule}, not {value}"))
            }
            None => Ok(()),
        }
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
        if self.rotation > 0.0 {
            parts.push(format!("rotations of up to {}°", short(self.rotation)));
        }
        if self.zoom > 0.0 {
            parts.push(format!("zooms of up to ±{}%", short(100.0 * self.zoom)));
        }
        if self.brightness > 0.0 {
            let b = short(100.0 * self.brightness);
            parts.push(format!("brightness changes of up to ±{b}%"));
        }
        if self.contrast > 0.0 {
            let c = short(100.0 * self.contrast);
            parts.push(format!("contrast changes of up to ±{c}%"));
        }
        if self.noise > 0.0 {
            let s = short(self.noise);
            parts.push(format!("Gaussian noise of standard deviation {s} (of 255)"));
        }
        if self.cutout > 0 {
            let side = self.cutout;
            parts.push(format!("cutout of one {side}×{side} square"));
        }
        if self.mixup > 0.0 {
            parts.push(format!("mixup with alpha {}", short(self.mixup)));
        }
        if parts.is_empty() {
            "no augmentation".into()
        } else {
            format!("augmentation: {}", parts.join(", "))
        }
    }

    /// Transforms each image row of `batch` in place, drawing from `rng`: one seed per image
    /// for [`Augmentation::apply_one`] (run on worker threads), then the batch's mixup, if on.
    pub fn apply(
        &self,
        batch: &mut [f32],
        shape: &ImageShape,
        rng: &mut ChaCha8Rng,
    ) -> Option<Mixup> {
        let n = shape.len();
        let seeds: Vec<u64> = (0..batch.len() / n).map(|_| rng.random()).collect();
        batch
            .par_chunks_exact_mut(n)
            .zip(&seeds)
            .for_each(|(image, &seed)| {
                self.apply_one(image, shape, &mut ChaCha8Rng::seed_from_u64(seed))
            });
        (self.mixup > 0.0).then(|| {
            let mixup = draw_mixup(self.mixup, seeds.len(), rng);
            mix(batch, n, &mixup);
            mixup
        })
    }

    /// Transforms one image in place, drawing from `rng`: the geometric warp, then brightness,
    /// contrast, noise and cutout (everything but mixup).
    pub fn apply_one(&self, image: &mut [f32], shape: &ImageShape, rng: &mut ChaCha8Rng) {
        let geometry = self.draw_geometry(shape, rng);
        if geometry != Geometry::IDENTITY {
            let src = image.to_vec();
            warp(&src, image, shape, &geometry);
        }
        if self.brightness > 0.0 {
            scale_brightness(image, factor(self.brightness, rng));
        }
        if self.contrast > 0.0 {
            scale_contrast(image, factor(self.contrast, rng));
        }
        if self.noise > 0.0 {
            add_noise(image, self.noise, rng);
        }
        if self.cutout > 0 {
            let (y, x) = (
                rng.random_range(0..shape.height),
                rng.random_range(0..shape.width),
            );
            cut_out(image, shape, self.cutout, y, x);
        }
    }

    /// Draws the flips, shift, rotation and zoom of one image.
    fn draw_geometry(&self, shape: &ImageShape, rng: &mut ChaCha8Rng) -> Geometry {
        let shift = self.shift_for(shape) as i64;
        let mut pixels = || {
            if shift > 0 {
                rng.random_range(-shift..=shift)
            } else {
                0
            }
        };
        let (dx, dy) = (pixels(), pixels());
        Geometry {
            flip_x: self.horizontal_flip && rng.random(),
            flip_y: self.vertical_flip && rng.random(),
            dx,
            dy,
            degrees: if self.rotation > 0.0 {
                rng.random_range(-self.rotation..=self.rotation)
            } else {
                0.0
            },
            scale: if self.zoom > 0.0 {
                factor(self.zoom, rng)
            } else {
                1.0
            },
        }
    }
}

/// `value` with at most three decimals and no trailing zeros.
fn short(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A factor drawn uniformly from `[1 - spread, 1 + spread]`.
fn factor(spread: f64, rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(1.0 - spread..=1.0 + spread)
}

/// The geometric transform of one image: mirror, then rotate and scale about the centre,
/// then move.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    /// Mirror left to right.
    flip_x: bool,
    /// Mirror top to bottom.
    flip_y: bool,
    /// Pixels moved right.
    dx: i64,
    /// Pixels moved down.
    dy: i64,
    /// Anticlockwise rotation (as seen on screen), in degrees.
    degrees: f64,
    /// Magnification.
    scale: f64,
}

impl Geometry {
    /// Leaves the image as it is.
    const IDENTITY: Self = Self {
        flip_x: false,
        flip_y: false,
        dx: 0,
        dy: 0,
        degrees: 0.0,
        scale: 1.0,
    };

    /// The inverse map, `m · (x, y) + t`, from an output pixel to the source position it
    /// samples, pixel centres at whole coordinates and `y` pointing down. A pure flip and
    /// shift gives whole coefficients, so every sample falls on a pixel centre.
    fn inverse(&self, shape: &ImageShape) -> ([[f64; 2]; 2], [f64; 2]) {
        let (w, h) = (shape.width as f64, shape.height as f64);
        let centre = [(w - 1.0) / 2.0, (h - 1.0) / 2.0];
        // Undo the move, then the rotation and scale about the centre: a = rot(-θ) / s.
        let (sin, cos) = self.degrees.to_radians().sin_cos();
        let a = [[cos, -sin], [sin, cos]].map(|row| row.map(|v| v / self.scale));
        let moved = [centre[0] + self.dx as f64, centre[1] + self.dy as f64];
        let offset = [0, 1].map(|r| centre[r] - (a[r][0] * moved[0] + a[r][1] * moved[1]));
        // Undo the mirror: `(w - 1) - x` on a flipped axis.
        let flips = [(self.flip_x, w), (self.flip_y, h)];
        let m = [0, 1].map(|r| a[r].map(|v| if flips[r].0 { -v } else { v }));
        let t = [0, 1].map(|r| match flips[r] {
            (true, size) => size - 1.0 - offset[r],
            (false, _) => offset[r],
        });
        (m, t)
    }
}

/// Writes into `out` the image `src` warped by `geometry`, black where nothing maps in. Each
/// output pixel samples the source bilinearly; one whose position falls on a pixel centre
/// (every pixel under a pure flip and shift) copies that pixel exactly.
fn warp(src: &[f32], out: &mut [f32], shape: &ImageShape, geometry: &Geometry) {
    let (h, w) = (shape.height, shape.width);
    let plane = h * w;
    let (m, t) = geometry.inverse(shape);
    let pixel = |x: i64, y: i64| {
        ((0..w as i64).contains(&x) && (0..h as i64).contains(&y))
            .then(|| y as usize * w + x as usize)
    };
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let sx = m[0][0] * xf + m[0][1] * yf + t[0];
            let sy = m[1][0] * xf + m[1][1] * yf + t[1];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let taps = if fx == 0.0 && fy == 0.0 {
                [(pixel(x0, y0), 1.0), (None, 0.0), (None, 0.0), (None, 0.0)]
            } else {
                [
                    (pixel(x0, y0), (1.0 - fx) * (1.0 - fy)),
                    (pixel(x0 + 1, y0), fx * (1.0 - fy)),
                    (pixel(x0, y0 + 1), (1.0 - fx) * fy),
                    (pixel(x0 + 1, y0 + 1), fx * fy),
                ]
            };
            for c in 0..shape.channels {
                let src = &src[c * plane..(c + 1) * plane];
                out[c * plane + y * w + x] = taps
                    .iter()
                    .filter_map(|&(i, weight)| i.map(|i| src[i] * weight))
                    .sum();
            }
        }
    }
}

/// Multiplies every pixel value by `factor`, clamped to 0-255.
fn scale_brightness(image: &mut [f32], factor: f64) {
    for v in image {
        *v = (f64::from(*v) * factor).clamp(0.0, 255.0) as f32;
    }
}

/// Scales every pixel value's difference from the image mean by `factor`, clamped to 0-255.
fn scale_contrast(image: &mut [f32], factor: f64) {
    let mean = image.iter().map(|&v| f64::from(v)).sum::<f64>() / image.len().max(1) as f64;
    for v in image {
        *v = (mean + factor * (f64::from(*v) - mean)).clamp(0.0, 255.0) as f32;
    }
}

/// Adds Gaussian noise of standard deviation `std` to every pixel value, clamped to 0-255.
fn add_noise(image: &mut [f32], std: f64, rng: &mut ChaCha8Rng) {
    for pair in image.chunks_mut(2) {
        let (a, b) = normal_pair(rng);
        for (v, z) in pair.iter_mut().zip([a, b]) {
            *v = (f64::from(*v) + std * z).clamp(0.0, 255.0) as f32;
        }
    }
}

/// Sets to black, in every channel, the `side`×`side` square centred on pixel (`y`, `x`),
/// clipped at the edges.
fn cut_out(image: &mut [f32], shape: &ImageShape, side: usize, y: usize, x: usize) {
    let span = |centre: usize, size: usize| {
        let start = centre.saturating_sub(side / 2);
        start..(centre + side - side / 2).min(size)
    };
    let (rows, cols) = (span(y, shape.height), span(x, shape.width));
    for plane in image.chunks_exact_mut(shape.height * shape.width) {
        for row in rows.clone() {
            plane[row * shape.width + cols.start..row * shape.width + cols.end].fill(0.0);
        }
    }
}

/// Draws the weight, `max(λ, 1 - λ)` for λ ~ Beta(alpha, alpha), and a random partner
/// permutation for mixing a batch of `rows` images.
fn draw_mixup(alpha: f64, rows: usize, rng: &mut ChaCha8Rng) -> Mixup {
    let (a, b) = (gamma(alpha, rng), gamma(alpha, rng));
    // Both draws can underflow to zero for a tiny alpha, where λ is almost surely 0 or 1.
    let lambda = if a + b > 0.0 { a / (a + b) } else { 1.0 };
    let mut partner: Vec<usize> = (0..rows).collect();
    partner.shuffle(rng);
    Mixup {
        partner,
        weight: lambda.max(1.0 - lambda) as f32,
    }
}

/// Replaces each image of `batch` (rows of `n` values) by its mixture with its partner.
fn mix(batch: &mut [f32], n: usize, mixup: &Mixup) {
    let original = batch.to_vec();
    let w = mixup.weight;
    batch
        .par_chunks_exact_mut(n)
        .zip(&mixup.partner)
        .for_each(|(image, &p)| {
            for (v, &other) in image.iter_mut().zip(&original[p * n..(p + 1) * n]) {
                *v = w * *v + (1.0 - w) * other;
            }
        });
}

/// Two independent standard normal draws (Box-Muller).
fn normal_pair(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    let (sin, cos) = (std::f64::consts::TAU * rng.random::<f64>()).sin_cos();
    (radius * cos, radius * sin)
}

/// A Gamma(`shape`, 1) draw (Marsaglia and Tsang; boosted by `U^(1/shape)` below shape 1).
fn gamma(shape: f64, rng: &mut ChaCha8Rng) -> f64 {
    if shape < 1.0 {
        let boost = (1.0 - rng.random::<f64>()).powf(1.0 / shape);
        return gamma(shape + 1.0, rng) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal_pair(rng).0;
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `src` warped by `geometry`.
    fn warped(src: &[f32], shape: &ImageShape, geometry: Geometry) -> Vec<f32> {
        let mut out = vec![f32::NAN; src.len()];
        warp(src, &mut out, shape, &geometry);
        out
    }

    /// `src` mirrored as asked, then moved `dx` pixels right and `dy` down.
    fn transform(src: &[f32], flip_x: bool, flip_y: bool, dx: i64, dy: i64) -> Vec<f32> {
        let geometry = Geometry {
            flip_x,
            flip_y,
            dx,
            dy,
            ..Geometry::IDENTITY
        };
        warped(src, &SHAPE, geometry)
    }

    fn square(side: usize) -> ImageShape {
        ImageShape {
            channels: 1,
            height: side,
            width: side,
        }
    }

    /// Every transform on, mixup included.
    fn everything() -> Augmentation {
        Augmentation {
            horizontal_flip: true,
            vertical_flip: true,
            shift: Some(2),
            rotation: 15.0,
            zoom: 0.2,
            brightness: 0.3,
            contrast: 0.3,
            noise: 5.0,
            cutout: 3,
            mixup: 0.4,
        }
    }

    #[test]
    fn a_flip_mirrors_every_row_of_every_channel() {
        let src = image();
        let out = transform(&src, true, false, 0, 0);
        for c in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(at(&out, c, y, x), at(&src, c, y, 3 - x));
                }
            }
        }
        let out = transform(&src, false, true, 0, 0);
        assert_eq!(at(&out, 1, 0, 2), at(&src, 1, 2, 2));
    }

    #[test]
    fn a_shift_moves_pixels_and_fills_with_black() {
        let src = image();
        let out = transform(&src, false, false, 1, -1);
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
    fn a_quarter_turn_transposes_and_mirrors_a_square_image() {
        let shape = square(5);
        let src: Vec<f32> = (0..25).map(|v| (v * 7 % 25) as f32).collect();
        let out = warped(
            &src,
            &shape,
            Geometry {
                degrees: 90.0,
                ..Geometry::IDENTITY
            },
        );
        for y in 0..5 {
            for x in 0..5 {
                let expected = src[x * 5 + (4 - y)];
                let got = out[y * 5 + x];
                assert!(
                    (got - expected).abs() < 1e-4,
                    "y{y} x{x}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn no_rotation_and_no_zoom_leave_the_image_unchanged() {
        let src = image();
        assert_eq!(warped(&src, &SHAPE, Geometry::IDENTITY), src);
    }

    #[test]
    fn a_double_zoom_spreads_the_centre_outward() {
        let shape = square(9);
        let src: Vec<f32> = (0..81).map(|v| v as f32).collect();
        let out = warped(
            &src,
            &shape,
            Geometry {
                scale: 2.0,
                ..Geometry::IDENTITY
            },
        );
        let px = |image: &[f32], y: usize, x: usize| image[y * 9 + x];
        // Two pixels right of the centre (4, 4) shows the pixel one right of it ...
        assert_eq!(px(&out, 4, 6), px(&src, 4, 5));
        assert_eq!(px(&out, 2, 4), px(&src, 3, 4));
        // ... and halfway positions blend their two neighbours.
        assert!((px(&out, 4, 5) - (px(&src, 4, 4) + px(&src, 4, 5)) / 2.0).abs() < 1e-4);
        assert_eq!(px(&out, 4, 4), px(&src, 4, 4));
    }

    #[test]
    fn brightness_multiplies_pixel_values_up_to_white() {
        let mut values = vec![0.0, 10.0, 100.0, 200.0];
        scale_brightness(&mut values, 1.5);
        assert_eq!(values, [0.0, 15.0, 150.0, 255.0]);
    }

    #[test]
    fn contrast_keeps_the_mean_and_scales_deviations() {
        let src = vec![50.0f32, 100.0, 150.0, 200.0];
        let mut values = src.clone();
        scale_contrast(&mut values, 0.5);
        assert_eq!(values, [87.5, 112.5, 137.5, 162.5]);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert_eq!(mean(&values), mean(&src));
    }

    #[test]
    fn noise_has_the_requested_standard_deviation() {
        let mut values = vec![128.0f32; 64 * 64];
        add_noise(&mut values, 10.0, &mut ChaCha8Rng::seed_from_u64(3));
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((mean - 128.0).abs() < 1.0, "mean {mean}");
        assert!((var.sqrt() - 10.0).abs() < 1.0, "std {}", var.sqrt());
    }

    #[test]
    fn cutout_blanks_one_square_clipped_at_the_edges() {
        let shape = ImageShape {
            channels: 2,
            height: 10,
            width: 12,
        };
        let zeros = |side, y, x| {
            let mut values = vec![255.0f32; shape.len()];
            cut_out(&mut values, &shape, side, y, x);
            values.iter().filter(|&&v| v == 0.0).count()
        };
        assert_eq!(zeros(3, 5, 6), 2 * 9);
        assert_eq!(zeros(4, 5, 6), 2 * 16);
        assert_eq!(zeros(3, 0, 0), 2 * 4);
        assert_eq!(zeros(4, 9, 0), 2 * 6);
        let mut values = vec![255.0f32; shape.len()];
        cut_out(&mut values, &shape, 3, 5, 6);
        assert_eq!(values[4 * 12 + 5], 0.0);
        assert_eq!(values[120 + 6 * 12 + 7], 0.0);
        assert_eq!(values[3 * 12 + 6], 255.0);
    }

    #[test]
    fn mixup_blends_each_image_with_a_partner() {
        let shape = square(4);
        let rows = 12;
        let src: Vec<f32> = (0..rows * 16).map(|v| (v * 37 % 251) as f32).collect();
        let augment = Augmentation {
            mixup: 0.4,
            ..Augmentation::none()
        };
        let mut batch = src.clone();
        let mixup = augment
            .apply(&mut batch, &shape, &mut ChaCha8Rng::seed_from_u64(9))
            .expect("mixup is on");
        let mut sorted = mixup.partner.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..rows).collect::<Vec<_>>());
        assert!((0.5..=1.0).contains(&mixup.weight), "{}", mixup.weight);
        assert_ne!(batch, src);
        let w = mixup.weight;
        for (i, &p) in mixup.partner.iter().enumerate() {
            for k in 0..16 {
                let expected = w * src[i * 16 + k] + (1.0 - w) * src[p * 16 + k];
                assert!((batch[i * 16 + k] - expected).abs() < 1e-4);
            }
        }
        assert_eq!(
            Augmentation::default().apply(&mut batch, &shape, &mut ChaCha8Rng::seed_from_u64(1)),
            None
        );
    }

    #[test]
    fn gamma_draws_have_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for shape in [0.3, 1.0, 4.0] {
            let mean = (0..20_000).map(|_| gamma(shape, &mut rng)).sum::<f64>() / 20_000.0;
            assert!(
                (mean - shape).abs() < 0.05 * shape.max(1.0),
                "{shape}: {mean}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_batch_on_any_number_of_threads() {
        let shape = ImageShape {
            channels: 3,
            height: 8,
            width: 8,
        };
        let src: Vec<f32> = (0..16 * shape.len())
            .map(|v| (v * 37 % 256) as f32)
            .collect();
        let run = |augment: &Augmentation, seed| {
            let mut batch = src.clone();
            let mixup = augment.apply(&mut batch, &shape, &mut ChaCha8Rng::seed_from_u64(seed));
            (batch, mixup)
        };
        let augment = everything();
        let first = run(&augment, 7);
        assert_ne!(first.0, src);
        assert_eq!(first, run(&augment, 7));
        assert_ne!(first, run(&augment, 8));
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(&augment, 7));
        assert_eq!(first, single);
        assert_eq!(run(&Augmentation::none(), 1), (src, None));
    }

    #[test]
    fn validate_names_the_bad_setting() {
        assert_eq!(everything().validate(), Ok(()));
        assert_eq!(Augmentation::default().validate(), Ok(()));
        let bad = [
            (
                "rotation",
                Augmentation {
                    rotation: -1.0,
                    ..everything()
                },
            ),
            (
                "rotation",
                Augmentation {
                    rotation: f64::NAN,
                    ..everything()
                },
            ),
            (
                "zoom",
                Augmentation {
                    zoom: 1.0,
                    ..everything()
                },
            ),
            (
                "zoom",
                Augmentation {
                    zoom: -0.1,
                    ..everything()
                },
            ),
            (
                "brightness",
                Augmentation {
                    brightness: 1.5,
                    ..everything()
                },
            ),
            (
                "contrast",
                Augmentation {
                    contrast: -0.2,
                    ..everything()
                },
            ),
            (
                "noise",
                Augmentation {
                    noise: f64::INFINITY,
                    ..everything()
                },
            ),
            (
                "mixup",
                Augmentation {
                    mixup: -1.0,
                    ..everything()
                },
            ),
        ];
        for (key, augment) in bad {
            let message = augment.validate().unwrap_err();
            assert!(
                message.starts_with(&format!("train.augment.{key} must be")),
                "{message}"
            );
        }
    }

    #[test]
    fn describe_lists_every_transform() {
        let shape = square(28);
        let text = everything().describe(&shape);
        for words in [
            "horizontal flips",
            "vertical flips",
            "shifts of up to 2 pixels",
            "rotations of up to 15°",
            "zooms of up to ±20%",
            "brightness changes of up to ±30%",
            "contrast changes of up to ±30%",
            "standard deviation 5",
            "3×3 square",
            "mixup with alpha 0.4",
        ] {
            assert!(text.contains(words), "{words} missing from {text}");
        }
        assert_eq!(Augmentation::none().describe(&shape), "no augmentation");
    }
}
