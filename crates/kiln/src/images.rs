//! Training on image data: a folder of IDX files or of class folders of image files becomes
//! rows of raw pixel values (`pixel1` … `pixelN`, as Fashion-MNIST's CSV names them), as does
//! a table of pixel columns; a convolutional network learns them with augmentation, and the
//! bundle is an ordinary one, so evaluation, prediction and serving take pixel rows as they
//! take any table.

use crate::bundle::{Bundle, DataSummary, Manifest};
use crate::config::Config;
use crate::error::KilnError;
use crate::pipeline::{Predictions, TrainHooks, TrainRun, labelled_sample, score};
use burn::prelude::Device;
use kiln_data::Cell;
use kiln_data::image::{ImageBackbone, images_from_table, pixel_columns_of};
use kiln_data::image::{decode_image, is_image_file};
use kiln_data::infer::ColumnKind;
use kiln_data::preprocess::{Feature, FeatureEncoder};
use kiln_data::{
    Encoded, ImageData, ImageSet, Preprocessor, Target, Task, TaskChoice, infer_task,
    read_image_data, split_indices,
};
use kiln_model::{Body, ImageShape, NetworkConfig, PixelScale};
use kiln_train::{Matrix, Objective, diagnose, fit_from};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

/// The name of an image folder's label, as its bundle's target.
const LABEL: &str = "label";
/// Images per mini-batch unless the config says otherwise.
const IMAGE_BATCH: usize = 128;

/// The input column names of images with `len` values: `pixel1` … `pixel{len}`.
pub fn pixel_columns(len: usize) -> Vec<String> {
    (1..=len).map(|i| format!("pixel{i}")).collect()
}

/// Images ready to train on, with the names of the pixel columns a bundle will read.
#[derive(Debug)]
pub struct ImageInput {
    /// The images, their classes and the reader's notes.
    pub images: ImageData,
    /// One input column name per pixel value, in pixel order.
    pub columns: Vec<String>,
    /// The name of the label column a bundle's tables carry.
    pub target: String,
}

/// The image data at `data`: a folder of IDX files or of class folders of image files, or a
/// table of pixel columns; `None` when `data` is none of these.
pub fn read_images(data: &Path, config: &Config) -> Result<Option<ImageInput>, KilnError> {
    if kiln_data::is_image_data(data) {
        let images = read_image_data(data, &config.data.images)?;
        let columns = pixel_columns(images.train.image_len());
        return Ok(Some(ImageInput {
            images,
            columns,
            target: LABEL.into(),
        }));
    }
    read_pixel_table(data, config)
}

/// The images in the table at `data` when its columns, apart from the target and dropped
/// ones, are all pixel columns (`pixel1` … `pixelN`) making a square image; `None` for any
/// other table (or a file that is not a CSV table).
fn read_pixel_table(data: &Path, config: &Config) -> Result<Option<ImageInput>, KilnError> {
    let Some(target) = &config.data.target else {
        return Ok(None);
    };
    let Ok(stream) = kiln_data::RecordStream::open(data) else {
        return Ok(None);
    };
    let header = kiln_data::Table {
        source: stream.file().to_string(),
        columns: stream
            .headers()
            .iter()
            .map(|name| kiln_data::Column {
                name: name.clone(),
                cells: Vec::new(),
            })
            .collect(),
        lines: Vec::new(),
    };
    drop(stream);
    if pixel_columns_of(&header, target, &config.data.drop).is_none() {
        return Ok(None);
    }
    let table = kiln_data::read_table(data)?;
    let Some((columns, shape)) = pixel_columns_of(&table, target, &config.data.drop) else {
        return Ok(None);
    };
    let target = infer_task(&table, target, TaskChoice::Multiclass)?;
    let images = images_from_table(&table, &columns, shape, &target)?;
    Ok(Some(ImageInput {
        images,
        columns,
        target: target.column,
    }))
}

/// Rows of pixel values as an encoded table (pixels are their own encoding).
fn encoded(values: Vec<f32>, width: usize) -> Encoded {
    Encoded {
        rows: values.len() / width.max(1),
        values,
        width,
        ignored_columns: Vec::new(),
        unseen_levels: Vec::new(),
    }
}

