//! The image network: stages of 3×3 convolutions, each followed by batch norm and ReLU, each
//! stage ending in 2×2 max pooling; then a fully connected hidden layer with dropout and the
//! output layer. Inputs arrive as rows of `channels × height × width` values (channel-major, as
//! an image tensor is laid out), so images travel through Kiln as any other rows do.

use crate::kernels::{batch_norm_relu, conv2d, max_pool_2x2};
use crate::tabular::uniform;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The size of the images a network reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    /// Colour channels: 1 for grey, 3 for RGB.
    pub channels: usize,
    /// Rows of pixels.
    pub height: usize,
    /// Columns of pixels.
    pub width: usize,
}

impl ImageShape {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image of this shape has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How raw pixel values are standardised inside the network, so that it reads pixels as they
/// are (0-255) wherever it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PixelScale {
    /// Mean pixel value of the training images.
    pub mean: f64,
    /// Standard deviation of the training images' pixel values.
    pub std: f64,
}

/// The convolutional layers and head of an image network: the `[image]` section of a Kiln
/// config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvShape {
    /// Output channels of each stage; each stage halves the image's height and width.
    pub stages: Vec<usize>,
    /// 3×3 convolutions per stage.
    pub convs_per_stage: usize,
    /// Residual blocks (two 3×3 convolutions with batch norm around an identity shortcut,
    /// as in ResNet) after each stage's convolutions: 0 is a plain CNN, 1 a small ResNet.
    pub residual_blocks: usize,
    /// Units of the fully connected hidden layer (0: none, the output layer reads the pooled
    /// features directly).
    pub hidden: usize,
    /// Dropout probability before each fully connected layer.
    pub dropout: f64,
    /// Predicts from each image and its left-right mirror and averages the two outputs
    /// (test-time augmentation: twice the prediction work). Sound when training flips images
    /// horizontally, as Kiln's default augmentation does.
    pub test_time_flip: bool,
    /// Also predicts from copies of each image shifted this many pixels left, right, up and
    /// down (the uncovered edge black, as training's shifts fill it), averaging all the
    /// outputs (0: none; otherwise five times the prediction work). Sound when training shifts
    /// images by at least as much.
    pub test_time_shift: usize,
}

impl Default for ConvShape {
    fn default() -> Self {
        Self {
            stages: vec![32, 64, 128],
            convs_per_stage: 1,
            residual_blocks: 0,
            hidden: 128,
            dropout: 0.3,
            test_time_flip: false,
            test_time_shift: 0,
        }
    }
}

impl ConvShape {
    /// Checks the shape is buildable, naming the offending config key.
    pub fn validate(&self) -> Result<(), String> {
        if self.stages.is_empty() || self.stages.contains(&0) || self.convs_per_stage == 0 {
            return Err(
                "image.stages needs at least one non-zero channel count and image.convs_per_stage at least 1"
                    .into(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "image.dropout must be in [0, 1), not {}",
                self.dropout
            ));
        }
        Ok(())
    }

    /// Checks images of size `image` survive every pooling stage.
    pub fn fits(&self, image: &ImageShape) -> Result<(), String> {
        let shrink = 1usize << self.stages.len();
        if image.is_empty() || image.height < shrink || image.width < shrink {
            return Err(format!(
                "{} pooling stages need images of at least {shrink}×{shrink} pixels, not {}×{}; use fewer image.stages",
                self.stages.len(),
                image.height,
                image.width
            ));
        }
        Ok(())
    }

    /// This shape with trailing stages dropped (one is always kept) until images of size
    /// `image` survive every pooling, and a note saying so when any were.
    pub fn fitted_to(&self, image: &ImageShape) -> (Self, Option<String>) {
        let mut shape = self.clone();
        while shape.stages.len() > 1 && shape.fits(image).is_err() {
            shape.stages.pop();
        }
        let note = (shape.stages.len() < self.stages.len()).then(|| {
            format!(
                "image.stages: {} of the {} stages kept, as {}×{} images allow only that many 2×2 poolings",
                shape.stages.len(),
                self.stages.len(),
                image.height,
                image.width
            )
        });
        (shape, note)
    }

