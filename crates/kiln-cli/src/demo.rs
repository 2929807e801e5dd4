//! `kiln demo`: the whole pipeline on the bundled UCI breast cancer table (CC BY 4.0).

use crate::commands::{self, TrainArgs};
use kiln::KilnError;
use serde_json::json;
use std::path::Path;

/// The bundled data set, embedded so the demo runs anywhere.
const BREAST_CANCER: &str = include_str!("../../../datasets/breast_cancer.csv");

/// Runs the demo in folder `out`.
pub fn run(out: &Path, json: bool) -> Result<(), KilnError> {
    let write_err = |path: &Path, e: std::io::Error| KilnError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
    let data = out.join("breast_cancer.csv");
    kiln::atomic::write_atomic(&data, BREAST_CANCER.as_bytes()).map_err(|e| write_err(&data, e))?;
    let say = |s: &str| {
        if !json {
            println!("{s}");
        }
    };
    say("== 1. train: UCI breast cancer (569 rows, 30 features), target 'diagnosis', no options");
    let trained = commands::train(TrainArgs {
        data: data.clone(),
        target: Some("diagnosis".into()),
        config: None,
        out: Some(out.join("breast_cancer.kiln")),
        report: Some(out.join("breast_cancer.report.html")),
        seed: None,
        task: None,
        epochs: None,
        json: false,
    })?;
    say("\n== 2. predict: five rows, columns shuffled and an extra column added");
    let sample = out.join("new_patients.csv");
    let shuffled = reorder_with_extra(BREAST_CANCER, 5);
    kiln::atomic::write_atomic(&sample, shuffled.as_bytes()).map_err(|e| write_err(&sample, e))?;
    let predictions = out.join("predictions.csv");
    commands::predict(&trained.model, &sample, Some(&predictions))?;
    let text = std::fs::read_to_string(&predictions).map_err(|e| write_err(&predictions, e))?;
    say(text.trim_end());
    say("\n== 3. evaluate: the model on the whole table (mostly rows it was trained on)");
    if !json {
        commands::evaluate(&trained.model, &data, false)?;
    }
    say(&format!(
        "\nopen {} to see the learning curves, metrics and confusion matrix.",
        trained.report.display()
    ));
    if json {
        let m = &trained.manifest;
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": trained.model,
                "report": trained.report,
                "test_metrics": m.test_metrics,
                "predictions": predictions,
            }))
            .expect("json")
        );
    }
    Ok(())
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