/// Trains a convolutional network on `input`, read from `data`.
pub fn train_on_images(
    data: &Path,
    input: ImageInput,
    config: &Config,
    hooks: &mut TrainHooks,
) -> Result<TrainRun, KilnError> {
    let ImageInput {
        images,
        columns,
        target,
    } = input;
    let shape = ImageShape {
        channels: images.train.channels,
        height: images.train.height,
        width: images.train.width,
    };
    let classes = images.classes.len();
    let mut notes = vec![format!(
        "task: multiclass (image data: {} classes of {}×{} images with {} channel{})",
        classes,
        shape.height,
        shape.width,
        shape.channels,
        if shape.channels == 1 { "" } else { "s" }
    )];
    notes.extend(images.notes.iter().cloned());
    if classes < 2 {
        return Err(kiln_data::DataError::BadTarget {
            file: images.train.source.clone(),
            column: target.clone(),
            problem: "has a single class; at least two are needed to learn to tell them apart"
                .into(),
        }
        .into());
    }
    let all: Vec<usize> = (0..images.train.len()).collect();
    let test_fraction = match &images.test {
        Some(test) => {
            notes.push(format!(
                "test images: the data set's own test files ({} images)",
                test.len()
            ));
            0.0
        }
        None => config.data.test_fraction,
    };
    let split = split_indices(
        &all,
        Some(&images.train.labels),
        config.data.valid_fraction_of(all.len()),
        test_fraction,
        config.seed,
    );
    notes.extend(config.data.valid_cap_note(all.len()));
    let y_all = labels(&images.train);
    let mut all_images = encoded(pixels(&images.train), shape.len());
    let mut test_pixels = images.test.as_ref().map(pixels);
    let backbone = match &config.preprocess.pretrained {
        Some(model) => {
            let started = Instant::now();
            let (backbone, features) =
                pretrained_features(model, &shape, config, &all_images, &split.train)?;
            all_images = encoded(features, backbone.width());
            if let Some(test) = &mut test_pixels {
                *test = backbone.features(test)?;
            }
            notes.push(format!(
                "pretrained features: the {} values before the last linear layer of '{}', for each image resized to {}×{}×{} ({:.1} s for {} images); the network learns from them, not from the pixels",
                backbone.width(),
                model,
                backbone.input[0],
                backbone.input[1],
                backbone.input[2],
                started.elapsed().as_secs_f64(),
                images.train.len() + images.test.as_ref().map_or(0, ImageSet::len),
            ));
            Some(backbone)
        }
        None => None,
    };
    let width = all_images.width;
    let part = |rows: &[usize]| crate::pipeline::rows_of(&all_images, &y_all, rows);
    let (train_x, train_y) = part(&split.train);
    let (valid_x, valid_y) = part(&split.valid);
    let (test_images, test_y) = match (test_pixels, &images.test) {
        (Some(values), Some(test)) => (encoded(values, width), labels(test)),
        _ => {
            let (x, y) = part(&split.test);
            (encoded(x, width), y)
        }
    };
    let test_rows: Vec<usize> = (0..test_y.len()).collect();
    let body = if backbone.is_some() {
        Body::Tabular(config.model.clone())
    } else {
        let conv = config
            .preset
            .image_shape(&config.image, &config.train.augment, &shape);
        let (conv, note) = conv.fitted_to(&shape);
        notes.extend(note);
        Body::Conv {
            image: shape,
            shape: conv,
            scale: pixel_scale(&train_x),
        }
    };
    let network = NetworkConfig {
        inputs: width,
        outputs: classes,
        body,
    };
    network.validate().map_err(KilnError::Config)?;
    notes.push(format!("network: {}", network.describe()));
    let objective = Objective::Classification { classes };
    let mut options = config.train.clone();
    if backbone.is_none() {
        notes.push(config.train.augment.describe(&shape));
        if options.batch_size == 0 {
            options.batch_size = IMAGE_BATCH;
        }
        if options.epochs == 0 {
            options.epochs = config.preset.image_epochs();
        }
    }
    let train_device = config.train.device.device().map_err(KilnError::Config)?;
    let started = Instant::now();
    let (vx, vy) = if split.valid.is_empty() {
        (&train_x, &train_y)
    } else {
        (&valid_x, &valid_y)
    };
    let checkpoint = hooks.checkpoint.clone();
    let outcome = crate::resume::with_checkpoints(checkpoint.as_deref(), &mut notes, |kept| {
        fit_from(
            None,
            &network,
            (Matrix::new(&train_x, train_y.len(), width), &train_y),
            (Matrix::new(vx, vy.len(), width), vy),
            &objective,
            &options,
            config.seed,
            &train_device,
            hooks.stop_flag(),
            &mut |report| hooks.observe(report),
            kept,
        )
    });
    // Seconds of every epoch run, those of an interrupted run this one resumed included.
    let train_seconds = outcome
        .curve
        .last()
        .map_or_else(|| started.elapsed().as_secs_f64(), |r| r.seconds);
    notes.push(format!(
        "trained {} epochs of batch {} ({:.1} s in all, {:.0} images/s); {}; kept epoch {}",
        outcome.curve.len(),
        outcome.batches.batch_size,
        train_seconds,
        (train_y.len() * outcome.curve.len()) as f64 / train_seconds.max(1e-9),
        outcome.stop_reason,
        outcome.best_epoch
    ));
    notes.extend(diagnose(&outcome.curve, outcome.best_epoch, &objective));
    notes.push("no refit on training + validation images: the early-stopped model is kept".into());
    let device = Device::flex();
    let evaluate = |x: &[f32], y: &[f32]| {
        let out = kiln_train::predict(
            &outcome.model,
            Matrix::new(x, y.len(), width),
            &objective,
            &device,
        );
        score(&out, y, &objective)
    };
    let (valid_metrics, _) = evaluate(vx, vy);
    let (test_metrics, confusion) = evaluate(&test_images.values, &test_y);
    let preprocessor = Preprocessor {
        features: columns
            .iter()
            .map(|c| Feature {
                column: c.clone(),
                kind: ColumnKind::Numeric,
                encoder: FeatureEncoder::Pixel,
            })
            .collect(),
        dropped: Vec::new(),
        target: target.clone(),
        backbone,
    };
    let train_class_rows =
        crate::pipeline::class_rows(&objective, split.train.iter().map(|&r| y_all[r]));
    let manifest = Manifest {
        kiln_version: crate::VERSION.to_string(),
        config: config.clone(),
        seed: config.seed,
        target: Target {
            column: target,
            task: Task::Multiclass,
            classes: images.classes.clone(),
            reason: "image data: one class per label".into(),
            format: kiln_data::NumberFormat::Plain,
        },
        preprocessor,
        network,
        objective,
        data: DataSummary {
            source: data.display().to_string(),
            rows: images.train.len() + images.test.as_ref().map_or(0, ImageSet::len),
            rows_without_target: 0,
            train_rows: split.train.len(),
            valid_rows: split.valid.len(),
            test_rows: test_y.len(),
            class_rows: train_class_rows,
        },
        test_metrics,
        valid_metrics,
        confusion_matrix: confusion,
        curve: outcome.curve,
        best_epoch: outcome.best_epoch,
        stop_reason: outcome.stop_reason,
        batches: outcome.batches,
        train_seconds,
        notes,
        profile: None,
        background: None,
        replay: Some(labelled_sample(
            &all_images,
            &y_all,
            &split.train,
            config.seed,
        )),
        holdout: Some(labelled_sample(
            &test_images,
            &test_y,
            &test_rows,
            config.seed,
        )),
        lineage: None,
    };
    Ok(TrainRun {
        bundle: Bundle {
            manifest,
            model: outcome.model,
        },
    })
}