    /// What test-time augmentation averages, as a clause for [`NetworkConfig::describe`]
    /// (empty without it).
    ///
    /// [`NetworkConfig::describe`]: crate::NetworkConfig::describe
    pub(crate) fn describe_test_time_views(&self) -> String {
        let shift = self.test_time_shift;
        let pixels = if shift == 1 { "pixel" } else { "pixels" };
        match (self.test_time_flip, shift > 0) {
            (false, false) => String::new(),
            (true, false) => "; predictions average each image with its mirror image".into(),
            (false, true) => format!(
                "; predictions average each image with copies shifted {shift} {pixels} each way"
            ),
            (true, true) => format!(
                "; predictions average each image, its mirror image and copies of both shifted {shift} {pixels} each way"
            ),
        }
    }

    /// Values per image after the last stage.
    fn features(&self, image: &ImageShape) -> usize {
        let shrink = 1usize << self.stages.len();
        self.stages.last().copied().unwrap_or(0) * (image.height / shrink) * (image.width / shrink)
    }

    /// Builds a freshly initialised network for `image` with `outputs` outputs, every weight
    /// drawn on the host from `rng`.
    pub(crate) fn init(
        &self,
        image: ImageShape,
        scale: PixelScale,
        outputs: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> ConvNet {
        let mut convs = Vec::new();
        let mut residuals = Vec::new();
        let mut channels = image.channels;
        for &out in &self.stages {
            for _ in 0..self.convs_per_stage {
                convs.push(ConvBlock::init(channels, out, rng, device));
                channels = out;
            }
            for _ in 0..self.residual_blocks {
                residuals.push(ResidualBlock::init(out, rng, device));
            }
        }
        let features = self.features(&image);
        let linear = |rng: &mut ChaCha8Rng, inputs: usize, outputs: usize| Linear {
            weight: uniform(rng, [inputs, outputs], inputs, device),
            bias: Some(uniform(rng, [outputs], inputs, device)),
        };
        let (hidden, head) = if self.hidden > 0 {
            (
                Some(linear(rng, features, self.hidden)),
                linear(rng, self.hidden, outputs),
            )
        } else {
            (None, linear(rng, features, outputs))
        };
        ConvNet {
            convs,
            residuals,
            hidden,
            head,
            convs_per_stage: self.convs_per_stage,
            residual_blocks: self.residual_blocks,
            image: [image.channels, image.height, image.width],
            dropout: self.dropout,
            test_time_flip: self.test_time_flip,
            test_time_shift: self.test_time_shift,
            mean: scale.mean,
            std: if scale.std > 0.0 { scale.std } else { 1.0 },
        }
    }
}

/// A 3×3 convolution (padded to keep the size, no bias: batch norm supplies it), batch norm.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    fn init(inputs: usize, outputs: usize, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let fan_in = inputs * 9;
        Self {
            conv: Conv2d {
                weight: uniform(rng, [outputs, inputs, 3, 3], fan_in, device),
                bias: None,
                stride: [1, 1],
                kernel_size: [3, 3],
                dilation: [1, 1],
                groups: 1,
                padding: PaddingConfig2d::Explicit(1, 1, 1, 1),
            },
            norm: BatchNormConfig::new(outputs).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_relu(&self.norm, self.convolve(x))
    }

    /// The padded 3×3 convolution, through Kiln's convolution kernel.
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.conv.weight.val(), None, [1, 1])
    }
}

/// A ResNet basic block: two 3×3 convolutions with batch norm (ReLU between them) added to the
/// block's input, then ReLU.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    first: ConvBlock,
    second: ConvBlock,
}

