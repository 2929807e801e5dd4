//! A pretrained ONNX image network as a frozen feature extractor: each image, brought to the
//! network's channels and input size and normalised as the network was trained, becomes the
//! network's penultimate features (standardised on the training images), which the model then
//! reads instead of the pixels.

use crate::error::DataError;
use crate::preprocess::PreprocessOptions;
use burn::prelude::{Device, Tensor, TensorData};
use image::{ImageBuffer, Luma, imageops};
use kiln_onnx::OnnxModel;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Images sent through the network in one call.
const IMAGES_PER_CALL: usize = 64;
/// When the network takes any input size, images smaller than this (on their shorter side)
/// are enlarged by a whole factor to reach it: pretrained CNNs shrink their input 16 to 32
/// times, and a 28-pixel image would leave them one or two positions to see.
const SMALLEST_SIDE: usize = 64;

/// The fitted extractor, stored in the bundle: the ONNX file by path and checksum, how images
/// reach it, and the standardisation of its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBackbone {
    /// The `.onnx` file (an absolute path).
    pub model: String,
    /// SHA-256 of that file, checked whenever it is loaded.
    pub sha256: String,
    /// The images as the pixel columns hold them: [channels, height, width].
    pub image: [usize; 3],
    /// What the network reads: [channels, height, width].
    pub input: [usize; 3],
    /// Per network channel, the mean subtracted from the 0-1 pixel values.
    pub pixel_mean: Vec<f32>,
    /// Per network channel, the standard deviation the pixel values are divided by.
    pub pixel_std: Vec<f32>,
    /// Training mean of each feature.
    pub mean: Vec<f32>,
    /// Training standard deviation of each feature.
    pub std: Vec<f32>,
}

/// A network loaded in this process, with its file's checksum.
struct Loaded {
    model: OnnxModel,
    sha256: String,
}

/// Every ONNX network loaded in this process, by file.
static LOADED: OnceLock<Mutex<HashMap<String, Arc<Loaded>>>> = OnceLock::new();

/// The network in the file `path`, loaded on first use.
fn load(path: &str) -> Result<Arc<Loaded>, DataError> {
    let cache = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(found) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
        return Ok(found.clone());
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        file: path.to_string(),
        reason: format!("{e}; give the path of the .onnx image model"),
    })?;
    let model = OnnxModel::from_bytes(&bytes, path).map_err(|e| DataError::Malformed {
        file: path.to_string(),
        format: "ONNX image model".into(),
        reason: e.to_string(),
    })?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let loaded = Arc::new(Loaded { model, sha256 });
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_string(), loaded.clone());
    Ok(loaded)
}

/// One value per channel from `given` (one value serves every channel).
fn per_channel(given: &[f32], channels: usize, key: &str) -> Result<Vec<f32>, DataError> {
    match given.len() {
        1 => Ok(vec![given[0]; channels]),
        n if n == channels => Ok(given.to_vec()),
        n => Err(DataError::Options(format!(
            "preprocess.{key} has {n} values, but the network reads {channels} channels; give one value or {channels}"
        ))),
    }
}

