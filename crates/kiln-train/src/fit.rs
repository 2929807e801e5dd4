//! The fitting loop: seeded mini-batches, AdamW with decoupled weight decay, linear warm-up
//! then cosine decay of the learning rate, and early stopping on validation loss that keeps
//! the best epoch's weights.

use crate::augment::{Augmentation, Mixup};
use crate::checkpoint::{self, Checkpoint};
use crate::consolidation::{Consolidation, Penalty};
use crate::curve::EpochRecord;
use crate::device::Compute;
use crate::metrics::{Metrics, argmax};
use crate::predict::{Matrix, predict};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use kiln_model::{ImageShape, Network, NetworkConfig};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What the network is trained to output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Objective {
    /// Class logits, trained with cross-entropy.
    Classification {
        /// Number of classes.
        classes: usize,
    },
    /// A standardised value, trained with squared error.
    Regression {
        /// Training mean of the target.
        mean: f64,
        /// Training standard deviation of the target.
        std: f64,
    },
}

impl Objective {
    /// The headline metric's name on learning curves.
    pub fn metric_name(&self) -> &'static str {
        match self {
            Objective::Classification { .. } => "accuracy",
            Objective::Regression { .. } => "rmse",
        }
    }

    /// The headline metric's value in `metrics` (NaN when absent).
    pub fn headline(&self, metrics: &Metrics) -> f64 {
        match self {
            Objective::Classification { .. } => metrics.accuracy,
            Objective::Regression { .. } => metrics.rmse,
        }
        .unwrap_or(f64::NAN)
    }
}

/// Optimisation settings; zero means "choose from the data size".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Most epochs (0: chosen from the data size).
    pub epochs: usize,
    /// Rows per mini-batch (0: chosen from the data size).
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    pub learning_rate: f64,
    /// Peak learning rate of a fine-tuned pretrained encoder's layers (its schedule follows
    /// `learning_rate`'s).
    pub pretrained_learning_rate: f64,
    /// Decoupled weight decay (L2) of AdamW.
    pub weight_decay: f64,
    /// Epochs without validation improvement before stopping (0: chosen from `epochs`).
    pub patience: usize,
    /// Share of all steps spent warming the learning rate up.
    pub warmup: f64,
    /// Time budget of the fitting in seconds (0: none): after each epoch the epoch budget
    /// becomes what the measured seconds per epoch leave room for (at most `epochs`), and the learning-rate
    /// schedule is fitted to it, so that training ends on time with its rate decayed.
    pub max_seconds: f64,
    /// Where to train: cpu, cuda or wgpu.
    pub device: Compute,
    /// After early stopping, train again on training + validation rows for the chosen
    /// number of epochs, and keep that model.
    pub refit: bool,
    /// Transforms applied to each training batch when the network reads images.
    pub augment: Augmentation,
    /// How classes weigh in the loss.
    pub class_weight: ClassWeight,
}

/// How each class's rows weigh in a classifier's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row alike, so the model learns the training class frequencies.
    #[default]
    Equal,
    /// Rows weighted by the inverse of their class's training frequency, so every class
    /// weighs the same in total: for rare classes that matter, or class shares that differ
    /// after deployment. Probabilities then no longer follow the training frequencies.
    Balanced,
}

