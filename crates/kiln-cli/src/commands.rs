//! The subcommands: each reads its inputs, calls the library, and prints text or JSON.

use crate::progress::{EpochBar, stop_on_ctrl_c};
use kiln::data::{TaskChoice, read_table};
use kiln::training::{EpochReport, Metrics};
use kiln::{Bundle, Config, Evaluation, KilnError, Priors, TrainHooks};
use serde_json::json;
use std::path::{Path, PathBuf};

/// How a command reports its figures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// Text for people.
    Text,
    /// One JSON object on stdout.
    Json,
    /// Nothing (the caller reports).
    Nothing,
}

impl Print {
    /// Text or JSON, from a `--json` flag.
    pub fn from_json_flag(json: bool) -> Self {
        if json { Print::Json } else { Print::Text }
    }
}

/// The task to learn, when inference from the target is not wanted.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TaskArg {
    Auto,
    Binary,
    Multiclass,
    Regression,
}

impl From<TaskArg> for TaskChoice {
    fn from(t: TaskArg) -> Self {
        match t {
            TaskArg::Auto => TaskChoice::Auto,
            TaskArg::Binary => TaskChoice::Binary,
            TaskArg::Multiclass => TaskChoice::Multiclass,
            TaskArg::Regression => TaskChoice::Regression,
        }
    }
}