impl ImageBackbone {
    /// Loads the network at `model`, decides how images of size `image` ([channels, height,
    /// width]) reach it, and computes the features of every image in `pixels` (0-255 values,
    /// image after image), standardised by their mean and deviation over the rows `train`.
    /// Returns the extractor and the features, row after row.
    pub fn fit(
        model: &str,
        image: [usize; 3],
        options: &PreprocessOptions,
        pixels: &[f32],
        train: &[usize],
    ) -> Result<(Self, Vec<f32>), DataError> {
        let loaded = load(model)?;
        let net = &loaded.model;
        let width = net.feature_width().ok_or_else(|| DataError::Malformed {
            file: model.to_string(),
            format: "ONNX image model".into(),
            reason: "it ends in no linear layer (MatMul or Gemm), so it has no features to train a head on; give a classifier network".into(),
        })?;
        let declared = net.input_dims();
        let channels = declared.get(1).copied().flatten().unwrap_or(image[0]);
        if !(image[0] == channels || image[0] == 1 || channels == 1) {
            return Err(DataError::Options(format!(
                "'{model}' reads {channels}-channel images, and these have {}; Kiln can turn grey images into colour and colour into grey, not this",
                image[0]
            )));
        }
        let [height, width_px] = match options.pretrained_size {
            Some(size) => size,
            None => {
                let fixed = |i: usize| declared.get(i).copied().flatten();
                let grow = SMALLEST_SIDE.div_ceil(image[1].min(image[2]).max(1)).max(1);
                [
                    fixed(2).unwrap_or(image[1] * grow),
                    fixed(3).unwrap_or(image[2] * grow),
                ]
            }
        };
        if height == 0 || width_px == 0 {
            return Err(DataError::Options(
                "preprocess.pretrained_size must be two positive numbers, [height, width]".into(),
            ));
        }
        let mut backbone = Self {
            model: model.to_string(),
            sha256: loaded.sha256.clone(),
            image,
            input: [channels, height, width_px],
            pixel_mean: per_channel(&options.pretrained_mean, channels, "pretrained_mean")?,
            pixel_std: per_channel(&options.pretrained_std, channels, "pretrained_std")?,
            mean: vec![0.0; width],
            std: vec![1.0; width],
        };
        if !backbone.pixel_std.iter().all(|&s| s > 0.0 && s.is_finite()) {
            return Err(DataError::Options(
                "preprocess.pretrained_std must be positive".into(),
            ));
        }
        let mut features = backbone.raw_features(net, pixels, model)?;
        let n = train.len().max(1) as f64;
        let mut mean = vec![0f64; width];
        let mut square = vec![0f64; width];
        for &r in train {
            for ((m, s), &x) in mean
                .iter_mut()
                .zip(&mut square)
                .zip(&features[r * width..(r + 1) * width])
            {
                *m += f64::from(x) / n;
                *s += f64::from(x).powi(2) / n;
            }
        }
        backbone.mean = mean.iter().map(|&m| m as f32).collect();
        backbone.std = mean
            .iter()
            .zip(&square)
            .map(|(m, s)| {
                let var = s - m * m;
                if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
            })
            .collect();
        backbone.standardise(&mut features);
        Ok((backbone, features))
    }

    /// Number of features per image.
    pub fn width(&self) -> usize {
        self.mean.len()
    }

    /// Values per image the pixel columns hold.
    pub fn image_len(&self) -> usize {
        self.image.iter().product()
    }

    /// The standardised features of every image in `pixels` (0-255 values, image after
    /// image), after checking that the network file is the one the model was trained with.
    pub fn features(&self, pixels: &[f32]) -> Result<Vec<f32>, DataError> {
        let loaded = self.checked()?;
        let mut features = self.raw_features(&loaded.model, pixels, &self.model)?;
        self.standardise(&mut features);
        Ok(features)
    }

    /// Loads the network file, checking it is the one the model was trained with.
    pub fn check(&self) -> Result<(), DataError> {
        self.checked().map(|_| ())
    }

    /// The loaded network, after checking it is the one the model was trained with.
    fn checked(&self) -> Result<Arc<Loaded>, DataError> {
        let loaded = load(&self.model)?;
        if loaded.sha256 != self.sha256 {
            return Err(DataError::Malformed {
                file: self.model.clone(),
                format: "ONNX image model".into(),
                reason: format!(
                    "its SHA-256 is {}, but the model was trained with {}; put the original file back at that path",
                    loaded.sha256, self.sha256
                ),
            });
        }
        Ok(loaded)
    }

