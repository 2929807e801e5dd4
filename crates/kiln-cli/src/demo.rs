//! `kiln demo`: the whole pipeline on the bundled UCI breast cancer table (CC BY 4.0), then a
//! convolutional network on a bundled slice of Fashion-MNIST (MIT), the same images through a
//! bundled pretrained ONNX CNN (Apache-2.0), and spam filters on bundled SpamAssassin mails.

use crate::commands::{self, Print, TrainArgs};
use crate::data::{self, CorrectionArg, ProfileArgs, ValidateArgs};
use crate::explain::{self, ExplainArgs, MethodArg};
use kiln::{KilnError, Priors};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The bundled data set, embedded so the demo runs anywhere.
const BREAST_CANCER: &str = include_str!("../../../datasets/breast_cancer.csv");

/// The bundled image slice (2,000 training and 500 test images of Fashion-MNIST), embedded.
const FASHION_MNIST: [(&str, &[u8]); 5] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../datasets/fashion-mnist-small/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../datasets/fashion-mnist-small/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../datasets/fashion-mnist-small/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../datasets/fashion-mnist-small/t10k-labels-idx1-ubyte.gz"),
    ),
    (
        "classes.txt",
        include_bytes!("../../../datasets/fashion-mnist-small/classes.txt"),
    ),
];

/// The bundled text slice (720 earlier and 400 later SpamAssassin mails), embedded.
const SPAM: [(&str, &[u8]); 2] = [
    (
        "spam_train.jsonl.gz",
        include_bytes!("../../../datasets/spam-small/train.jsonl.gz"),
    ),
    (
        "spam_later.jsonl.gz",
        include_bytes!("../../../datasets/spam-small/test.jsonl.gz"),
    ),
];

/// A pretrained CNN (PaddleOCR's MobileNetV3 text-direction classifier, ONNX), embedded.
const PRETRAINED_CNN: (&str, &[u8]) = (
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    include_bytes!("../../../datasets/pretrained/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
);

/// `kiln train`'s arguments for `data` (and `target`), writing `NAME.kiln` and
/// `NAME.report.html` in `out`, every other option at its default.
fn train_args(data: PathBuf, target: Option<&str>, out: &Path, name: &str) -> TrainArgs {
    TrainArgs {
        data,
        target: target.map(Into::into),
        config: None,
        out: Some(out.join(format!("{name}.kiln"))),
        report: Some(out.join(format!("{name}.report.html"))),
        seed: None,
        task: None,
        epochs: None,
        time_limit: None,
        allow_anomalies: false,
        pretrained: None,
        text_model: None,
        finetune: false,
        class_weight: None,
        preset: None,
        json: false,
    }
}

/// Trains `data` as step 2 does, stopped after epoch 5 the way Ctrl-C stops `kiln train`,
/// then once more with the checkpoint that run left: the second run's manifest.
fn interrupted_and_resumed(data: &Path, out: &Path) -> Result<kiln::Manifest, KilnError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut config = kiln::Config::default();
    config.data.target = Some("diagnosis".into());
    let checkpoint = out.join("breast_cancer_resumed.kiln.checkpoint");
    let stop = AtomicBool::new(false);
    let mut stop_after_five = |report: &kiln::training::EpochReport| {
        if report.record.epoch == 5 {
            stop.store(true, Ordering::SeqCst);
        }
    };
    kiln::train(
        data,
        &config,
        &mut kiln::TrainHooks {
            stop: Some(&stop),
            on_epoch: Some(&mut stop_after_five),
            checkpoint: Some(checkpoint.clone()),
        },
    )?;
    let run = kiln::train(
        data,
        &config,
        &mut kiln::TrainHooks {
            checkpoint: Some(checkpoint.clone()),
            ..kiln::TrainHooks::default()
        },
    )?;
    std::fs::remove_file(&checkpoint).map_err(|e| KilnError::write(&checkpoint, e))?;
    Ok(run.bundle.manifest)
}