impl ClassWeight {
    /// The weight of each class given training labels (empty when all weigh the same).
    pub fn weights(self, objective: &Objective, y: &[f32]) -> Vec<f32> {
        match (self, objective) {
            (ClassWeight::Balanced, Objective::Classification { classes }) => {
                let mut counts = vec![0usize; *classes];
                for &c in y {
                    counts[c as usize] += 1;
                }
                let present = counts.iter().filter(|&&n| n > 0).count().max(1);
                counts
                    .iter()
                    .map(|&n| {
                        if n == 0 {
                            0.0
                        } else {
                            (y.len() as f64 / (present * n) as f64) as f32
                        }
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 0,
            batch_size: 0,
            learning_rate: 2e-3,
            pretrained_learning_rate: 5e-5,
            weight_decay: 3e-4,
            patience: 0,
            warmup: 0.03,
            max_seconds: 0.0,
            device: Compute::Cpu,
            refit: true,
            augment: Augmentation::default(),
            class_weight: ClassWeight::Equal,
        }
    }
}

/// The batch size, epoch budget and patience actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batches {
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// Most epochs.
    pub max_epochs: usize,
    /// Early-stopping patience in epochs.
    pub patience: usize,
}

impl Batches {
    /// Resolves automatic settings: small batches and many epochs for small tables, so that
    /// every data set gets a few thousand optimisation steps.
    pub fn resolve(options: &TrainOptions, train_rows: usize) -> Self {
        let batch_size = if options.batch_size > 0 {
            options.batch_size
        } else {
            (train_rows / 32).next_power_of_two().clamp(16, 256)
        };
        let steps_per_epoch = train_rows.div_ceil(batch_size).max(1);
        let max_epochs = if options.epochs > 0 {
            options.epochs
        } else {
            (3000usize.div_ceil(steps_per_epoch)).clamp(20, 300)
        };
        let patience = if options.patience > 0 {
            options.patience
        } else {
            (max_epochs / 8).clamp(8, 30)
        };
        Self {
            batch_size,
            max_epochs,
            patience,
        }
    }
}

/// What the training loop reports after each epoch.
#[derive(Debug, Clone, Copy)]
pub struct EpochReport<'a> {
    /// The epoch's figures.
    pub record: &'a EpochRecord,
    /// The batch size, epoch budget and patience in use.
    pub batches: &'a Batches,
    /// The name of the headline metric in `record` (accuracy or rmse).
    pub metric: &'static str,
}

/// The result of fitting: the kept weights (eval mode) and the story of the run.
#[derive(Debug)]
pub struct FitOutcome {
    /// The network with the best validation loss, in eval mode.
    pub model: Network,
    /// One record per epoch run.
    pub curve: Vec<EpochRecord>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Why training ended.
    pub stop_reason: String,
    /// The settings used.
    pub batches: Batches,
}

/// Rows of the training set scored each epoch for the learning curve.
const TRAIN_CURVE_ROWS: usize = 4096;
/// Mixed into the seed for the weight initialisation stream, apart from shuffling and dropout.
const INIT_STREAM: u64 = 0x6a09_e667_f3bc_c908;

/// Trains a network of shape `config` on `train` on `device`, stopping early on `valid`
/// (with no validation rows, it runs the whole epoch budget and keeps the last epoch).
/// Targets are class indices or values in the target's units. Setting `stop` ends training
/// after the current epoch, keeping the best weights so far. The model comes back on the CPU.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    config: &NetworkConfig,
    train: (Matrix, &[f32]),
    valid: (Matrix, &[f32]),
    objective: &Objective,
    options: &TrainOptions,
    seed: u64,
    device: &Device,
    stop: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> FitOutcome {
    fit_from(
        None, config, train, valid, objective, options, seed, device, stop, on_epoch, None,
    )
}

/// How a fit keeps checkpoints, so that a run stopped by Ctrl-C or a crash continues where it
/// stopped instead of starting over.
pub struct Checkpoints<'a> {
    /// A checkpoint from an earlier run: resumed when a fit of the same data, network,
    /// options and seed took it, otherwise ignored.
    pub resume: Option<Checkpoint>,
    /// Seconds of training between checkpoints; one is also taken when the fit ends or is
    /// stopped.
    pub every_seconds: f64,
    /// Receives each checkpoint (to write it somewhere safe).
    pub save: &'a mut dyn FnMut(&Checkpoint),
    /// Set by the fit: the epoch it resumed after, or why it could not resume `resume`.
    pub resumed: Option<Result<usize, String>>,
}

/// A copy of `source`'s weights in a network on `device` (through safetensors, which carries
/// every parameter by name).
pub(crate) fn copy_weights(source: &Network, config: &NetworkConfig, device: &Device) -> Network {
    checkpoint::with_weights(config.init(device, 0), &checkpoint::weights_of(source))
        .expect("the start network has the shape it was built with")
}

/// Where an update starts: a trained network of the shape being fitted, and optionally the
/// consolidation that holds its weights to what they were (EWC).
#[derive(Debug, Clone, Copy)]
pub struct WarmStart<'a> {
    /// The trained network.
    pub model: &'a Network,
    /// The penalty on moving its weights, if any.
    pub consolidation: Option<&'a Consolidation>,
}

