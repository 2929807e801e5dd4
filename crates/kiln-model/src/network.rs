//! A network of either kind behind one type, so that training, prediction, explanations and
//! bundles hold one thing whatever the data: an MLP ensemble for table rows, a convolutional
//! network for images. Both read rows of values and give `[batch, members, outputs]`.

use crate::conv::{ConvNet, ConvShape, ImageShape, PixelScale};
use crate::sequence::{TextNet, TokenSpan};
use crate::tabular::{NetworkShape, TabularNet};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A whole network: its inputs, outputs and the layers between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Inputs per row (after preprocessing; for images, channels × height × width).
    pub inputs: usize,
    /// Outputs per row: classes, or 1 for regression.
    pub outputs: usize,
    /// The layers between.
    #[serde(flatten)]
    pub body: Body,
}

/// The layers between a network's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Table rows: an MLP ensemble of this shape.
    #[serde(rename = "shape")]
    Tabular(NetworkShape),
    /// Images of `image`'s size: a convolutional network of this shape.
    #[serde(rename = "conv")]
    Conv {
        /// The size of the images.
        image: ImageShape,
        /// The convolutional stages and head.
        shape: ConvShape,
        /// How the network standardises the pixels it reads.
        scale: PixelScale,
    },
    /// Table rows with free text as token numbers: each text read into a vector, then an MLP
    /// ensemble of `head`'s shape over the vectors and the other inputs.
    #[serde(rename = "text")]
    Text {
        /// Where each text's tokens sit among the inputs, and what reads them.
        spans: Vec<TokenSpan>,
        /// The MLP on top.
        head: NetworkShape,
    },
}

impl NetworkConfig {
    /// Checks the network is buildable, naming the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err("the network needs at least one input and one output".into());
        }
        match &self.body {
            Body::Tabular(shape) => shape.validate(),
            Body::Conv { image, shape, .. } => {
                if image.len() != self.inputs {
                    return Err(format!(
                        "the network reads {} values per row, but {}×{}×{} images have {}",
                        self.inputs,
                        image.channels,
                        image.height,
                        image.width,
                        image.len()
                    ));
                }
                shape.validate()?;
                shape.fits(image)
            }
            Body::Text { spans, head } => {
                if spans.is_empty()
                    || spans
                        .iter()
                        .any(|s| s.length == 0 || s.offset + s.length > self.inputs)
                {
                    return Err("the text network's token inputs must lie within its inputs".into());
                }
                for span in spans {
                    span.reader.validate()?;
                }
                head.validate()
            }
        }
    }

    /// Builds a freshly initialised network on `device`, every weight drawn on the host from
    /// `seed`, so the same seed gives the same network whatever else runs in the process.
    pub fn init(&self, device: &Device, seed: u64) -> Network {
        let rng = &mut ChaCha8Rng::seed_from_u64(seed);
        match &self.body {
            Body::Tabular(shape) => {
                Network::Tabular(shape.init(self.inputs, self.outputs, rng, device))
            }
            Body::Conv {
                image,
                shape,
                scale,
            } => Network::Conv(shape.init(*image, *scale, self.outputs, rng, device)),
            Body::Text { spans, head } => Network::Text(crate::sequence::init(
                spans,
                head,
                self.inputs,
                self.outputs,
                rng,
                device,
            )),
        }
    }

    /// The layers in a few words, for summaries and reports.
    pub fn describe(&self) -> String {
        match &self.body {
            Body::Tabular(s) => format!(
                "MLP: {} inputs, {} hidden layers of {} ({:?}, dropout {}), ensemble of {}",
                self.inputs, s.depth, s.width, s.activation, s.dropout, s.ensemble
            ),
            Body::Conv { image, shape, .. } => format!(
                "{}: {}×{}×{} images, stages of {} channels ({} 3×3 convolution{} with batch norm each{}, then 2×2 max pooling), hidden layer {}, dropout {}{}",
                if shape.residual_blocks > 0 {
                    "ResNet"
                } else {
                    "CNN"
                },
                image.channels,
                image.height,
                image.width,
                shape
                    .stages
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                shape.convs_per_stage,
                if shape.convs_per_stage == 1 { "" } else { "s" },
                match shape.residual_blocks {
                    0 => String::new(),
                    n => format!(
                        ", {n} residual block{} of two more",
                        if n == 1 { "" } else { "s" }
                    ),
                },
                shape.hidden,
                shape.dropout,
                shape.describe_test_time_views()
            ),
            Body::Text { spans, head } => format!(
                "{}, then an MLP: {} hidden layers of {} ({:?}, dropout {}), ensemble of {}",
                spans
                    .iter()
                    .map(|s| s.reader.describe())
                    .collect::<Vec<_>>()
                    .join("; "),
                head.depth,
                head.width,
                head.activation,
                head.dropout,
                head.ensemble
            ),
        }
    }

    /// The image size the network reads, when it reads images.
    pub fn image(&self) -> Option<ImageShape> {
        match &self.body {
            Body::Conv { image, .. } => Some(*image),
            Body::Tabular(_) | Body::Text { .. } => None,
        }
    }
}

