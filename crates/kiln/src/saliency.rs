//! Explanations of an image model's predictions as heat maps over the input image: plain
//! gradients (saliency) or integrated gradients from a black image, of the predicted class's
//! probability, through burn's autodiff; or occlusion (how much the probability drops when a
//! patch turns black), which needs no gradients and so also explains models that read a
//! pretrained network's features. Each image gets a row of the picture: the image, the heat
//! map, and the heat map laid over the image.

use crate::bundle::Bundle;
use crate::error::KilnError;
use crate::images::image_files;
use crate::picture::{Grid, image_colour};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use kiln_model::ImageShape;
use kiln_train::Objective;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How pixel attributions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Saliency {
    /// The gradient of the class probability with respect to each pixel (its size is shown).
    Gradient,
    /// Integrated gradients from a black image: signed, and summing to the change in the
    /// class probability from the black image to this one.
    IntegratedGradients,
    /// The drop in the class probability when a square patch around the pixel turns black,
    /// averaged over the patches covering it: signed.
    Occlusion,
}

/// One image's explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ImageExplanation {
    /// The image file.
    pub file: String,
    /// The predicted class, whose probability is explained.
    pub class: String,
    /// Its probability.
    pub probability: f64,
    /// The sum of the pixel attributions (integrated gradients: close to `probability` minus
    /// `baseline`; occlusion: the summed mean drops, not a share of the probability).
    pub total: f64,
    /// The class's probability for a black image (integrated gradients' starting point).
    pub baseline: f64,
    /// Where in the picture this image's row is, counted from 0.
    pub row: usize,
}

/// Integration steps of integrated gradients unless told otherwise.
pub const IG_STEPS: usize = 32;
/// Images whose paths are evaluated in one batch of integrated gradients.
const IMAGES_PER_BATCH: usize = 8;

/// Explains the image model's prediction for each image file at `path` (a file or a folder of
/// them, at most `limit`); returns the picture as PNG and the figures.
pub fn explain_images(
    bundle: &Bundle,
    path: &Path,
    method: Saliency,
    steps: usize,
    limit: usize,
) -> Result<(Vec<u8>, Vec<ImageExplanation>), KilnError> {
    let m = &bundle.manifest;
    let (Some(shape), Objective::Classification { .. }) = (m.image(), &m.objective) else {
        return Err(KilnError::Config(
            "heat maps explain image classifiers; this model reads a table, so explain it on a table"
                .into(),
        ));
    };
    if method != Saliency::Occlusion && m.preprocessor.backbone.is_some() {
        return Err(KilnError::Config(
            "this model reads a pretrained ONNX network's features, and gradients do not pass through that network; use --method occlusion".into(),
        ));
    }
    let mut files = image_files(path)?;
    files.truncate(limit.max(1));
    let predictions = predict_images_in(bundle, &files)?;
    let width = shape.len();
    let steps = if method == Saliency::IntegratedGradients {
        steps.max(1)
    } else {
        1
    };
    let mut explanations = Vec::new();
    let mut grid = Grid::new(&shape, files.len(), 3);
    for (batch_start, batch) in predictions
        .chunks(IMAGES_PER_BATCH)
        .enumerate()
        .map(|(b, chunk)| (b * IMAGES_PER_BATCH, chunk))
    {
        let attributions = match method {
            Saliency::Occlusion => occlude(bundle, batch, &shape)?,
            _ => attribute(bundle, batch, width, method, steps),
        };
        for (i, ((file, pixels, class), attribution)) in
            batch.iter().zip(attributions.chunks(width)).enumerate()
        {
            let (probability, baseline) = (class.1, class.2);
            let heat = heat_map(attribution, &shape, method);
            grid.push_image(pixels, &shape);
            grid.push(|y, x| heat_colour(heat[y * shape.width + x]));
            grid.push(|y, x| {
                overlay(
                    image_colour(pixels, &shape, y, x),
                    heat[y * shape.width + x],
                )
            });
            explanations.push(ImageExplanation {
                file: file.clone(),
                class: m.target.classes[class.0].clone(),
                probability,
                total: attribution.iter().map(|&a| f64::from(a)).sum(),
                baseline,
                row: batch_start + i,
            });
        }
    }
    Ok((grid.to_png(), explanations))
}

/// Each file's name, its pixels (as the model reads them), and its predicted class with that
/// class's probability for the image and for a black image.
type Predicted = (String, Vec<f32>, (usize, f64, f64));