/// The pretrained ONNX network at `model` fitted as a frozen feature extractor for images of
/// `shape`, with the standardised features of `images` (standardised on the `train` rows).
fn pretrained_features(
    model: &str,
    shape: &ImageShape,
    config: &Config,
    images: &Encoded,
    train: &[usize],
) -> Result<(ImageBackbone, Vec<f32>), KilnError> {
    if Path::new(model).is_dir() {
        return Err(KilnError::Config(format!(
            "--pretrained '{model}' is a folder (a text encoder's checkpoint?); for image data give an .onnx image model, whose features the network then learns from"
        )));
    }
    Ok(ImageBackbone::fit(
        model,
        [shape.channels, shape.height, shape.width],
        &config.preprocess,
        &images.values,
        train,
    )?)
}

/// Each image's label as a float, as training takes targets.
fn labels(set: &ImageSet) -> Vec<f32> {
    set.labels.iter().map(|&l| l as f32).collect()
}

/// The pixels of every image as floats, image after image.
fn pixels(set: &ImageSet) -> Vec<f32> {
    set.pixels.iter().map(|&p| f32::from(p)).collect()
}

/// Mean and standard deviation of the training pixels.
fn pixel_scale(values: &[f32]) -> PixelScale {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    PixelScale {
        mean,
        std: var.sqrt().max(1e-6),
    }
}

/// The image files at `path`: the file itself, or every image file under the folder (sorted,
/// sub-folders included).
pub(crate) fn image_files(path: &Path) -> Result<Vec<std::path::PathBuf>, KilnError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| kiln_data::DataError::Io {
            file: folder.display().to_string(),
            reason: e.to_string(),
        })?;
        for entry in entries.filter_map(Result::ok) {
            let p = entry.path();
            if p.is_dir() {
                folders.push(p);
            } else if is_image_file(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(KilnError::Config(format!(
            "'{}' holds no image files ({}); pass an image file, a folder of them, or a table",
            path.display(),
            kiln_data::image::IMAGE_EXTENSIONS.join(", ")
        )));
    }
    Ok(files)
}