/// A network of either kind; see the module docs.
#[derive(Module, Debug)]
pub enum Network {
    /// An MLP ensemble over table rows.
    Tabular(TabularNet),
    /// A convolutional network over images.
    Conv(ConvNet),
    /// A network reading free text as tokens, with an MLP ensemble on top.
    Text(TextNet),
}

impl Network {
    /// Per-member outputs `[batch, members, outputs]` (logits, or standardised values),
    /// without dropout: for evaluation and prediction.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        match self {
            Network::Tabular(net) => net.forward(x),
            Network::Conv(net) => net.forward(x),
            Network::Text(net) => net.forward(x),
        }
    }

    /// Per-member outputs with dropout, its masks drawn from `noise`: for training.
    pub fn forward_train(&self, x: Tensor<2>, noise: &mut ChaCha8Rng) -> Tensor<3> {
        match self {
            Network::Tabular(net) => net.forward_train(x, noise),
            Network::Conv(net) => net.forward_train(x, noise),
            Network::Text(net) => net.forward_train(x, noise),
        }
    }

    /// The network predicting from each input as given, without test-time augmentation:
    /// the cheaper view training measures its learning curve with.
    pub fn single_view(self) -> Self {
        match self {
            Network::Conv(net) => Network::Conv(net.without_test_time_augmentation()),
            other => other,
        }
    }

    /// The pretrained encoders inside, when the network fine-tunes any: training gives them a
    /// smaller learning rate.
    pub fn pretrained(&self) -> Vec<&kiln_text::Bert> {
        match self {
            Network::Text(net) => net.pretrained(),
            _ => Vec::new(),
        }
    }

    /// The network with its pretrained encoders' weights replaced by `weights` (read from
    /// the checkpoint before fine-tuning); other networks are returned unchanged.
    pub fn with_pretrained(self, weights: &kiln_text::Bert) -> Self {
        match self {
            Network::Text(net) => Network::Text(net.with_pretrained(weights)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv_config() -> NetworkConfig {
        resnet_config(0)
    }

    fn resnet_config(residual_blocks: usize) -> NetworkConfig {
        let image = ImageShape {
            channels: 1,
            height: 8,
            width: 8,
        };
        NetworkConfig {
            inputs: 64,
            outputs: 3,
            body: Body::Conv {
                image,
                shape: ConvShape {
                    stages: vec![4, 8],
                    convs_per_stage: 1,
                    residual_blocks,
                    hidden: 16,
                    dropout: 0.2,
                    test_time_flip: false,
                    test_time_shift: 0,
                },
                scale: PixelScale {
                    mean: 100.0,
                    std: 50.0,
                },
            },
        }
    }

    #[test]
    fn conv_network_reads_rows_of_pixels() {
        let device = Device::flex();
        let config = conv_config();
        config.validate().unwrap();
        let net = config.init(&device, 1);
        assert_eq!(
            net.forward(Tensor::zeros([5, 64], &device)).dims(),
            [5, 1, 3]
        );
        let same = config
            .init(&device, 1)
            .forward(Tensor::ones([2, 64], &device));
        let again = net.forward(Tensor::ones([2, 64], &device));
        assert_eq!(
            same.into_data().try_to_vec::<f32>().unwrap(),
            again.into_data().try_to_vec::<f32>().unwrap(),
            "the same seed gives the same network"
        );
    }

    /// The outputs of `net` for two 8×8 images, 64 values each, one after the other.
    fn two_images_out(net: &Network, values: &[f32], device: &Device) -> Vec<f32> {
        let x = Tensor::<2>::from_data(TensorData::new(values.to_vec(), [2, 64]), device);
        net.forward(x).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn test_time_flip_averages_each_image_with_its_mirror_image() {
        let device = Device::flex();
        let mut flipping = conv_config();
        if let Body::Conv { shape, .. } = &mut flipping.body {
            shape.test_time_flip = true;
        }
        assert!(flipping.describe().contains("mirror image"));
        let (plain, flipping) = (conv_config().init(&device, 3), flipping.init(&device, 3));
        let rows: Vec<f32> = (0..2 * 64).map(|i| ((i * 37) % 256) as f32).collect();
        // Each 8×8 image with its columns reversed.
        let mirrored: Vec<f32> = (0..rows.len())
            .map(|i| rows[i - i % 8 + 7 - i % 8])
            .collect();
        let out = |net: &Network, values: &[f32]| two_images_out(net, values, &device);
        let (own, mirror) = (out(&plain, &rows), out(&plain, &mirrored));
        assert_ne!(own, mirror, "the mirror image alone predicts differently");
        let averaged = out(&flipping, &rows);
        for ((a, own), mirror) in averaged.iter().zip(&own).zip(&mirror) {
            assert!(
                (a - (own + mirror) / 2.0).abs() < 1e-5,
                "{a} {own} {mirror}"
            );
        }
        assert_eq!(
            out(&flipping, &mirrored),
            averaged,
            "mirroring changes nothing"
        );
        assert_eq!(
            out(&flipping.single_view(), &rows),
            own,
            "the single view predicts from the image alone"
        );
    }

    #[test]
    fn test_time_shift_averages_each_image_with_its_shifted_copies() {
        let device = Device::flex();
        let with = |flip: bool, shift: usize| {
            let mut config = conv_config();
            if let Body::Conv { shape, .. } = &mut config.body {
                shape.test_time_flip = flip;
                shape.test_time_shift = shift;
            }
            config
        };
        assert!(
            with(false, 1)
                .describe()
                .contains("shifted 1 pixel each way")
        );
        assert!(
            with(true, 2)
                .describe()
                .contains("its mirror image and copies of both shifted 2 pixels")
        );
        let plain = conv_config().init(&device, 3);
        let rows: Vec<f32> = (0..2 * 64).map(|i| ((i * 37) % 256) as f32).collect();
        // Each 8×8 image moved `dy` rows down and `dx` columns right, uncovered pixels black.
        let moved = |values: &[f32], dy: i64, dx: i64| -> Vec<f32> {
            (0..values.len())
                .map(|i| {
                    let (image, y, x) = (i / 64, (i % 64 / 8) as i64, (i % 8) as i64);
                    let (sy, sx) = (y - dy, x - dx);
                    if (0..8).contains(&sy) && (0..8).contains(&sx) {
                        values[image * 64 + (sy * 8 + sx) as usize]
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mirrored: Vec<f32> = (0..rows.len())
            .map(|i| rows[i - i % 8 + 7 - i % 8])
            .collect();
        let out = |net: &Network, values: &[f32]| two_images_out(net, values, &device);
        let moves = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)];
        for flip in [false, true] {
            let sources: Vec<&[f32]> = if flip {
                vec![&rows, &mirrored]
            } else {
                vec![&rows]
            };
            let views: Vec<Vec<f32>> = sources
                .iter()
                .flat_map(|src| {
                    moves
                        .iter()
                        .map(|&(dy, dx)| out(&plain, &moved(src, dy, dx)))
                })
                .collect();
            assert_eq!(views.len(), if flip { 10 } else { 5 });
            assert_ne!(
                views[0], views[1],
                "a shifted copy alone predicts differently"
            );
            let averaged = out(&with(flip, 1).init(&device, 3), &rows);
            for (k, a) in averaged.iter().enumerate() {
                let mean = views.iter().map(|v| v[k]).sum::<f32>() / views.len() as f32;
                assert!((a - mean).abs() < 1e-5, "flip {flip}: {a} against {mean}");
            }
        }
        let shifting = with(true, 1).init(&device, 3);
        assert_eq!(
            out(&shifting.single_view(), &rows),
            out(&plain, &rows),
            "the single view predicts from the image alone"
        );
    }

    #[test]
    fn saved_weights_carry_the_batch_norm_statistics() {
        for residual_blocks in [0, 1] {
            weights_round_trip(&resnet_config(residual_blocks));
        }
    }

    fn weights_round_trip(config: &NetworkConfig) {
        use burn::store::{ModuleSnapshot, SafetensorsStore};
        let device = Device::flex();
        let trained = config.init(&device.clone().autodiff(), 1);
        let x = Tensor::<2>::random(
            [16, 64],
            burn::tensor::Distribution::Uniform(0.0, 255.0),
            &device.clone().autodiff(),
        );
        // A training pass moves the running statistics away from their start.
        let noise = &mut <ChaCha8Rng as SeedableRng>::seed_from_u64(0);
        let _ = trained.forward_train(x.clone(), noise);
        let trained = trained.valid();
        let mut store = SafetensorsStore::from_bytes(None);
        trained.save_into(&mut store).unwrap();
        let mut loaded = config.init(&device, 2);
        loaded
            .load_from(&mut SafetensorsStore::from_bytes(Some(
                store.get_bytes().unwrap(),
            )))
            .unwrap();
        let x = Tensor::<2>::from_data(x.into_data(), &device);
        let out = |net: &Network| {
            net.forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(out(&loaded), out(&trained));
    }

    #[test]
    fn residual_blocks_make_a_resnet() {
        use burn::module::Module;
        let device = Device::flex();
        let plain = conv_config();
        let resnet = resnet_config(1);
        resnet.validate().unwrap();
        assert!(resnet.describe().starts_with("ResNet") && plain.describe().starts_with("CNN"));
        // Two 3×3 convolutions of 4 and of 8 channels, each with batch norm's scale, shift and
        // running mean and variance.
        let extra = 2 * (4 * 4 * 9 + 4 * 4) + 2 * (8 * 8 * 9 + 4 * 8);
        assert_eq!(
            resnet.init(&device, 1).num_params(),
            plain.init(&device, 1).num_params() + extra
        );
        assert_eq!(
            resnet
                .init(&device, 1)
                .forward(Tensor::zeros([3, 64], &device))
                .dims(),
            [3, 1, 3]
        );
    }

    #[test]
    fn config_round_trips_and_keeps_the_tabular_field_name() {
        let tabular = NetworkConfig {
            inputs: 4,
            outputs: 2,
            body: Body::Tabular(NetworkShape::default()),
        };
        let json = serde_json::to_value(&tabular).unwrap();
        assert!(json.get("shape").is_some(), "{json}");
        for config in [tabular, conv_config()] {
            let text = serde_json::to_string(&config).unwrap();
            assert_eq!(
                serde_json::from_str::<NetworkConfig>(&text).unwrap(),
                config
            );
        }
    }

    #[test]
    fn images_too_small_for_the_stages_are_refused() {
        let mut config = conv_config();
        if let Body::Conv { shape, .. } = &mut config.body {
            shape.stages = vec![4, 4, 4, 4];
        }
        assert!(config.validate().unwrap_err().contains("stages"));
        config.inputs = 63;
        assert!(config.validate().unwrap_err().contains("64"));
    }
}