    /// The network's features of every image, unstandardised.
    fn raw_features(
        &self,
        net: &OnnxModel,
        pixels: &[f32],
        file: &str,
    ) -> Result<Vec<f32>, DataError> {
        let per_image = self.image_len();
        let chunks: Vec<Result<Vec<f32>, DataError>> = pixels
            .par_chunks(per_image * IMAGES_PER_CALL)
            .map(|chunk| {
                let n = chunk.len() / per_image;
                let [c, h, w] = self.input;
                let mut input = Vec::with_capacity(n * c * h * w);
                for image in chunk.chunks(per_image) {
                    input.extend(self.network_input(image));
                }
                let x =
                    Tensor::<4>::from_data(TensorData::new(input, [n, c, h, w]), &Device::flex());
                let y = net.features(x).map_err(|e| DataError::Malformed {
                    file: file.to_string(),
                    format: "ONNX image model".into(),
                    reason: e.to_string(),
                })?;
                y.into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| DataError::Malformed {
                        file: file.to_string(),
                        format: "ONNX image model".into(),
                        reason: format!("its features are not 32-bit floats ({e:?})"),
                    })
            })
            .collect();
        let mut out = Vec::with_capacity(pixels.len() / per_image.max(1) * self.width());
        for chunk in chunks {
            out.extend(chunk?);
        }
        Ok(out)
    }

    /// One image (0-255 values, channel-major) as the network reads it: its channels
    /// matched, each plane resized (bilinear) and normalised.
    pub fn network_input(&self, image: &[f32]) -> Vec<f32> {
        let [from, height, width] = self.image;
        let [channels, out_h, out_w] = self.input;
        let plane = height * width;
        // 0-1 values: the image crate takes float pixels in that range (and clamps to it).
        let unit: Vec<f32> = image.iter().map(|p| p / 255.0).collect();
        let planes: Vec<Vec<f32>> = if from == channels {
            unit.chunks(plane).map(<[f32]>::to_vec).collect()
        } else if from == 1 {
            vec![unit; channels]
        } else {
            let grey = (0..plane)
                .map(|i| (0..from).map(|k| unit[k * plane + i]).sum::<f32>() / from as f32)
                .collect();
            vec![grey]
        };
        let mut out = Vec::with_capacity(channels * out_h * out_w);
        for (k, plane) in planes.into_iter().enumerate() {
            let resized = if (height, width) == (out_h, out_w) {
                plane
            } else {
                let buffer: ImageBuffer<Luma<f32>, Vec<f32>> =
                    ImageBuffer::from_raw(width as u32, height as u32, plane)
                        .expect("a plane holds height × width values");
                imageops::resize(
                    &buffer,
                    out_w as u32,
                    out_h as u32,
                    imageops::FilterType::Triangle,
                )
                .into_raw()
            };
            let (m, s) = (self.pixel_mean[k], self.pixel_std[k]);
            out.extend(resized.into_iter().map(|p| (p - m) / s));
        }
        out
    }

    /// Standardises features in place by the training mean and deviation.
    fn standardise(&self, features: &mut [f32]) {
        for row in features.chunks_mut(self.width().max(1)) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backbone(image: [usize; 3], input: [usize; 3]) -> ImageBackbone {
        ImageBackbone {
            model: "none.onnx".into(),
            sha256: String::new(),
            image,
            input,
            pixel_mean: vec![0.5; input[0]],
            pixel_std: vec![0.5; input[0]],
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
        }
    }

    #[test]
    fn grey_images_become_normalised_colour_of_the_network_size() {
        let b = backbone([1, 2, 2], [3, 4, 4]);
        let x = b.network_input(&[0.0, 255.0, 255.0, 0.0]);
        assert_eq!(x.len(), 3 * 16);
        // Every channel is the same grey image; black is -1 and white +1 after normalising.
        assert_eq!(x[..16], x[16..32]);
        assert_eq!(x[..16], x[32..]);
        assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!((x[0] + 1.0).abs() < 1e-6, "top left stays black: {}", x[0]);
        assert!((x[3] - 1.0).abs() < 1e-6, "top right stays white: {}", x[3]);
    }

    #[test]
    fn colour_images_become_grey_for_a_grey_network() {
        let b = backbone([3, 1, 1], [1, 1, 1]);
        let x = b.network_input(&[255.0, 0.0, 127.5]);
        assert_eq!(x.len(), 1);
        assert!(
            x[0].abs() < 1e-6,
            "the mean of the channels, 127.5, is 0: {}",
            x[0]
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = ImageBackbone::fit(
            "/no/such/model.onnx",
            [1, 4, 4],
            &PreprocessOptions::default(),
            &[0.0; 16],
            &[0],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/no/such/model.onnx"), "{err}");
    }
}