/// A plain CSV as a European spreadsheet writes it: semicolons between fields, decimal
/// commas, thousands grouped by a space.
fn spreadsheet_export(csv: &str) -> String {
    let field = |value: &str| -> String {
        if value.parse::<f64>().is_err() {
            return value.to_string();
        }
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        let digits = whole.trim_start_matches('-');
        let mut grouped = whole[..whole.len() - digits.len()].to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(' ');
            }
            grouped.push(digit);
        }
        match fraction {
            "" => grouped,
            f => format!("{grouped},{f}"),
        }
    };
    csv.lines()
        .map(|line| line.split(',').map(field).collect::<Vec<_>>().join(";") + "\n")
        .collect()
}

/// A trained classifier's test accuracy in percent.
fn accuracy_percent(trained: &commands::Trained) -> f64 {
    trained.manifest.test_metrics.accuracy.unwrap_or(0.0) * 100.0
}

/// Runs the demo in folder `out`.
pub fn run(out: &Path, json: bool) -> Result<(), KilnError> {
    let write_err = |path: &Path, e: std::io::Error| KilnError::write(path, e);
    std::fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
    // Every fifth row is held back from training, to evaluate on rows the model never saw.
    let (train_rows, holdout_rows) = split_every_fifth(BREAST_CANCER);
    let data = out.join("breast_cancer_train.csv");
    let holdout = out.join("breast_cancer_holdout.csv");
    for (path, text) in [(&data, &train_rows), (&holdout, &holdout_rows)] {
        kiln::atomic::write_atomic(path, text.as_bytes()).map_err(|e| write_err(path, e))?;
    }
    let say = |s: &str| {
        if !json {
            println!("{s}");
        }
    };
    let count = |text: &str| text.lines().count() - 1;
    let (n_train, n_holdout) = (count(&train_rows), count(&holdout_rows));
    let print = if json { Print::Nothing } else { Print::Text };
    say(&format!(
        "== 1. profile: UCI breast cancer ({n_train} of {} rows, 31 columns): statistics, schema, report",
        n_train + n_holdout
    ));
    let schema = out.join("breast_cancer.schema.toml");
    data::profile(
        ProfileArgs {
            data: vec![data.clone()],
            out: Some(out.join("breast_cancer.profile.json")),
            report: Some(out.join("breast_cancer.profile.html")),
            schema: Some(schema.clone()),
            seed: 42,
            threads: 0,
            json: false,
        },
        print,
    )?;
    say("\n== 2. train: target 'diagnosis', no options (the data is validated first)");
    let args = train_args(data.clone(), Some("diagnosis"), out, "breast_cancer");
    let trained = commands::train(args, print)?;
    say("\nthe same training stopped after epoch 5, as Ctrl-C stops it, then run again:");
    let resumed = interrupted_and_resumed(&data, out)?;
    let same = resumed.test_metrics.log_loss == trained.manifest.test_metrics.log_loss;
    say(&format!(
        "  {}\n  test log loss {:.6}: {} the uninterrupted run's",
        resumed
            .notes
            .iter()
            .find(|n| n.starts_with("resumed"))
            .map_or("(did not resume)", String::as_str),
        resumed.test_metrics.log_loss.unwrap_or(f64::NAN),
        if same { "exactly" } else { "NOT" }
    ));
    say(
        "\nthe same rows as a European spreadsheet exports them (semicolons, decimal commas, 1 001,0):",
    );
    let exported = out.join("breast_cancer_export.csv");
    kiln::atomic::write_atomic(&exported, spreadsheet_export(&train_rows).as_bytes())
        .map_err(|e| write_err(&exported, e))?;
    let mut config = kiln::Config::default();
    config.data.target = Some("diagnosis".into());
    let export = kiln::train(&exported, &config, &mut kiln::TrainHooks::default())?
        .bundle
        .manifest;
    let export_same = export.test_metrics.log_loss == trained.manifest.test_metrics.log_loss;
    say(&format!(
        "  {} of {} columns read as numbers written like 1 234,50; test log loss {:.6}: {} the first run's",
        export
            .preprocessor
            .features
            .iter()
            .filter(|f| !f.encoder.number_format().is_plain())
            .count(),
        export.preprocessor.features.len(),
        export.test_metrics.log_loss.unwrap_or(f64::NAN),
        if export_same { "exactly" } else { "NOT" }
    ));
    say(&format!(
        "\n== 3. evaluate: the {n_holdout} held-back rows, which training never saw"
    ));
    let evaluation = commands::evaluate(&trained.model, &holdout, Priors::Training, print)?;
    say("\n== 4. predict: six held-back rows with their columns shuffled and an extra column");
    let sample = out.join("new_patients.csv");
    let shuffled = reorder_with_extra(&holdout_rows, 6);
    kiln::atomic::write_atomic(&sample, shuffled.as_bytes()).map_err(|e| write_err(&sample, e))?;
    let predictions = out.join("predictions.csv");
    commands::predict(
        &trained.model,
        &sample,
        Priors::Training,
        Some(&predictions),
        false,
    )?;
    let text = std::fs::read_to_string(&predictions)
        .map_err(|e| KilnError::write(&predictions, format!("cannot read it back: {e}")))?;
    say(text.trim_end());
    let validate = |file: &Path| {
        data::validate(
            ValidateArgs {
                data: file.to_path_buf(),
                schema: None,
                reference: Some(trained.model.clone()),
                report: Some(file.with_extension("validation.html")),
                alpha: 0.05,
                correction: CorrectionArg::Fdr,
                json: false,
            },
            print,
        )
    };
    say("\n== 5. validate: the held-back rows against the model's training profile (serving skew)");
    let clean = validate(&holdout)?;
    say(
        "\n== 6. validate: a damaged copy (a column dropped, text in a number, a shifted feature, 30% missing, a new label)",
    );
    let damaged = out.join("breast_cancer_damaged.csv");
    kiln::atomic::write_atomic(&damaged, damage(&holdout_rows).as_bytes())
        .map_err(|e| write_err(&damaged, e))?;
    let broken = validate(&damaged)?;
    say(
        "\n== 7. explain: why the model decided as it did for three held-back patients (Kernel SHAP)",
    );
    let explanation_report = out.join("breast_cancer.explain.html");
    let explanation = explain::explain(
        ExplainArgs {
            model: trained.model.clone(),
            data: holdout.clone(),
            method: MethodArg::Auto,
            rows: Some("0-2".into()),
            background: 16,
            samples: 0,
            seed: 42,
            out: Some(out.join("attributions.csv")),
            report: Some(explanation_report.clone()),
            json: false,
        },
        print,
    )?;
    say(
        "\n== 8. tune: 8 trials of TPE with ASHA pruning on a SQLite study (the first enqueued by hand: learning_rate=0.001, width=256), then retrain the best",
    );
    let study = out.join("breast_cancer.study.db");
    let _ = std::fs::remove_file(&study);
    let tune_report = out.join("breast_cancer.tune.html");
    crate::tune::tune(
        crate::tune::TuneArgs {
            data: data.clone(),
            target: Some("diagnosis".into()),
            config: None,
            trials: Some(8),
            timeout: None,
            sampler: None,
            pruner: None,
            cv: None,
            storage: Some(format!("sqlite://{}", study.display())),
            study: Some("demo".into()),
            workers: 1,
            seed: None,
            out: Some(out.join("breast_cancer.tuned.kiln")),
            report: Some(tune_report.clone()),
            enqueue: vec!["learning_rate=0.001,width=256".into()],
            worker_only: false,
            json: false,
        },
        print,
    )?;
    say(
        "\n== 9. serve: the model over HTTP (Open Inference Protocol v2), 8 clients sending the held-back rows one per request",
    );
    let served = serve(&trained.model, &holdout_rows)?;
    say(&format!(
        "{} requests in {:.2} s ({:.0}/s), latency p50 {:.2} ms, p99 {:.2} ms; every answer equals `kiln predict` (largest difference {:.1e})",
        served.requests,
        served.seconds,
        served.requests as f64 / served.seconds,
        served.p50_ms,
        served.p99_ms,
        served.max_difference
    ));
    say(&format!(
        "serve it yourself: kiln serve {} --port 8000, then POST /v2/models/breast_cancer/infer (or /v1/models/breast_cancer:predict); metrics at /metrics",
        trained.model.display()
    ));
    say(
        "\n== 10. monitor: the held-back rows, then the damaged copy, against the model's training profile (exit code 1 on an alert)",
    );
    let monitor_report = out.join("breast_cancer.monitor.html");
    let watch = |file: &Path, report: Option<PathBuf>| {
        crate::monitor::run(
            crate::monitor::MonitorArgs {
                model: trained.model.clone(),
                log: file.to_path_buf(),
                labels: None,
                window: kiln::monitor::Window::All,
                step: None,
                drift_share: 0.5,
                max_quality_drop: 0.05,
                alpha: 0.05,
                report,
                json: false,
            },
            print,
        )
    };
    let holdout_alert = watch(&holdout, None)?;
    let damaged_alert = watch(&damaged, Some(monitor_report.clone()))?;
    say(
        "\n== 11. update: the model trained further on the held-back rows, replaying the earlier rows it keeps so that it does not forget them",
    );
    let updated_path = out.join("breast_cancer.updated.kiln");
    let updated = crate::update::run(
        crate::update::UpdateArgs {
            model: trained.model.clone(),
            data: holdout.clone(),
            strategy: crate::update::StrategyArg::Replay,
            replay: 0,
            ewc_strength: 1.0,
            seed: 42,
            out: Some(updated_path.clone()),
            json: false,
        },
        print,
    )?;
    say(
        "\n== 12. registry and loop: versions promoted through a quality gate, a monitoring round that updates on drift, a rollback (a `kiln serve` on the registry folder follows each step)",
    );
    let registry = registry_steps(out, &trained.model, &updated_path, &damaged, &say)?;
    say(
        "\n== 13. images: a convolutional network on 2,000 Fashion-MNIST images (4 epochs, flips and shifts), tested on 500 others",
    );
    let images = out.join("fashion-mnist-small");
    std::fs::create_dir_all(&images).map_err(|e| write_err(&images, e))?;
    for (name, bytes) in FASHION_MNIST {
        let path = images.join(name);
        kiln::atomic::write_atomic(&path, bytes).map_err(|e| write_err(&path, e))?;
    }
    let cnn = commands::train(
        TrainArgs {
            epochs: Some(4),
            ..train_args(images, None, out, "fashion-mnist-small")
        },
        print,
    )?;
    // The deeper network gets the default one's training time: what fits of its 4 epochs.
    let time_limit = std::time::Duration::from_secs_f64(cnn.manifest.train_seconds.max(1.0));
    let best = commands::train(
        TrainArgs {
            epochs: Some(4),
            time_limit: Some(time_limit),
            preset: Some(commands::PresetArg::Best),
            ..train_args(
                out.join("fashion-mnist-small"),
                None,
                out,
                "fashion-mnist-small-best",
            )
        },
        print,
    )?;
    say(&format!(
        "--preset best (two stages of two convolutions; without --epochs it trains {} epochs, the default {}) given the default network's training time (--time-limit {:.0}s, its learning-rate schedule fitted to the epochs that fit): {} of 4 epochs, test accuracy {:.1}% against the default network's {:.1}%",
        kiln::config::Preset::Best.image_epochs(),
        kiln::config::Preset::Default.image_epochs(),
        time_limit.as_secs_f64(),
        best.manifest.curve.len(),
        accuracy_percent(&best),
        accuracy_percent(&cnn),
    ));
    let preview_path = out.join("augment-preview.png");
    let (png, preview) = kiln::preview::augment_preview(
        &out.join("fashion-mnist-small"),
        &kiln::Config::default(),
        10,
        7,
    )?;
    kiln::atomic::write_atomic(&preview_path, &png).map_err(|e| write_err(&preview_path, e))?;
    say(&format!(
        "what the network saw: {} draws one image of each class beside 7 augmented copies ({}; `kiln augment DATA --preview grid.png`)",
        preview_path.display(),
        preview.transforms
    ));
    say(
        "\n== 14. text: a spam filter from 720 mails (22% spam) read as TF-IDF word n-grams, classes balanced, tested on 400 mails collected later (half spam)",
    );
    for (name, bytes) in SPAM {
        let path = out.join(name);
        kiln::atomic::write_atomic(&path, bytes).map_err(|e| write_err(&path, e))?;
    }
    let spam = commands::train(
        TrainArgs {
            class_weight: Some(commands::ClassWeightArg::Balanced),
            ..train_args(out.join("spam_train.jsonl.gz"), Some("label"), out, "spam")
        },
        print,
    )?;
    say("\nthe later mails (their spam differs from the training spam):");
    let later = out.join("spam_later.jsonl.gz");
    let spam_later = commands::evaluate(&spam.model, &later, Priors::Training, print)?;
    say(
        "\nthe same mails with --adapt-priors (the share of each class in them estimated from the model's own probabilities, no labels used, and the probabilities adjusted to it):",
    );
    let spam_adapted = commands::evaluate(&spam.model, &later, Priors::Adapted, print)?;
    say(
        "\nwhich words decided, for the first two later mails (integrated gradients over the n-grams):",
    );
    let spam_explanation = out.join("spam.explain.html");
    explain::explain(
        ExplainArgs {
            model: spam.model.clone(),
            data: later.clone(),
            method: MethodArg::Auto,
            rows: Some("0-1".into()),
            background: 16,
            samples: 0,
            seed: 42,
            out: None,
            report: Some(spam_explanation.clone()),
            json: false,
        },
        print,
    )?;
    say(
        "\n== 15. text read in order: a GRU over the words of the same mails (--text-model gru: each mail's first 256 words as tokens, 4 epochs), tested on the later mails",
    );
    let gru = commands::train(
        TrainArgs {
            epochs: Some(4),
            text_model: Some(commands::TextModelArg::Gru),
            class_weight: Some(commands::ClassWeightArg::Balanced),
            ..train_args(
                out.join("spam_train.jsonl.gz"),
                Some("label"),
                out,
                "spam-gru",
            )
        },
        print,
    )?;
    say("\nthe later mails:");
    let gru_later = commands::evaluate(&gru.model, &later, Priors::Training, print)?;
    say(
        "\n== 16. transfer learning: the Fashion-MNIST slice through a pretrained CNN (--pretrained model.onnx: PaddleOCR's MobileNetV3, frozen), an MLP trained on its 200 features",
    );
    let onnx = out.join(PRETRAINED_CNN.0);
    kiln::atomic::write_atomic(&onnx, PRETRAINED_CNN.1).map_err(|e| write_err(&onnx, e))?;
    let transfer = commands::train(
        TrainArgs {
            pretrained: Some(onnx),
            ..train_args(
                out.join("fashion-mnist-small"),
                None,
                out,
                "fashion-mnist-transfer",
            )
        },
        print,
    )?;
    say(&format!(
        "a network trained on text directions sees clothes well enough for {:.1}% (the CNN above, trained on the pixels: {:.1}%)",
        accuracy_percent(&transfer),
        accuracy_percent(&cnn)
    ));
    say(&format!(
        "\nopen {} for the learning curves, metrics and confusion matrix, {} for the image model's, {} for the spam filter's (and {} for its words), {} for the explanations, {} for the tuning and {} for the monitoring.",
        trained.report.display(),
        cnn.report.display(),
        spam.report.display(),
        spam_explanation.display(),
        explanation_report.display(),
        tune_report.display(),
        monitor_report.display()
    ));
    if json {
        let m = &trained.manifest;
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": trained.model,
                "report": trained.report,
                "test_metrics": m.test_metrics,
                "resumed": {"test_metrics": resumed.test_metrics, "same_as_uninterrupted": same},
                "spreadsheet_export": {"test_metrics": export.test_metrics, "same_as_plain": export_same},
                "holdout_metrics": evaluation,
                "predictions": predictions,
                "holdout_validation": {"passed": clean.passed, "errors": clean.errors},
                "damaged_validation": {"passed": broken.passed, "errors": broken.errors,
                    "anomalies": broken.anomalies},
                "explanation": explanation,
                "serving": served,
                "monitoring": {"holdout_alert": holdout_alert, "damaged_alert": damaged_alert},
                "update": updated,
                "registry": registry,
                "images": {"model": cnn.model, "test_metrics": cnn.manifest.test_metrics,
                    "notes": cnn.manifest.notes, "augment_preview": preview_path},
                "images_best": {
                    "model": best.model,
                    "test_metrics": best.manifest.test_metrics,
                    "time_limit_seconds": time_limit.as_secs_f64(),
                    "epochs": best.manifest.curve.len(),
                },
                "text": {"model": spam.model, "test_metrics": spam.manifest.test_metrics,
                    "later_mails": spam_later, "later_mails_adapted_priors": spam_adapted},
                "text_gru": {"model": gru.model, "test_metrics": gru.manifest.test_metrics,
                    "later_mails": gru_later},
                "transfer": {"model": transfer.model,
                    "test_metrics": transfer.manifest.test_metrics},
            }))
            .expect("json")
        );
    }
    Ok(())
}