/// Predicts each file (all in one batch, with a black image), keeping the pixels the model
/// read.
fn predict_images_in(bundle: &Bundle, files: &[PathBuf]) -> Result<Vec<Predicted>, KilnError> {
    let m = &bundle.manifest;
    let shape = m.image().expect("checked by the caller");
    let mut images = Vec::with_capacity(files.len());
    for file in files {
        let pixels: Vec<f32> =
            kiln_data::decode_image(file, shape.channels, shape.height, shape.width)?
                .into_iter()
                .map(f32::from)
                .collect();
        images.push(pixels);
    }
    let mut batch = vec![0.0; shape.len()];
    batch.extend(images.iter().flatten());
    let probs = predict_pixels(bundle, &batch)?;
    let classes = probs.len() / (files.len() + 1);
    let black = &probs[..classes];
    Ok(files
        .iter()
        .zip(images)
        .zip(probs[classes..].chunks(classes))
        .map(|((file, pixels), probs)| {
            let class = kiln_train::metrics::argmax(probs);
            (
                file.display().to_string(),
                pixels,
                (class, f64::from(probs[class]), f64::from(black[class])),
            )
        })
        .collect())
}

/// The model's class probabilities for images (pixel rows, image after image), through the
/// pretrained network first when the model reads its features.
fn predict_pixels(bundle: &Bundle, pixels: &[f32]) -> Result<Vec<f32>, KilnError> {
    let m = &bundle.manifest;
    let per_image = m.image().map_or(pixels.len(), |s| s.len()).max(1);
    let rows = pixels.len() / per_image;
    let inputs = m.preprocessor.network_inputs(pixels.to_vec())?;
    Ok(kiln_train::predict(
        &bundle.model,
        kiln_train::Matrix::new(&inputs, rows, inputs.len() / rows.max(1)),
        &m.objective,
        &burn::prelude::Device::flex(),
    ))
}

/// Occlusion attributions of each image's predicted class, image after image: for every
/// pixel, the mean drop in the class probability over the black patches (a seventh of the
/// image's shorter side, moved by half that) that cover it; all channels get the pixel's
/// value divided among them.
fn occlude(
    bundle: &Bundle,
    batch: &[Predicted],
    shape: &ImageShape,
) -> Result<Vec<f32>, KilnError> {
    let (h, w, c) = (shape.height, shape.width, shape.channels);
    let patch = (h.min(w) / 7).max(1);
    let stride = (patch / 2).max(1);
    let starts = |size: usize| {
        let mut s: Vec<usize> = (0..=size.saturating_sub(patch)).step_by(stride).collect();
        if s.last() != Some(&size.saturating_sub(patch)) {
            s.push(size.saturating_sub(patch));
        }
        s
    };
    let patches: Vec<(usize, usize)> = starts(h)
        .into_iter()
        .flat_map(|y| starts(w).into_iter().map(move |x| (y, x)))
        .collect();
    let plane = h * w;
    let mut out = Vec::with_capacity(batch.len() * shape.len());
    for (_, pixels, (class, probability, _)) in batch {
        let mut occluded = Vec::with_capacity(patches.len() * shape.len());
        for &(y0, x0) in &patches {
            let start = occluded.len();
            occluded.extend_from_slice(pixels);
            for k in 0..c {
                for y in y0..(y0 + patch).min(h) {
                    let row = start + k * plane + y * w;
                    occluded[row + x0..row + (x0 + patch).min(w)].fill(0.0);
                }
            }
        }
        let probs = predict_pixels(bundle, &occluded)?;
        let classes = probs.len() / patches.len();
        let mut drop = vec![0f32; plane];
        let mut count = vec![0f32; plane];
        for (i, &(y0, x0)) in patches.iter().enumerate() {
            let d = *probability as f32 - probs[i * classes + class];
            for y in y0..(y0 + patch).min(h) {
                for x in x0..(x0 + patch).min(w) {
                    drop[y * w + x] += d;
                    count[y * w + x] += 1.0;
                }
            }
        }
        let mean: Vec<f32> = drop
            .iter()
            .zip(&count)
            .map(|(d, n)| d / n.max(1.0) / c as f32)
            .collect();
        for _ in 0..c {
            out.extend_from_slice(&mean);
        }
    }
    Ok(out)
}