impl ResidualBlock {
    fn init(channels: usize, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        Self {
            first: ConvBlock::init(channels, channels, rng, device),
            second: ConvBlock::init(channels, channels, rng, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.first.forward(x.clone());
        relu(x + self.second.norm.forward(self.second.convolve(y)))
    }
}

/// The image network; see the module docs.
#[derive(Module, Debug)]
pub struct ConvNet {
    convs: Vec<ConvBlock>,
    residuals: Vec<ResidualBlock>,
    hidden: Option<Linear>,
    head: Linear,
    convs_per_stage: usize,
    residual_blocks: usize,
    image: [usize; 3],
    dropout: f64,
    test_time_flip: bool,
    test_time_shift: usize,
    mean: f64,
    std: f64,
}

impl ConvNet {
    /// Outputs `[batch, 1, outputs]` for rows of image values, without dropout: the mean
    /// output over the views the shape's test-time augmentation asks for (`test_time_shift`,
    /// `test_time_flip`), or the image's own with none.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        let images = self.images(x);
        let mut views = self.shifted_views(images);
        if self.test_time_flip {
            let mirrored: Vec<Tensor<4>> = views.iter().map(|v| v.clone().flip([3])).collect();
            views.extend(mirrored);
        }
        let count = views.len();
        let sum = views
            .into_iter()
            .map(|view| self.run(view, None))
            .reduce(|a, b| a + b)
            .expect("every image has at least its own view");
        if count == 1 {
            sum
        } else {
            sum.div_scalar(count as f64)
        }
    }

    /// Standardised `images` and, with `test_time_shift` = s > 0, copies moved s pixels
    /// right, left, down and up, the uncovered edge filled with black.
    fn shifted_views(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let s = self.test_time_shift;
        let [batch, c, h, w] = images.dims();
        if s == 0 || s >= h.min(w) {
            return vec![images];
        }
        let black = (-self.mean / self.std) as f32;
        let padded = images.clone().pad((s, s, s, s), PadMode::Constant(black));
        let window = |top: usize, left: usize| {
            padded
                .clone()
                .slice([0..batch, 0..c, top..top + h, left..left + w])
        };
        vec![
            images,
            window(s, 0),
            window(s, 2 * s),
            window(0, s),
            window(2 * s, s),
        ]
    }

    /// Outputs with dropout, its masks drawn from `noise`: for training.
    pub fn forward_train(&self, x: Tensor<2>, noise: &mut ChaCha8Rng) -> Tensor<3> {
        self.run(self.images(x), Some(noise))
    }

    /// The same network predicting from each image alone (no test-time augmentation).
    pub fn without_test_time_augmentation(self) -> Self {
        Self {
            test_time_flip: false,
            test_time_shift: 0,
            ..self
        }
    }

    /// Rows of raw pixel values as standardised `[batch, channels, height, width]` images.
    fn images(&self, x: Tensor<2>) -> Tensor<4> {
        let [batch, _] = x.dims();
        let [c, h, w] = self.image;
        let x = x.sub_scalar(self.mean).div_scalar(self.std);
        x.reshape([batch, c, h, w])
    }

    fn run(&self, mut x: Tensor<4>, mut noise: Option<&mut ChaCha8Rng>) -> Tensor<3> {
        let batch = x.dims()[0];
        let mut residuals = self.residuals.iter();
        for stage in self.convs.chunks(self.convs_per_stage.max(1)) {
            for block in stage {
                x = block.forward(x);
            }
            for block in residuals.by_ref().take(self.residual_blocks) {
                x = block.forward(x);
            }
            x = max_pool_2x2(x);
        }
        let features = x.dims()[1..].iter().product::<usize>();
        let mut x: Tensor<2> = x.reshape([batch, features]);
        if let Some(hidden) = &self.hidden {
            x = relu(hidden.forward(dropout(x, self.dropout, noise.as_deref_mut())));
        }
        let out = self.head.forward(dropout(x, self.dropout, noise));
        let outputs = out.dims()[1];
        out.reshape([batch, 1, outputs])
    }
}

/// Inverted dropout with a mask drawn from `noise` (none, or `p` = 0: identity). Drawing masks
/// on the CPU with ChaCha8 is several times faster than the backend's Bernoulli sampling, and
/// keeps training deterministic under Kiln's own seed.
pub(crate) fn dropout<const D: usize>(
    x: Tensor<D>,
    p: f64,
    noise: Option<&mut ChaCha8Rng>,
) -> Tensor<D> {
    let Some(rng) = noise.filter(|_| p > 0.0) else {
        return x;
    };
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let threshold = (p * f64::from(u32::MAX)) as u32;
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.next_u32() > threshold {
                scale
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &x.device());
    x * mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_that_small_images_cannot_pool_through_are_dropped_with_a_note() {
        let shape = ConvShape::default();
        let image = |side| ImageShape {
            channels: 1,
            height: side,
            width: side,
        };
        let (kept, note) = shape.fitted_to(&image(28));
        assert_eq!((kept, note), (shape.clone(), None));
        let (kept, note) = shape.fitted_to(&image(5));
        assert_eq!(kept.stages, vec![32, 64]);
        assert!(note.unwrap().contains("2 of the 3 stages kept"));
        assert!(kept.fits(&image(5)).is_ok());
        // One stage always stays; the network then reports that it does not fit.
        let (kept, _) = shape.fitted_to(&image(1));
        assert_eq!(kept.stages, vec![32]);
        assert!(kept.fits(&image(1)).is_err());
    }
}