/// As [`fit`], but starting from a trained network when given, to update it on new data,
/// and keeping `checkpoints` when given.
#[allow(clippy::too_many_arguments)]
pub fn fit_from(
    start: Option<WarmStart>,
    config: &NetworkConfig,
    train: (Matrix, &[f32]),
    valid: (Matrix, &[f32]),
    objective: &Objective,
    options: &TrainOptions,
    seed: u64,
    device: &Device,
    stop: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
    mut checkpoints: Option<&mut Checkpoints>,
) -> FitOutcome {
    let (x, y) = train;
    let device = device.clone();
    let ad_device = device.clone().autodiff();
    let mut model = match start {
        Some(start) => copy_weights(start.model, config, &ad_device),
        None => config.init(&ad_device, seed ^ INIT_STREAM),
    };
    let penalty = start
        .and_then(|s| s.consolidation)
        .map(|c| c.on(&ad_device));
    let new_optimizer = || {
        AdamWConfig::new()
            .with_weight_decay(options.weight_decay as f32)
            .init()
    };
    let mut optim = new_optimizer();
    let mut batches = Batches::resolve(options, x.rows);
    let class_weights = options.class_weight.weights(objective, y);
    let image = config.image();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut noise = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<usize> = (0..x.rows).collect();
    let mut sample = order.clone();
    sample.shuffle(&mut rng);
    sample.truncate(TRAIN_CURVE_ROWS);
    let (sample_x, sample_y) = gather(x, y, &sample);
    let sample_matrix = Matrix::new(&sample_x, sample.len(), x.width);

    let steps_per_epoch = x.rows.div_ceil(batches.batch_size);
    let warmup_steps = (options.warmup * (steps_per_epoch * batches.max_epochs) as f64).max(1.0);
    let asked_epochs = batches.max_epochs;
    let started = Instant::now();
    let mut step = 0usize;
    let mut curve = Vec::new();
    let mut best: Option<(f64, usize, Network)> = None;
    let mut stop_reason = format!("reached the epoch budget ({})", batches.max_epochs);
    let mut lr = options.learning_rate;
    let mut epoch = 0;
    // Training seconds of the run this one resumes, and whether that run had ended.
    let mut seconds_before = 0.0;
    let mut finished = false;
    let fingerprint = checkpoints.as_ref().map(|_| {
        checkpoint::fingerprint(&[
            &|h| serde_json::to_string(config).unwrap_or_default().hash(h),
            &|h| serde_json::to_string(options).unwrap_or_default().hash(h),
            &|h| serde_json::to_string(objective).unwrap_or_default().hash(h),
            &|h| (seed, start.is_some()).hash(h),
            &|h| checkpoint::hash_values(x.values, h),
            &|h| checkpoint::hash_values(y, h),
            &|h| checkpoint::hash_values(valid.0.values, h),
            &|h| checkpoint::hash_values(valid.1, h),
        ])
    });
    if let Some(c) = checkpoints.as_deref_mut()
        && let Some(saved) = c.resume.take()
    {
        let restore = || -> Result<_, String> {
            let fresh = || config.init(&ad_device, 0);
            let model = checkpoint::with_weights(fresh(), &saved.weights)?;
            let model = checkpoint::with_param_ids(model, &saved.state.param_ids)?;
            let best = checkpoint::with_weights(fresh(), &saved.best_weights)?;
            let optim = checkpoint::with_optimizer_state(new_optimizer(), &saved.optimizer)?;
            Ok((model, best, optim))
        };
        let restored = if saved.state.fingerprint == fingerprint.unwrap_or_default() {
            restore()
        } else {
            Err("it was taken by a run of other data, settings or seed".to_string())
        };
        c.resumed = Some(match restored {
            Ok((restored_model, best_model, restored_optim)) => {
                let state = saved.state;
                model = restored_model;
                optim = restored_optim;
                rng.set_word_pos(state.streams[0]);
                noise.set_word_pos(state.streams[1]);
                order = state.order;
                step = state.step;
                lr = state.learning_rate;
                epoch = state.epoch;
                batches.max_epochs = state.max_epochs;
                stop_reason = state.stop_reason;
                finished = state.finished;
                seconds_before = state.seconds;
                curve = state.curve;
                best = Some((state.best.0, state.best.1, best_model));
                Ok(epoch)
            }
            Err(why) => Err(why),
        });
    }
    let mut last_checkpoint = Instant::now();
    while !finished && epoch < batches.max_epochs {
        epoch += 1;
        order.shuffle(&mut rng);
        let total_steps = (steps_per_epoch * batches.max_epochs) as f64;
        let schedule = |step: usize| {
            let progress = step as f64;
            if progress < warmup_steps {
                options.learning_rate * (progress + 1.0) / warmup_steps
            } else {
                let t = (progress - warmup_steps) / (total_steps - warmup_steps).max(1.0);
                options.learning_rate
                    * (0.02 + 0.98 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
            }
        };
        let (next, _) = run_epoch(
            model,
            &mut optim,
            (x, y),
            &order,
            batches.batch_size,
            &mut |_| {
                lr = schedule(step);
                step += 1;
                lr
            },
            options.pretrained_learning_rate / options.learning_rate,
            &mut noise,
            image.as_ref().map(|shape| (&options.augment, shape)),
            (objective, &class_weights),
            penalty.as_ref(),
            &ad_device,
        );
        model = next;
        // The curve is measured on single views: test-time augmentation would double the
        // cost of every epoch's evaluation, and the kept model still predicts with it.
        let eval = model.valid().single_view();
        let loss = (objective, class_weights.as_slice());
        let (train_loss, train_metric) = evaluate(&eval, sample_matrix, &sample_y, loss, &device);
        let (valid_loss, valid_metric) = evaluate(&eval, valid.0, valid.1, loss, &device);
        let record = EpochRecord {
            epoch,
            train_loss,
            valid_loss,
            train_metric,
            valid_metric,
            learning_rate: lr,
            seconds: seconds_before + started.elapsed().as_secs_f64(),
        };
        if options.max_seconds > 0.0 {
            // The first epoch's pace includes warming up, so later ones go by their own.
            let first = curve
                .first()
                .map_or(record.seconds, |r: &EpochRecord| r.seconds);
            let pace = match epoch {
                1 => record.seconds,
                _ => (record.seconds - first) / (epoch - 1) as f64,
            };
            let fitting = epochs_within(options.max_seconds, record.seconds, epoch, pace);
            batches.max_epochs = fitting.min(asked_epochs);
            stop_reason = if fitting < asked_epochs {
                format!(
                    "ran the {fitting} of {asked_epochs} epochs that fit the time limit of {} s",
                    options.max_seconds
                )
            } else {
                format!("reached the epoch budget ({asked_epochs})")
            };
        }
        on_epoch(&EpochReport {
            record: &record,
            batches: &batches,
            metric: objective.metric_name(),
        });
        curve.push(record);
        // Without validation rows there is nothing to stop on: the latest epoch is kept.
        let improved = valid.0.rows == 0
            || best
                .as_ref()
                .is_none_or(|(b, _, _)| valid_loss < b - 1e-6 * b.abs());
        if improved {
            best = Some((valid_loss, epoch, model.clone()));
        } else if epoch - best.as_ref().map_or(0, |b| b.1) >= batches.patience {
            stop_reason = format!(
                "early stop: no validation improvement for {} epochs",
                batches.patience
            );
            finished = true;
        }
        finished |= epoch >= batches.max_epochs;
        let interrupted = !finished && stop.load(Ordering::Relaxed);
        if let Some(c) = checkpoints.as_deref_mut()
            && (finished
                || interrupted
                || last_checkpoint.elapsed().as_secs_f64() >= c.every_seconds)
        {
            let (best_loss, best_epoch, best_model) = best.as_ref().expect("an epoch ran");
            let state = checkpoint::State {
                fingerprint: fingerprint.unwrap_or_default(),
                epoch,
                step,
                learning_rate: lr,
                max_epochs: batches.max_epochs,
                stop_reason: stop_reason.clone(),
                finished,
                seconds: seconds_before + started.elapsed().as_secs_f64(),
                streams: [rng.get_word_pos(), noise.get_word_pos()],
                order: order.clone(),
                curve: curve.clone(),
                best: (*best_loss, *best_epoch),
                param_ids: checkpoint::param_ids(&model),
            };
            (c.save)(&Checkpoint {
                state,
                weights: checkpoint::weights_of(&model),
                best_weights: checkpoint::weights_of(best_model),
                optimizer: checkpoint::optimizer_bytes(&optim),
            });
            last_checkpoint = Instant::now();
        }
        if interrupted {
            stop_reason = format!("interrupted after epoch {epoch}");
            break;
        }
    }
    let (_, best_epoch, best_model) = best.expect("at least one epoch ran");
    FitOutcome {
        model: best_model.valid().to_device(&Device::flex()),
        curve,
        best_epoch,
        stop_reason,
        batches,
    }
}

/// The epochs a run may have in all to end within `limit` seconds, `done` epochs having
/// taken `elapsed` seconds and each further one taking `pace` (at least `done`).
fn epochs_within(limit: f64, elapsed: f64, done: usize, pace: f64) -> usize {
    let more = ((limit - elapsed) / pace.max(f64::MIN_POSITIVE)).floor();
    done + if more > 0.0 {
        more.min(1e9) as usize
    } else {
        0
    }
}

/// One pass over `order` in mini-batches of `batch_size`: forward, loss, backward, AdamW
/// step. `lr_at(step_in_epoch)` gives each step's learning rate, of which a pretrained encoder
/// inside the network gets the share `pretrained_share`; `noise` draws the dropout
/// masks and the `augment`ation of image batches, whose loss is mixed like the batch when
/// mixup is on; the `loss` is the objective's, each row weighted by its class's weight (none:
/// equal); a `penalty` (EWC) is added to each batch's loss. Returns the updated model
/// and the mean training loss (dropout on, penalty off), weighted by batch size.
#[allow(clippy::too_many_arguments)]
pub fn run_epoch(
    mut model: Network,
    optim: &mut ModuleOptimizer,
    data: (Matrix, &[f32]),
    order: &[usize],
    batch_size: usize,
    lr_at: &mut dyn FnMut(usize) -> f64,
    pretrained_share: f64,
    noise: &mut ChaCha8Rng,
    augment: Option<(&Augmentation, &ImageShape)>,
    loss: (&Objective, &[f32]),
    penalty: Option<&Penalty>,
    device: &Device,
) -> (Network, f64) {
    let (objective, class_weights) = loss;
    let (x, y) = data;
    let mut total = 0.0;
    for (i, chunk) in order.chunks(batch_size).enumerate() {
        let lr = lr_at(i);
        let (mut bx, by) = gather(x, y, chunk);
        let mixup = augment.and_then(|(augment, shape)| augment.apply(&mut bx, shape, noise));
        let inputs = Matrix::new(&bx, chunk.len(), x.width).tensor(0, chunk.len(), device);
        let out = model.forward_train(inputs, noise);
        let loss = match mixup {
            Some(mixup) => mixed_loss(out, &by, &mixup, (objective, class_weights), device),
            None => training_loss(out, &by, objective, class_weights, device),
        };
        total += f64::from(loss.clone().into_scalar::<f32>()) * chunk.len() as f64;
        let loss = match penalty {
            Some(p) => loss + p.of(&model),
            None => loss,
        };
        let mut grads = loss.backward();
        let encoders: Vec<GradientsParams> = model
            .pretrained()
            .into_iter()
            .map(|encoder| GradientsParams::from_module(&mut grads, encoder))
            .collect();
        for part in encoders {
            model = optim.step(lr * pretrained_share, model, part);
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(lr, model, grads);
    }
    (model, total / order.len().max(1) as f64)
}

/// Copies the given rows of `x` and `y` into new contiguous buffers.
fn gather(x: Matrix, y: &[f32], rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut bx = Vec::with_capacity(rows.len() * x.width);
    let mut by = Vec::with_capacity(rows.len());
    for &r in rows {
        bx.extend_from_slice(&x.values[r * x.width..(r + 1) * x.width]);
        by.push(y[r]);
    }
    (bx, by)
}

/// The training loss of a batch mixed by mixup: the two label sets' cross-entropies weighted
/// like the images, or the squared error from the mixed targets.
fn mixed_loss(
    out: Tensor<3>,
    y: &[f32],
    mixup: &Mixup,
    loss: (&Objective, &[f32]),
    device: &Device,
) -> Tensor<1> {
    let (objective, class_weights) = loss;
    let w = mixup.weight;
    let partner_y: Vec<f32> = mixup.partner.iter().map(|&p| y[p]).collect();
    match objective {
        Objective::Classification { .. } => {
            let own = training_loss(out.clone(), y, objective, class_weights, device);
            own.mul_scalar(w)
                + training_loss(out, &partner_y, objective, class_weights, device)
                    .mul_scalar(1.0 - w)
        }
        Objective::Regression { .. } => {
            let mixed: Vec<f32> = y
                .iter()
                .zip(&partner_y)
                .map(|(a, b)| w * a + (1.0 - w) * b)
                .collect();
            training_loss(out, &mixed, objective, class_weights, device)
        }
    }
}

/// Mean loss over ensemble members: cross-entropy (each row weighted by its class's entry in
/// `class_weights` unless that is empty), or squared error on the standardised target.
pub(crate) fn training_loss(
    out: Tensor<3>,
    y: &[f32],
    objective: &Objective,
    class_weights: &[f32],
    device: &Device,
) -> Tensor<1> {
    let [rows, k, _] = out.dims();
    match objective {
        Objective::Classification { .. } => {
            let labels: Vec<i64> = y.iter().map(|&v| v as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(labels, [rows]), device)
                .reshape([rows, 1, 1])
                .expand([rows, k, 1]);
            let picked = log_softmax(out, 2).gather(2, idx);
            if class_weights.is_empty() {
                return picked.mean().neg();
            }
            let w: Vec<f32> = y.iter().map(|&v| class_weights[v as usize]).collect();
            let w =
                Tensor::<1>::from_data(TensorData::new(w, [rows]), device).reshape([rows, 1, 1]);
            (picked * w).mean().neg()
        }
        Objective::Regression { mean, std } => {
            let z: Vec<f32> = y
                .iter()
                .map(|&v| ((f64::from(v) - mean) / std) as f32)
                .collect();
            let target =
                Tensor::<1>::from_data(TensorData::new(z, [rows]), device).reshape([rows, 1]);
            (out.reshape([rows, k]) - target).powi_scalar(2).mean()
        }
    }
}

/// Loss (class-weighted like training) and headline metric of the ensemble's averaged
/// prediction.
fn evaluate(
    model: &Network,
    x: Matrix,
    y: &[f32],
    loss: (&Objective, &[f32]),
    device: &Device,
) -> (f64, f64) {
    let (objective, class_weights) = loss;
    if x.rows == 0 {
        return (f64::NAN, f64::NAN);
    }
    let out = predict(model, x, objective, device);
    match objective {
        Objective::Classification { classes } => {
            let labels: Vec<usize> = y.iter().map(|&v| v as usize).collect();
            let m = Metrics::classification(&out, *classes, &labels);
            let log_loss = if class_weights.is_empty() {
                m.log_loss.unwrap_or(f64::NAN)
            } else {
                crate::metrics::log_loss(&out, *classes, &labels, class_weights)
            };
            (log_loss, m.accuracy.unwrap_or(f64::NAN))
        }
        Objective::Regression { std, .. } => {
            let m = Metrics::regression(&out, y);
            let rmse = m.rmse.unwrap_or(f64::NAN);
            ((rmse / std).powi(2), rmse)
        }
    }
}

/// The predicted class of each row from row-major probabilities.
pub fn predicted_classes(probs: &[f32], classes: usize) -> Vec<usize> {
    probs.chunks(classes).map(argmax).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_model::{Activation, Body, NetworkShape};

    fn config(inputs: usize, outputs: usize) -> NetworkConfig {
        NetworkConfig {
            inputs,
            outputs,
            body: Body::Tabular(NetworkShape {
                depth: 2,
                width: 16,
                dropout: 0.0,
                activation: Activation::Relu,
                layer_norm: false,
                ensemble: 4,
            }),
        }
    }

    /// Two Gaussian blobs, separable.
    fn blobs(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = (i % 2) as f32;
            let noise: f32 = rand::Rng::random_range(&mut rng, -1.0..1.0);
            x.extend([c * 3.0 + noise, -c * 2.0 + noise * 0.5]);
            y.push(c);
        }
        (x, y)
    }

    fn train(seed: u64) -> FitOutcome {
        let (x, y) = blobs(200, 1);
        let (vx, vy) = blobs(50, 2);
        let options = TrainOptions {
            epochs: 15,
            ..TrainOptions::default()
        };
        fit(
            &config(2, 2),
            (Matrix::new(&x, 200, 2), &y),
            (Matrix::new(&vx, 50, 2), &vy),
            &Objective::Classification { classes: 2 },
            &options,
            seed,
            &Device::flex(),
            &AtomicBool::new(false),
            &mut |_| {},
        )
    }

    #[test]
    fn learns_separable_classes_and_records_the_curve() {
        let out = train(7);
        let last = out.curve.last().unwrap();
        assert!(
            last.valid_metric > 0.95,
            "valid accuracy {}",
            last.valid_metric
        );
        assert!(out.curve[0].train_loss > last.train_loss, "loss falls");
        assert!(out.curve.iter().any(|r| r.epoch == out.best_epoch));
    }

    #[test]
    fn same_seed_gives_the_same_model_even_when_fits_run_concurrently() {
        let (x, _) = blobs(10, 3);
        let m = Matrix::new(&x, 10, 2);
        let device = Device::flex();
        let objective = Objective::Classification { classes: 2 };
        // Two fits with one seed at the same time, as parallel trials would run.
        let (first, second) = std::thread::scope(|s| {
            let one = s.spawn(|| train(5));
            let two = s.spawn(|| train(5));
            (one.join().unwrap(), two.join().unwrap())
        });
        let a = predict(&first.model, m, &objective, &device);
        let b = predict(&second.model, m, &objective, &device);
        let c = predict(&train(6).model, m, &objective, &device);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn regression_fits_a_line() {
        let x: Vec<f32> = (0..100).map(|i| i as f32 / 50.0 - 1.0).collect();
        let y: Vec<f32> = x.iter().map(|v| 10.0 + 4.0 * v).collect();
        let objective = Objective::Regression {
            mean: 10.0,
            std: 2.3,
        };
        let out = fit(
            &config(1, 1),
            (Matrix::new(&x, 100, 1), &y),
            (Matrix::new(&x, 100, 1), &y),
            &objective,
            &TrainOptions {
                epochs: 40,
                ..TrainOptions::default()
            },
            1,
            &Device::flex(),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        let rmse = out
            .curve
            .iter()
            .map(|r| r.valid_metric)
            .fold(f64::INFINITY, f64::min);
        assert!(rmse < 0.5, "rmse {rmse}");
    }

    #[test]
    fn without_validation_rows_the_whole_budget_runs_and_the_last_epoch_is_kept() {
        let (x, y) = blobs(40, 1);
        let out = fit(
            &config(2, 2),
            (Matrix::new(&x, 40, 2), &y),
            (Matrix::new(&[], 0, 2), &[]),
            &Objective::Classification { classes: 2 },
            &TrainOptions {
                epochs: 6,
                patience: 1,
                ..TrainOptions::default()
            },
            1,
            &Device::flex(),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        assert_eq!(out.curve.len(), 6);
        assert_eq!(out.best_epoch, 6);
        assert!(out.curve.iter().all(|r| r.valid_loss.is_nan()));
    }

    #[test]
    fn the_epochs_within_a_time_limit_follow_the_pace_so_far() {
        // 2 epochs in 10 s, 5 s each from now on: 18 more fit in the 90 s left.
        assert_eq!(epochs_within(100.0, 10.0, 2, 5.0), 20);
        assert_eq!(epochs_within(100.0, 99.0, 3, 5.0), 3);
        assert_eq!(epochs_within(100.0, 130.0, 4, 5.0), 4);
        assert_eq!(epochs_within(100.0, 10.0, 1, 0.0), 1_000_000_001);
    }

    #[test]
    fn a_time_limit_ends_training_on_time_with_the_learning_rate_decayed() {
        let (x, y) = blobs(400, 1);
        let limit = 0.5;
        let options = TrainOptions {
            epochs: 100_000,
            batch_size: 16,
            max_seconds: limit,
            ..TrainOptions::default()
        };
        let out = fit(
            &config(2, 2),
            (Matrix::new(&x, 400, 2), &y),
            (Matrix::new(&[], 0, 2), &[]),
            &Objective::Classification { classes: 2 },
            &options,
            1,
            &Device::flex(),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        let last = out.curve.last().unwrap();
        assert!(out.curve.len() < 100_000 && out.curve.len() > 1);
        assert_eq!(out.batches.max_epochs, out.curve.len());
        assert!(
            out.stop_reason.contains("time limit"),
            "{}",
            out.stop_reason
        );
        // The epoch that would overrun is not started; slack for a loaded test machine.
        assert!(last.seconds < limit * 3.0, "{} s", last.seconds);
        // The schedule was fitted to the shortened budget, not cut off at its peak.
        assert!(
            last.learning_rate < 0.5 * options.learning_rate,
            "last learning rate {}",
            last.learning_rate
        );
    }

    /// A fit of 6 epochs with dropout on the blobs, keeping checkpoints as `checkpoints` says.
    fn fit_with(checkpoints: &mut Checkpoints, rows: usize) -> FitOutcome {
        let (x, y) = blobs(rows, 1);
        let (vx, vy) = blobs(50, 2);
        let mut shape = config(2, 2);
        if let Body::Tabular(s) = &mut shape.body {
            s.dropout = 0.2;
        }
        fit_from(
            None,
            &shape,
            (Matrix::new(&x, rows, 2), &y),
            (Matrix::new(&vx, 50, 2), &vy),
            &Objective::Classification { classes: 2 },
            &TrainOptions {
                epochs: 6,
                patience: 100,
                ..TrainOptions::default()
            },
            3,
            &Device::flex(),
            &AtomicBool::new(false),
            &mut |_| {},
            Some(checkpoints),
        )
    }

    #[test]
    fn a_resumed_fit_ends_with_the_model_of_an_uninterrupted_one() {
        let mut taken = Vec::new();
        let mut save = |c: &Checkpoint| taken.push(c.to_bytes());
        let mut keep = Checkpoints {
            resume: None,
            every_seconds: 0.0,
            save: &mut save,
            resumed: None,
        };
        let whole = fit_with(&mut keep, 200);
        assert!(keep.resumed.is_none());
        assert_eq!(taken.len(), 6, "one checkpoint per epoch");
        let after_three = Checkpoint::from_bytes(&taken[2]).unwrap();
        assert_eq!(after_three.epoch(), 3);
        assert!(!after_three.finished());
        assert!(Checkpoint::from_bytes(&taken[2][..taken[2].len() - 1]).is_err());

        let mut ignore = |_: &Checkpoint| {};
        let mut resume = Checkpoints {
            resume: Some(after_three.clone()),
            every_seconds: 1e9,
            save: &mut ignore,
            resumed: None,
        };
        let resumed = fit_with(&mut resume, 200);
        assert_eq!(resume.resumed, Some(Ok(3)));
        let (x, _) = blobs(20, 9);
        let m = Matrix::new(&x, 20, 2);
        let objective = Objective::Classification { classes: 2 };
        let device = Device::flex();
        assert_eq!(
            predict(&whole.model, m, &objective, &device),
            predict(&resumed.model, m, &objective, &device)
        );
        let losses = |o: &FitOutcome| o.curve.iter().map(|r| r.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&whole), losses(&resumed));
        assert_eq!(whole.best_epoch, resumed.best_epoch);

        // A finished fit's checkpoint gives its result back without training.
        let last = Checkpoint::from_bytes(&taken[5]).unwrap();
        assert!(last.finished());
        let mut again = Checkpoints {
            resume: Some(last),
            every_seconds: 1e9,
            save: &mut ignore,
            resumed: None,
        };
        let done = fit_with(&mut again, 200);
        assert_eq!(done.curve.len(), 6);
        assert_eq!(
            predict(&whole.model, m, &objective, &device),
            predict(&done.model, m, &objective, &device)
        );

        // Other data: the checkpoint is not used.
        let mut other = Checkpoints {
            resume: Some(after_three),
            every_seconds: 1e9,
            save: &mut ignore,
            resumed: None,
        };
        let fresh = fit_with(&mut other, 210);
        assert!(matches!(other.resumed, Some(Err(ref why)) if why.contains("other data")));
        assert_eq!(fresh.curve.len(), 6);
    }

    #[test]
    fn stop_flag_ends_training_after_one_epoch() {
        let (x, y) = blobs(40, 1);
        let out = fit(
            &config(2, 2),
            (Matrix::new(&x, 40, 2), &y),
            (Matrix::new(&x, 40, 2), &y),
            &Objective::Classification { classes: 2 },
            &TrainOptions::default(),
            1,
            &Device::flex(),
            &AtomicBool::new(true),
            &mut |_| {},
        );
        assert_eq!(out.curve.len(), 1);
        assert!(out.stop_reason.contains("interrupted"));
    }

    #[test]
    fn mixup_weights_the_loss_of_both_label_sets() {
        let device = Device::flex();
        // Two rows, one ensemble member, two classes: row 0 says class 0, row 1 class 1.
        let logits = vec![2.0f32, -1.0, 0.5, 1.5];
        let out = || Tensor::<3>::from_data(TensorData::new(logits.clone(), [2, 1, 2]), &device);
        let loss = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());
        let objective = Objective::Classification { classes: 2 };
        let mixup = Mixup {
            partner: vec![1, 0],
            weight: 0.75,
        };
        // Cross-entropy of each row against its own and its partner's label, by hand.
        let nll = |own: f64, other: f64| (own.exp() + other.exp()).ln() - own;
        let own = (nll(2.0, -1.0) + nll(1.5, 0.5)) / 2.0;
        let swapped = (nll(-1.0, 2.0) + nll(0.5, 1.5)) / 2.0;
        let mixed = loss(mixed_loss(
            out(),
            &[0.0, 1.0],
            &mixup,
            (&objective, &[]),
            &device,
        ));
        assert!(
            (mixed - (0.75 * own + 0.25 * swapped)).abs() < 1e-5,
            "{mixed}"
        );
        // Regression mixes the targets: 0.75 · 1 + 0.25 · 3 = 1.5 for row 0, 2.5 for row 1.
        let objective = Objective::Regression {
            mean: 0.0,
            std: 1.0,
        };
        let out = Tensor::<3>::from_data(TensorData::new(vec![1.5f32, 2.5], [2, 1, 1]), &device);
        let mixed = loss(mixed_loss(
            out,
            &[1.0, 3.0],
            &mixup,
            (&objective, &[]),
            &device,
        ));
        assert!(mixed.abs() < 1e-6, "{mixed}");
    }

    #[test]
    fn balanced_class_weights_make_each_class_weigh_the_same() {
        let objective = Objective::Classification { classes: 3 };
        let y = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let w = ClassWeight::Balanced.weights(&objective, &y);
        // 8 rows, 2 classes present: 8 / (2 · 6) and 8 / (2 · 2); an absent class weighs 0.
        assert_eq!(w, [8.0 / 12.0, 2.0, 0.0]);
        assert!(ClassWeight::Equal.weights(&objective, &y).is_empty());
        let device = Device::flex();
        let logits = vec![2.0f32, -1.0, 0.0, 0.5, 1.5, 0.0];
        let out = Tensor::<3>::from_data(TensorData::new(logits, [2, 1, 3]), &device);
        let nll0 = (2f64.exp() + (-1f64).exp() + 1.0).ln() - 2.0;
        let nll1 = (0.5f64.exp() + 1.5f64.exp() + 1.0).ln() - 1.5;
        let got = f64::from(
            training_loss(out, &[0.0, 1.0], &objective, &w, &device).into_scalar::<f32>(),
        );
        let expected = (f64::from(w[0]) * nll0 + f64::from(w[1]) * nll1) / 2.0;
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn automatic_settings_scale_with_data_size() {
        let small = Batches::resolve(&TrainOptions::default(), 100);
        let large = Batches::resolve(&TrainOptions::default(), 100_000);
        assert_eq!(small.batch_size, 16);
        assert_eq!(large.batch_size, 256);
        assert!(small.max_epochs > large.max_epochs);
    }
}