/// Pixel attributions of each image's predicted class, image after image: the gradient at the
/// image, or the integrated gradients along `steps` points from black.
fn attribute(
    bundle: &Bundle,
    batch: &[Predicted],
    width: usize,
    method: Saliency,
    steps: usize,
) -> Vec<f32> {
    let n = batch.len();
    let mut path = Vec::with_capacity(n * steps * width);
    for (_, pixels, _) in batch {
        for s in 0..steps {
            let alpha = match method {
                Saliency::IntegratedGradients => (s as f32 + 0.5) / steps as f32,
                _ => 1.0,
            };
            path.extend(pixels.iter().map(|&p| alpha * p));
        }
    }
    let ad = Device::flex().autodiff();
    let model = bundle.model.clone().to_device(&ad);
    let rows = n * steps;
    let input = Tensor::<2>::from_data(TensorData::new(path, [rows, width]), &ad).require_grad();
    let out = model.forward(input.clone());
    let [_, members, outputs] = out.dims();
    // One-hot of each row's class: the sum of the chosen probabilities has each row's own
    // gradient, as rows do not interact in an eval-mode network.
    let mut pick = vec![0f32; rows * outputs];
    for (i, (_, _, class)) in batch.iter().enumerate() {
        for s in 0..steps {
            pick[(i * steps + s) * outputs + class.0] = 1.0 / members as f32;
        }
    }
    let pick = Tensor::<1>::from_data(TensorData::new(pick, [rows * outputs]), &ad)
        .reshape([rows, 1, outputs]);
    let value = (softmax(out, 2) * pick).sum();
    let grads = value.backward();
    let g: Vec<f32> = input
        .grad(&grads)
        .and_then(|t| t.into_data().try_into_vec::<f32>().ok())
        .unwrap_or_else(|| vec![0.0; rows * width]);
    let mut out = vec![0f32; n * width];
    for (i, (_, pixels, _)) in batch.iter().enumerate() {
        let row = &mut out[i * width..(i + 1) * width];
        for s in 0..steps {
            let grad = &g[(i * steps + s) * width..(i * steps + s + 1) * width];
            for (a, &gj) in row.iter_mut().zip(grad) {
                *a += gj;
            }
        }
        for (a, &p) in row.iter_mut().zip(pixels) {
            *a = match method {
                Saliency::IntegratedGradients => *a / steps as f32 * p,
                _ => *a,
            };
        }
    }
    out
}

/// Per-pixel heat in [-1, 1] (channels summed): signed for integrated gradients, the gradient's
/// size for saliency; scaled by the 99th percentile of its magnitude so one pixel cannot wash
/// out the rest.
fn heat_map(attribution: &[f32], shape: &ImageShape, method: Saliency) -> Vec<f32> {
    let plane = shape.height * shape.width;
    let mut heat: Vec<f32> = (0..plane)
        .map(|i| {
            let sum: f32 = (0..shape.channels)
                .map(|c| attribution[c * plane + i])
                .sum();
            match method {
                Saliency::Gradient => sum.abs(),
                Saliency::IntegratedGradients | Saliency::Occlusion => sum,
            }
        })
        .collect();
    let mut sizes: Vec<f32> = heat.iter().map(|h| h.abs()).collect();
    sizes.sort_by(f32::total_cmp);
    let scale = sizes[(sizes.len() * 99 / 100).min(sizes.len() - 1)];
    if scale > 0.0 {
        for h in &mut heat {
            *h = (*h / scale).clamp(-1.0, 1.0);
        }
    }
    heat
}

/// Red for positive heat, blue for negative, white for none.
fn heat_colour(h: f32) -> [u8; 3] {
    let fade = |v: f32| (255.0 * (1.0 - v.abs())) as u8;
    if h >= 0.0 {
        [255, fade(h), fade(h)]
    } else {
        [fade(h), fade(h), 255]
    }
}

/// The image dimmed to grey with the heat laid over it: red where it pushes toward the class,
/// blue where it pushes away.
fn overlay(rgb: [u8; 3], h: f32) -> [u8; 3] {
    let grey = (f32::from(rgb[0]) + f32::from(rgb[1]) + f32::from(rgb[2])) / 3.0 * 0.6;
    let strength = h.abs();
    let tint = if h >= 0.0 {
        [255.0, 0.0, 0.0]
    } else {
        [0.0, 64.0, 255.0]
    };
    tint.map(|t: f32| (grey * (1.0 - strength) + t * strength) as u8)
}
