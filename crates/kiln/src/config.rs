//! The TOML configuration: every option of a run and its default. A `kiln.toml` may set any
//! subset; unknown keys and wrong types are refused with the key's name.

use kiln_data::{PreprocessOptions, TaskChoice};
use kiln_model::{ConvShape, ImageShape, NetworkShape, TextShape};
use kiln_train::{Augmentation, TrainOptions};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seed of every random step: split, initialisation, batch order, dropout.
    pub seed: u64,
    /// Named defaults for what this config leaves unset: `default`, or `best` (slower,
    /// more accurate; see [`Preset`]).
    pub preset: Preset,
    /// Which data to use and how to split it.
    pub data: DataOptions,
    /// How columns become network inputs.
    pub preprocess: PreprocessOptions,
    /// The network's shape for tables.
    pub model: NetworkShape,
    /// The network's shape for images.
    pub image: ConvShape,
    /// The text network's shape, when free text is read as tokens (preprocess.text_model).
    pub text: TextShape,
    /// The optimisation.
    pub train: TrainOptions,
    /// Hyperparameter tuning (`kiln tune`).
    pub tune: crate::tune::TuneOptions,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 42,
            preset: Preset::default(),
            data: DataOptions::default(),
            preprocess: PreprocessOptions::default(),
            model: NetworkShape::default(),
            image: ConvShape::default(),
            text: TextShape::default(),
            train: TrainOptions::default(),
            tune: crate::tune::TuneOptions::default(),
        }
    }
}

/// Named defaults: how much time a run spends for how much accuracy, for the choices a config
/// leaves at their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Kiln's defaults: for images, three stages of one convolution each (32, 64, 128
    /// channels) for 20 epochs.
    #[default]
    Default,
    /// For images: two stages of two convolutions each (32, 64 channels), four times the
    /// default network's work per image, for 17 epochs, predicting from the views training
    /// augments with (see [`Preset::image_shape`]); on Fashion-MNIST about 1.6 times the
    /// default's training time. Tables and text train as with `default`.
    Best,
}

impl Preset {
    /// The network for `image`s: `shape` itself unless it is the default one, which `best`
    /// replaces. Its predictions then average over the views that `augment` trains on: the
    /// mirror image when training flips images left-right, and copies shifted by half
    /// training's largest shift (at least a pixel) when training shifts them.
    pub fn image_shape(
        self,
        shape: &ConvShape,
        augment: &Augmentation,
        image: &ImageShape,
    ) -> ConvShape {
        match self {
            Preset::Best if *shape == ConvShape::default() => ConvShape {
                stages: vec![32, 64],
                convs_per_stage: 2,
                test_time_flip: augment.horizontal_flip,
                test_time_shift: match augment.shift_for(image) {
                    0 => 0,
                    shift => (shift / 2).max(1),
                },
                ..shape.clone()
            },
            _ => shape.clone(),
        }
    }

    /// Passes over the training images when the config sets no `train.epochs`.
    pub fn image_epochs(self) -> usize {
        match self {
            Preset::Default => 20,
            Preset::Best => 17,
        }
    }
}

/// Data options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataOptions {
    /// The column to predict.
    pub target: Option<String>,
    /// The task, or "auto" to infer it from the target.
    pub task: TaskChoice,
    /// Columns never used as features.
    pub drop: Vec<String>,
    /// Share of rows used for early stopping.
    pub valid_fraction: f64,
    /// At most this many rows for early stopping (0: no cap), so that large data sets train on
    /// what a few thousand rows cannot improve as a check.
    pub valid_max_rows: usize,
    /// Share of rows held out for the final metrics.
    pub test_fraction: f64,
    /// Train even when the data has error-level anomalies (they are still reported).
    pub allow_anomalies: bool,
    /// How image files are sized and coloured (`[data.images]`).
    pub images: kiln_data::ImageOptions,
}