/// Options of `kiln train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The table (.csv, .tsv, .csv.gz or .parquet), or image data, which trains a
    /// convolutional network: a folder with one sub-folder of image files per class (PNG, JPEG,
    /// BMP, GIF, WebP; optionally under train/ with test/ beside it), a folder of IDX files
    /// (train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], optionally t10k-… for
    /// test), or a table whose columns besides the target are pixel1 … pixelN.
    pub data: PathBuf,
    /// The column to predict (not needed for images).
    #[arg(long, short)]
    pub target: Option<String>,
    /// A TOML config (see `kiln config`); options given here override it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where to write the model bundle [default: DATA's name with .kiln, in this folder].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Where to write the HTML report [default: the bundle's name with .report.html].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Seed of every random step [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The task [default: inferred from the target].
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Most epochs [default: chosen from the data size].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train for at most this long (90s, 20m, 2h): after each epoch the epoch budget and the
    /// learning-rate schedule are fitted to what the measured pace leaves room for, so training
    /// ends on time with its rate decayed; reading the data and the final test metrics come on
    /// top [default: no limit; config key train.max_seconds].
    #[arg(long, value_parser = crate::tune::parse_duration)]
    pub time_limit: Option<std::time::Duration>,
    /// Train even if the data has error-level anomalies (they are still reported).
    #[arg(long)]
    pub allow_anomalies: bool,
    /// A pretrained model, used frozen; nothing is downloaded. For free text, a sentence-encoder
    /// checkpoint folder (BERT family, e.g. all-MiniLM-L6-v2: config.json, model.safetensors,
    /// tokenizer.json): text columns are also read as its sentence vectors. For images, an
    /// .onnx CNN (e.g. a MobileNet classifier): the network learns from its penultimate
    /// features instead of the pixels (see preprocess.pretrained_size, _mean, _std).
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// How free-text columns are modelled: `bag` (word n-grams, plus the --pretrained
    /// encoder's frozen sentence vectors), `gru` or `lstm` (a recurrent network over the
    /// words, trained from scratch), `finetune` (the --pretrained encoder itself, its top
    /// layers trained) [default: bag].
    #[arg(long, value_enum)]
    pub text_model: Option<TextModelArg>,
    /// Fine-tune the --pretrained encoder: its top layers (text.finetune_layers) are trained
    /// with a smaller learning rate (train.pretrained_learning_rate); the same as
    /// `--text-model finetune`.
    #[arg(long)]
    pub finetune: bool,
    /// How classes weigh in a classifier's loss: `balanced` weighs each row by the inverse of
    /// its class's frequency, for rare classes that matter or class shares that change after
    /// deployment [default: equal].
    #[arg(long, value_enum)]
    pub class_weight: Option<ClassWeightArg>,
    /// Named defaults for what the config leaves unset: `best` trains images with a deeper
    /// network (two convolutions per stage; about 1.6 times as long, more accurate); tables
    /// and text train as with `default` [default: default].
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--preset` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PresetArg {
    /// Kiln's defaults.
    Default,
    /// Slower and more accurate (images).
    Best,
}

impl From<PresetArg> for kiln::config::Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Default => kiln::config::Preset::Default,
            PresetArg::Best => kiln::config::Preset::Best,
        }
    }
}

/// `--class-weight` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ClassWeightArg {
    /// Every row alike.
    Equal,
    /// Each class weighs the same in total.
    Balanced,
}

impl From<ClassWeightArg> for kiln::training::ClassWeight {
    fn from(c: ClassWeightArg) -> Self {
        match c {
            ClassWeightArg::Equal => kiln::training::ClassWeight::Equal,
            ClassWeightArg::Balanced => kiln::training::ClassWeight::Balanced,
        }
    }
}

/// `--text-model` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TextModelArg {
    /// Word n-grams and frozen sentence vectors.
    Bag,
    /// A GRU over the words.
    Gru,
    /// An LSTM over the words.
    Lstm,
    /// The pretrained encoder, fine-tuned.
    Finetune,
}

impl From<TextModelArg> for kiln::data::TextModel {
    fn from(m: TextModelArg) -> Self {
        match m {
            TextModelArg::Bag => kiln::data::TextModel::Bag,
            TextModelArg::Gru => kiln::data::TextModel::Gru,
            TextModelArg::Lstm => kiln::data::TextModel::Lstm,
            TextModelArg::Finetune => kiln::data::TextModel::Finetune,
        }
    }
}

/// What `kiln train` wrote.
pub struct Trained {
    pub model: PathBuf,
    pub report: PathBuf,
    pub manifest: kiln::Manifest,
}

/// `kiln train`.
pub fn train(args: TrainArgs, print: Print) -> Result<Trained, KilnError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(KilnError::Config)?,
        None => Config::default(),
    };
    if let Some(t) = args.target {
        config.data.target = Some(t);
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(t) = args.task {
        config.data.task = t.into();
    }
    if let Some(e) = args.epochs {
        config.train.epochs = e;
    }
    if let Some(limit) = args.time_limit {
        config.train.max_seconds = limit.as_secs_f64();
    }
    if let Some(p) = args.preset {
        config.preset = p.into();
    }
    config.data.allow_anomalies |= args.allow_anomalies;
    if let Some(c) = args.class_weight {
        config.train.class_weight = c.into();
    }
    if let Some(path) = &args.pretrained {
        config.preprocess.pretrained = Some(path.display().to_string());
    }
    config.resolve_pretrained().map_err(KilnError::Config)?;
    match (args.text_model, args.finetune) {
        (Some(m), true) if !matches!(m, TextModelArg::Finetune) => {
            return Err(KilnError::Config(
                "--finetune and --text-model name different text models; give one".into(),
            ));
        }
        (_, true) => config.preprocess.text_model = kiln::data::TextModel::Finetune,
        (Some(m), false) => config.preprocess.text_model = m.into(),
        (None, false) => {}
    }
    let model_path = args.out.unwrap_or_else(|| default_model_path(&args.data));
    let report_path = args
        .report
        .unwrap_or_else(|| model_path.with_extension("report.html"));
    for path in [&model_path, &report_path] {
        check_folder_exists(path)?;
    }
    let checkpoint = checkpoint_path(&model_path);
    let stop = stop_on_ctrl_c(
        "finishing this epoch, saving the best model so far and a checkpoint to resume from",
    );
    let bar = EpochBar::new();
    let mut on_epoch = |report: &EpochReport| bar.epoch(report);
    let mut hooks = TrainHooks {
        stop: Some(&stop),
        on_epoch: Some(&mut on_epoch),
        checkpoint: Some(checkpoint.clone()),
    };
    let run = kiln::train(&args.data, &config, &mut hooks);
    bar.finish();
    let run = run?;
    run.bundle.save(&model_path)?;
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "interrupted: {} holds the best model so far; the same command continues training from {}",
            model_path.display(),
            checkpoint.display()
        );
    } else if let Err(e) = std::fs::remove_file(&checkpoint)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "warning: could not remove the finished run's checkpoint {}: {e}",
            checkpoint.display()
        );
    }
    let report = kiln::report::train_report(&run.bundle.manifest);
    let html = kiln::report_types::render_html(&report);
    kiln::atomic::write_atomic(&report_path, html.as_bytes())
        .map_err(|e| KilnError::write(&report_path, e))?;
    let m = run.bundle.manifest;
    if print == Print::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": model_path,
                "report": report_path,
                "target": m.target.column,
                "task": m.target.task,
                "test_metrics": m.test_metrics,
                "valid_metrics": m.valid_metrics,
                "epochs": m.curve.len(),
                "best_epoch": m.best_epoch,
                "train_seconds": m.train_seconds,
                "notes": m.notes,
            }))
            .expect("json")
        );
    } else if print == Print::Text {
        println!(
            "trained on {} ({} rows), target '{}'",
            m.data.source, m.data.rows, m.target.column
        );
        for n in &m.notes {
            println!("  - {n}");
        }
        println!("test metrics ({} rows):", m.data.test_rows);
        print_metrics(&m.test_metrics);
        println!("model:  {}", model_path.display());
        println!("report: {}", report_path.display());
    }
    Ok(Trained {
        model: model_path,
        report: report_path,
        manifest: m,
    })
}

/// Where `kiln train` keeps the checkpoint of the bundle it is training: beside it.
fn checkpoint_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// Fails early, before any training, when an output's folder does not exist.
pub fn check_folder_exists(path: &Path) -> Result<(), KilnError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(KilnError::write(
            path,
            format!(
                "folder '{}' does not exist; create it or choose another path",
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// `DATA`'s file name with the `.kiln` extension, in the current folder.
fn default_model_path(data: &Path) -> PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let stem = name
        .trim_end_matches(".gz")
        .rsplit_once('.')
        .map_or(name.as_str(), |(s, _)| s)
        .to_string();
    PathBuf::from(format!("{stem}.kiln"))
}

/// Prints metrics as aligned name/value lines.
pub fn print_metrics(m: &Metrics) {
    for (name, v) in m.pairs() {
        println!("  {name:<9} {v:.4}");
    }
}

/// The priors `--adapt-priors` asks for.
pub fn priors(adapt: bool) -> Priors {
    if adapt {
        Priors::Adapted
    } else {
        Priors::Training
    }
}

/// `kiln evaluate`, with probabilities under `priors`.
pub fn evaluate(
    model: &Path,
    data: &Path,
    priors: Priors,
    print: Print,
) -> Result<Evaluation, KilnError> {
    let bundle = Bundle::load(model)?;
    let e = if data.is_dir() && kiln::data::image::is_image_data(data) {
        kiln::images::evaluate_images(&bundle, data, priors)?
    } else {
        kiln::evaluate(&bundle, &read_table(data)?, priors)?
    };
    match print {
        Print::Json => println!("{}", serde_json::to_string_pretty(&e).expect("json")),
        Print::Text => print_evaluation(&e, &bundle, data),
        Print::Nothing => {}
    }
    Ok(e)
}

/// Prints an evaluation as text: notes, metrics and the confusion matrix.
fn print_evaluation(e: &Evaluation, bundle: &Bundle, data: &Path) {
    for n in &e.notes {
        eprintln!("note: {n}");
    }
    println!("{} rows of {}:", e.metrics.rows, data.display());
    print_metrics(&e.metrics);
    if let Some(cm) = &e.confusion_matrix {
        let classes = &bundle.manifest.target.classes;
        println!("confusion matrix (rows: actual, columns: predicted):");
        let w = classes.iter().map(|c| c.len()).max().unwrap_or(1).max(6);
        print!("  {:w$}", "");
        for c in classes {
            print!(" {c:>w$}");
        }
        println!();
        for (c, row) in classes.iter().zip(cm) {
            print!("  {c:w$}");
            for v in row {
                print!(" {v:>w$}");
            }
            println!();
        }
    }
}

/// `kiln predict`, with probabilities under `priors`.
pub fn predict(
    model: &Path,
    data: &Path,
    priors: Priors,
    out: Option<&Path>,
    json: bool,
) -> Result<(), KilnError> {
    let bundle = Bundle::load(model)?;
    let p = if kiln::images::is_image_input(data) {
        kiln::images::predict_images(&bundle, data, priors)?
    } else {
        kiln::predict(&bundle, &read_table(data)?, priors)?
    };
    for n in &p.notes {
        eprintln!("note: {n}");
    }
    let text = if json {
        predictions_json(&p)
    } else {
        p.to_csv()
    };
    match out {
        Some(path) => {
            kiln::atomic::write_atomic(path, text.as_bytes())
                .map_err(|e| KilnError::write(path, e))?;
            eprintln!("wrote {} predictions to {}", p.rows.len(), path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Predictions as a JSON array with one object per row; numeric cells become numbers.
fn predictions_json(p: &kiln::Predictions) -> String {
    let rows: Vec<serde_json::Value> = p
        .rows
        .iter()
        .map(|row| {
            let fields = p.header.iter().zip(row).map(|(name, cell)| {
                let value = cell
                    .parse::<f64>()
                    .ok()
                    .and_then(|v| serde_json::Number::from_f64(v).map(serde_json::Value::Number))
                    .unwrap_or_else(|| serde_json::Value::String(cell.clone()));
                (name.clone(), value)
            });
            serde_json::Value::Object(fields.collect())
        })
        .collect();
    serde_json::to_string_pretty(&rows).expect("json") + "\n"
}

/// `kiln inspect`.
pub fn inspect(model: &Path, json: bool) -> Result<(), KilnError> {
    let bundle = Bundle::load(model)?;
    let m = &bundle.manifest;
    if json {
        println!("{}", serde_json::to_string_pretty(m).expect("json"));
        return Ok(());
    }
    println!(
        "Kiln {} model, trained on {}",
        m.kiln_version, m.data.source
    );
    println!("target: '{}' ({})", m.target.column, m.target.task);
    if !m.target.classes.is_empty() {
        println!("classes: {}", m.target.classes.join(", "));
    }
    match m.image() {
        Some(image) => println!(
            "input: {}×{}×{} images as pixel columns {} … {} (0-255, channel-major)",
            image.channels,
            image.height,
            image.width,
            m.preprocessor
                .features
                .first()
                .map_or("", |f| f.column.as_str()),
            m.preprocessor
                .features
                .last()
                .map_or("", |f| f.column.as_str())
        ),
        None => {
            println!("input columns:");
            for f in &m.preprocessor.features {
                println!("  {} ({:?})", f.column, f.kind);
            }
        }
    }
    println!("network: {}", m.network.describe());
    println!("test metrics:");
    print_metrics(&m.test_metrics);
    Ok(())
}

/// Options of `kiln augment`.
#[derive(clap::Args)]
pub struct AugmentArgs {
    /// Image data, as `kiln train` takes it: class folders of image files, IDX files, or a
    /// table of pixel columns (with --target).
    pub data: PathBuf,
    /// Where to write the PNG grid: each row a training image followed by augmented copies.
    #[arg(long)]
    pub preview: PathBuf,
    /// The label column of a table of pixel columns.
    #[arg(long, short)]
    pub target: Option<String>,
    /// A TOML config whose [train.augment] section sets the transforms.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Seed of the transforms [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Images shown (rows of the grid), taking the classes in turn.
    #[arg(long, default_value_t = 8)]
    pub images: usize,
    /// Augmented copies beside each image.
    #[arg(long, default_value_t = 7)]
    pub variants: usize,
    /// Print what the grid shows as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `kiln augment`.
pub fn augment(args: AugmentArgs) -> Result<(), KilnError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(KilnError::Config)?,
        None => Config::default(),
    };
    if args.target.is_some() {
        config.data.target = args.target;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if args.images == 0 {
        return Err(KilnError::Config("--images must be at least 1".into()));
    }
    check_folder_exists(&args.preview)?;
    let (png, preview) =
        kiln::preview::augment_preview(&args.data, &config, args.images, args.variants)?;
    kiln::atomic::write_atomic(&args.preview, &png)
        .map_err(|e| KilnError::write(&args.preview, e))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&preview).expect("json"));
    } else {
        println!(
            "wrote {}: {} images ({}), each followed by {} augmented copies; {}",
            args.preview.display(),
            preview.classes.len(),
            preview.classes.join(", "),
            preview.variants,
            preview.transforms
        );
    }
    Ok(())
}