/// Registry steps: the trained model promoted, its update judged by the gate, a loop round
/// on the damaged rows, and a rollback. Returns the figures.
fn registry_steps(
    out: &Path,
    trained: &Path,
    updated: &Path,
    damaged: &Path,
    say: &dyn Fn(&str),
) -> Result<serde_json::Value, KilnError> {
    use kiln::registry::{Gate, Registry};
    let folder = out.join("registry");
    // A fresh registry each run, so the version numbers below hold.
    if folder.exists() {
        std::fs::remove_dir_all(&folder).map_err(|e| KilnError::write(&folder, e))?;
    }
    let registry = Registry::open(&folder.display().to_string())?;
    let name = "breast_cancer";
    let gate = Gate::default();
    let verdict = |p: &kiln::registry::Promotion| match p.version {
        Some(v) => format!("promoted as version {v}: {}", p.gate.reason),
        None => format!(
            "rejected, the serving version is unchanged: {}",
            p.gate.reason
        ),
    };
    registry.push(name, trained)?;
    let first = registry.promote(name, None, &gate)?;
    say(&format!("trained model {}", verdict(&first)));
    registry.push(name, updated)?;
    let second = registry.promote(name, None, &gate)?;
    say(&format!("updated model {}", verdict(&second)));
    let round = kiln::continual::run_round(
        &registry,
        name,
        damaged,
        None,
        &kiln::continual::LoopOptions::default(),
    )?;
    say(&format!(
        "loop round on the damaged rows: {} ({} rows, {} labelled){}",
        round.outcome,
        round.rows,
        round.labelled,
        match (&round.promotion, &round.error) {
            (Some(p), _) => format!("; update {}", verdict(p)),
            (None, Some(e)) => format!(": {e}; the serving version is unchanged"),
            (None, None) => String::new(),
        }
    ));
    let before = registry.versions(name)?;
    let rolled = if before.len() > 1 {
        let now = registry.rollback(name, None)?;
        say(&format!(
            "rollback: version {} retired, version {now} serves again",
            before.last().copied().unwrap_or_default()
        ));
        Some(now)
    } else {
        None
    };
    say(&format!(
        "see it all: kiln registry list {name} --registry {}; serve it: kiln serve {}",
        folder.display(),
        folder.display()
    ));
    Ok(json!({
        "first": first, "second": second, "loop": round, "rolled_back_to": rolled,
        "events": registry.events(name)?,
    }))
}