impl Default for DataOptions {
    fn default() -> Self {
        Self {
            target: None,
            task: TaskChoice::Auto,
            drop: Vec::new(),
            valid_fraction: 0.16,
            valid_max_rows: 2500,
            test_fraction: 0.2,
            allow_anomalies: false,
            images: kiln_data::ImageOptions::default(),
        }
    }
}

impl DataOptions {
    /// The share of `rows` held out for early stopping: `valid_fraction`, capped at
    /// `valid_max_rows` rows (no rows: a cap over zero is infinite, so the fraction stands).
    pub fn valid_fraction_of(&self, rows: usize) -> f64 {
        if self.valid_max_rows == 0 {
            return self.valid_fraction;
        }
        self.valid_fraction
            .min(self.valid_max_rows as f64 / rows as f64)
    }

    /// A note for the training report when `valid_max_rows` caps the validation rows.
    pub fn valid_cap_note(&self, rows: usize) -> Option<String> {
        (self.valid_fraction_of(rows) < self.valid_fraction).then(|| {
            format!(
                "validation: {} rows (data.valid_max_rows) rather than {:.0}% of {} (data.valid_fraction); the others train",
                self.valid_max_rows,
                self.valid_fraction * 100.0,
                rows
            )
        })
    }
}

impl Config {
    /// Reads a TOML config file; errors name the file, the line and the key.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("'{}': {e}", path.display()))
    }

    /// Makes the pretrained model's path (`preprocess.pretrained`) absolute, checking it
    /// exists, so that a model trained with it finds it from any working folder.
    pub fn resolve_pretrained(&mut self) -> Result<(), String> {
        if let Some(path) = &self.preprocess.pretrained {
            let absolute = Path::new(path).canonicalize().map_err(|e| {
                format!(
                    "--pretrained (preprocess.pretrained) '{path}': {e}; give the checkpoint folder holding config.json, model.safetensors and tokenizer.json (text), or an .onnx image model (images)"
                )
            })?;
            self.preprocess.pretrained = Some(absolute.display().to_string());
        }
        Ok(())
    }

    /// Parses TOML text and checks the values.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML, every option written out.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config always serialises")
    }

    /// Checks ranges that types alone cannot, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.data;
        if !(0.0..0.9).contains(&d.valid_fraction) || !(0.0..0.9).contains(&d.test_fraction) {
            return Err("data.valid_fraction and data.test_fraction must be in [0, 0.9)".into());
        }
        if d.valid_fraction + d.test_fraction >= 0.9 {
            return Err(
                "data.valid_fraction + data.test_fraction must leave at least 10% for training"
                    .into(),
            );
        }
        d.images.validate()?;
        self.model.validate()?;
        self.image.validate()?;
        self.train.augment.validate()?;
        let t = &self.train;
        if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
            return Err(format!(
                "train.learning_rate must be positive, not {}",
                t.learning_rate
            ));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(format!(
                "train.weight_decay must be zero or positive, not {}",
                t.weight_decay
            ));
        }
        if !(0.0..1.0).contains(&t.warmup) {
            return Err(format!("train.warmup must be in [0, 1), not {}", t.warmup));
        }
        if !(t.pretrained_learning_rate > 0.0 && t.pretrained_learning_rate.is_finite()) {
            return Err(format!(
                "train.pretrained_learning_rate must be positive, not {}",
                t.pretrained_learning_rate
            ));
        }
        self.text.validate()?;
        let p = &self.preprocess;
        if p.text_model == kiln_data::TextModel::Finetune && p.pretrained.is_none() {
            return Err("preprocess.text_model = \"finetune\" fine-tunes a pretrained encoder: give its checkpoint folder with --pretrained (or preprocess.pretrained)".into());
        }
        if p.text_model.reads_tokens() && (p.max_tokens == 0 || p.token_vocabulary == 0) {
            return Err(
                "preprocess.max_tokens and preprocess.token_vocabulary must be at least 1".into(),
            );
        }
        if self.preprocess.max_levels == 0 {
            return Err("preprocess.max_levels must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn the_best_preset_replaces_only_a_default_image_network() {
        let c = Config::from_toml("preset = \"best\"\n").unwrap();
        assert_eq!(c.preset, Preset::Best);
        let square = |side| ImageShape {
            channels: 1,
            height: side,
            width: side,
        };
        let augment = Augmentation::default();
        let best = c.preset.image_shape(&c.image, &augment, &square(28));
        assert_eq!(
            (
                best.stages.clone(),
                best.convs_per_stage,
                best.test_time_flip,
                best.test_time_shift
            ),
            (vec![32, 64], 2, true, 1),
            "28 pixels: training flips and shifts up to 2 pixels"
        );
        let large = c.preset.image_shape(&c.image, &augment, &square(224));
        assert_eq!(large.test_time_shift, 8, "224 pixels: shifts of up to 16");
        let still = Augmentation::none();
        let plain = c.preset.image_shape(&c.image, &still, &square(28));
        assert!(!plain.test_time_flip && plain.test_time_shift == 0);
        assert!(Preset::Best.image_epochs() < Preset::Default.image_epochs());
        let own = Config::from_toml("preset = \"best\"\n[image]\nstages = [16]\n").unwrap();
        assert_eq!(
            own.preset.image_shape(&own.image, &augment, &square(28)),
            own.image
        );
        assert_eq!(
            Preset::Default.image_shape(&c.image, &augment, &square(28)),
            c.image
        );
        let err = Config::from_toml("preset = \"fastest\"\n").unwrap_err();
        assert!(err.contains("preset"), "{err}");
    }

    #[test]
    fn validation_rows_are_capped_on_large_data_only() {
        let d = DataOptions::default();
        let all: Vec<usize> = (0..60_000).collect();
        let split = |d: &DataOptions, rows: &[usize]| {
            kiln_data::split_indices(rows, None, d.valid_fraction_of(rows.len()), 0.0, 1)
        };
        let large = split(&d, &all);
        assert_eq!(large.valid.len(), 2500);
        assert_eq!(large.train.len(), 57_500);
        assert!(d.valid_cap_note(all.len()).unwrap().contains("2500 rows"));
        let small = split(&d, &all[..1000]);
        assert_eq!(small.valid.len(), 160);
        assert_eq!(d.valid_cap_note(1000), None);
        assert_eq!(d.valid_fraction_of(0), d.valid_fraction);
        let uncapped = DataOptions {
            valid_max_rows: 0,
            ..d
        };
        assert_eq!(split(&uncapped, &all).valid.len(), 9600);
    }

    #[test]
    fn a_partial_file_keeps_other_defaults() {
        let c = Config::from_toml(
            "seed = 7\n[model]\nwidth = 64\n[train]\npatience = 5\n[preprocess]\nnumeric = { kind = \"standard\" }\n",
        )
        .unwrap();
        assert_eq!(c.train.patience, 5);
        assert_eq!(c.train.learning_rate, TrainOptions::default().learning_rate);
        assert_eq!(
            c.preprocess.max_levels,
            PreprocessOptions::default().max_levels
        );
        assert_eq!(c.seed, 7);
        assert_eq!(c.model.width, 64);
        assert_eq!(c.model.depth, NetworkShape::default().depth);
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let err = Config::from_toml("[model]\nwidht = 64\n").unwrap_err();
        assert!(err.contains("widht"), "{err}");
        let err = Config::from_toml("[train]\nlearning_rate = \"fast\"\n").unwrap_err();
        assert!(
            err.contains("learning_rate") || err.contains("line 2"),
            "{err}"
        );
        let err = Config::from_toml("[model]\ndropout = 1.5\n").unwrap_err();
        assert!(err.contains("model.dropout"), "{err}");
    }
}