/// Whether `path` is an image file or a folder Kiln reads image files from for prediction.
pub fn is_image_input(path: &Path) -> bool {
    path.is_dir() || is_image_file(path)
}

/// The size of the images `m` reads, or an error saying that `path`, which holds images, needs
/// a model trained on images.
fn model_image(m: &Manifest, path: &Path) -> Result<ImageShape, KilnError> {
    m.image().ok_or_else(|| {
        KilnError::Config(format!(
            "'{}' holds images, but this model was trained on a table; pass a table with its columns",
            path.display()
        ))
    })
}

/// A table of `images` (pixel bytes at the model's size) under the model's pixel columns.
fn pixel_table<'a>(
    m: &Manifest,
    images: impl ExactSizeIterator<Item = &'a [u8]>,
    source: &Path,
) -> kiln_data::Table {
    let rows = images.len();
    let mut columns: Vec<kiln_data::Column> = m
        .preprocessor
        .features
        .iter()
        .map(|f| kiln_data::Column {
            name: f.column.clone(),
            cells: Vec::with_capacity(rows),
        })
        .collect();
    for image in images {
        for (column, &p) in columns.iter_mut().zip(image) {
            column.cells.push(Cell::Num(f64::from(p)));
        }
    }
    kiln_data::Table {
        source: source.display().to_string(),
        columns,
        lines: Vec::new(),
    }
}

/// Predicts the class of each image file at `path` (a file or a folder of them) with an image
/// model; each file is converted to the model's channels and resized to its input size. The
/// first column names the file; probabilities are under `priors`.
pub fn predict_images(
    bundle: &Bundle,
    path: &Path,
    priors: crate::Priors,
) -> Result<Predictions, KilnError> {
    let m = &bundle.manifest;
    let shape = model_image(m, path)?;
    let files = image_files(path)?;
    let decoded: Vec<Result<Vec<u8>, kiln_data::DataError>> = files
        .par_iter()
        .map(|f| decode_image(f, shape.channels, shape.height, shape.width))
        .collect();
    // The first bad file in the listing's order is the one named.
    let decoded = decoded.into_iter().collect::<Result<Vec<_>, _>>()?;
    let table = pixel_table(m, decoded.iter().map(Vec::as_slice), path);
    let mut p = crate::pipeline::predict(bundle, &table, priors)?;
    p.header.insert(0, "file".into());
    for (row, file) in p.rows.iter_mut().zip(&files) {
        row.insert(0, file.display().to_string());
    }
    Ok(p)
}

/// Scores an image model on the image data set in the folder `dir` (IDX files or one
/// sub-folder per class): on its own test images when it has them, otherwise on all of its
/// images, each converted to the model's channels and size; probabilities under `priors`.
pub fn evaluate_images(
    bundle: &Bundle,
    dir: &Path,
    priors: crate::Priors,
) -> Result<crate::Evaluation, KilnError> {
    let m = &bundle.manifest;
    let shape = model_image(m, dir)?;
    let options = kiln_data::image::ImageOptions {
        size: Some([shape.height, shape.width]),
        channels: Some(shape.channels),
        ..Default::default()
    };
    let data = read_image_data(dir, &options)?;
    let (set, which) = match data.test {
        Some(test) => (test, "its own test images"),
        None => (data.train, "all of its images"),
    };
    let size = [set.channels, set.height, set.width];
    if size != [shape.channels, shape.height, shape.width] {
        return Err(KilnError::Config(format!(
            "'{}' holds {}×{} images with {} channel(s), but the model reads {}×{} with {}",
            dir.display(),
            set.height,
            set.width,
            set.channels,
            shape.height,
            shape.width,
            shape.channels
        )));
    }
    if let Some(unknown) = data.classes.iter().find(|c| !m.target.classes.contains(c)) {
        return Err(KilnError::Config(format!(
            "'{}' has images of class '{unknown}', which the model was not trained on (its classes: {}); evaluate on images of those classes",
            dir.display(),
            m.target.classes.join(", ")
        )));
    }
    let mut table = pixel_table(m, (0..set.len()).map(|i| set.image(i)), dir);
    table.columns.push(kiln_data::Column {
        name: m.target.column.clone(),
        cells: set
            .labels
            .iter()
            .map(|&label| Cell::from_text(&data.classes[label]))
            .collect(),
    });
    let mut evaluation = crate::pipeline::evaluate(bundle, &table, priors)?;
    evaluation.notes.insert(
        0,
        format!(
            "evaluated on {which} in '{}' ({} images)",
            dir.display(),
            set.len()
        ),
    );
    evaluation.notes.extend(data.notes);
    Ok(evaluation)
}