/// What serving the held-back rows measured.
#[derive(serde::Serialize)]
struct Served {
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_difference: f64,
}

/// A served row: its index, the request's latency in ms, and the server's answer.
type Answer = (usize, f64, serde_json::Value);

/// Serves `model` on a free port, sends each held-back row as its own request from 8 client
/// threads, checks every answer against `kiln predict`, and stops the server.
fn serve(model: &Path, holdout_csv: &str) -> Result<Served, KilnError> {
    let server_error = |e: kiln_serve::ServeError| KilnError::Config(e.0);
    let bundle = kiln::Bundle::load(model)?;
    let table =
        kiln::data::read::read_csv(std::io::BufReader::new(holdout_csv.as_bytes()), "holdout")?;
    let expected = kiln::predict(&bundle, &table, Priors::Training)?;
    let target = bundle.manifest.target.column.clone();
    let bodies: Vec<String> = (0..table.n_rows())
        .map(|row| {
            let inputs: Vec<serde_json::Value> = table
                .columns
                .iter()
                .filter(|c| c.name != target)
                .map(|c| json!({"name": c.name, "shape": [1], "datatype": "BYTES", "data": [c.cells[row].as_text()]}))
                .collect();
            json!({ "inputs": inputs }).to_string()
        })
        .collect();
    let server = kiln_serve::RunningServer::start(kiln_serve::ServeOptions {
        paths: vec![model.to_path_buf()],
        host: "127.0.0.1".into(),
        port: 0,
        batch: kiln_serve::BatchPolicy {
            max_batch: 256,
            max_delay: std::time::Duration::ZERO,
            queue: 1024,
        },
        threads: 0,
        token_file: None,
        max_body: 1 << 20,
        timeout: std::time::Duration::from_secs(30),
        poll: std::time::Duration::from_secs(3600),
        versions: kiln_serve::VersionPolicy::Latest(1),
        log: None,
        json_logs: false,
        drift_rows: 0,
        drift_every: std::time::Duration::from_secs(3600),
    })
    .map_err(server_error)?;
    let address = server.address();
    let name = kiln_serve::repository::bundle_model_name(model);
    let path = format!("/v2/models/{name}/infer");
    let clients = 8;
    let start = std::time::Instant::now();
    let answers: Vec<Result<Vec<Answer>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let (bodies, path) = (&bodies, &path);
                scope.spawn(move || {
                    (client..bodies.len())
                        .step_by(clients)
                        .map(|row| {
                            let sent = std::time::Instant::now();
                            let reply = post(address, path, &bodies[row])?;
                            Ok((row, sent.elapsed().as_secs_f64() * 1e3, reply))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    server.stop().map_err(server_error)?;
    let mut latencies = Vec::new();
    let mut max_difference = 0f64;
    for (row, ms, reply) in answers
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(KilnError::Config)?
        .into_iter()
        .flatten()
    {
        latencies.push(ms);
        let got = reply["outputs"][1]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let want = &expected.rows[row][1..];
        if got.len() != want.len() {
            return Err(KilnError::Config(format!(
                "the server's answer for row {row} has no probabilities: {reply}"
            )));
        }
        for (g, w) in got.iter().zip(want) {
            let w: f64 = w.parse().unwrap_or(f64::NAN);
            let difference = (g.as_f64().unwrap_or(f64::NAN) - w).abs();
            // A NaN (a missing or unreadable value) counts as an infinite difference.
            max_difference = max_difference.max(if difference.is_nan() {
                f64::INFINITY
            } else {
                difference
            });
        }
    }
    if max_difference >= 1e-5 {
        return Err(KilnError::Config(format!(
            "the server's answers differ from kiln predict by up to {max_difference}"
        )));
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Served {
        requests: latencies.len(),
        seconds,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_difference,
    })
}

/// One HTTP/1.1 POST; the JSON answer, or why there is none.
fn post(
    address: std::net::SocketAddr,
    path: &str,
    body: &str,
) -> Result<serde_json::Value, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("the answer has no body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "the server answered {}: {body}",
            head.lines().next().unwrap_or_default()
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))
}

/// The table split into (four of every five rows, every fifth row), each with the header.
fn split_every_fifth(csv: &str) -> (String, String) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    let (mut train, mut holdout) = (format!("{header}\n"), format!("{header}\n"));
    for (i, line) in lines.enumerate() {
        let part = if i % 5 == 4 { &mut holdout } else { &mut train };
        part.push_str(line);
        part.push('\n');
    }
    (train, holdout)
}

/// The table damaged five ways: its fifth column dropped, text in one cell of the second,
/// the third scaled by 1.5, every third value of the fourth missing, and a label the model
/// never saw in every tenth row of the last.
fn damage(csv: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells: Vec<String> = line.split(',').map(String::from).collect();
            cells.remove(4);
            if i > 0 {
                if i == 3 {
                    cells[1] = "n/a-typo".into();
                }
                if let Ok(v) = cells[2].parse::<f64>() {
                    cells[2] = format!("{:.4}", v * 1.5);
                }
                if i % 3 == 0 {
                    cells[3].clear();
                }
                if i % 10 == 0
                    && let Some(last) = cells.last_mut()
                {
                    *last = "uncertain".into();
                }
            }
            cells.join(",") + "\n"
        })
        .collect()
}

/// The first `rows` data rows with columns in reverse order and a `note` column added.
fn reorder_with_extra(csv: &str, rows: usize) -> String {
    csv.lines()
        .take(rows + 1)
        .enumerate()
        .map(|(i, line)| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.reverse();
            let extra = if i == 0 { "note" } else { "from the demo" };
            format!("{},{extra}\n", cells.join(","))
        })
        .collect()
}
