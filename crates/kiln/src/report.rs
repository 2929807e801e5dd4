//! The HTML report of a training run: data summary, what Kiln decided, learning curves,
//! test metrics and the confusion matrix.

use crate::bundle::Manifest;
use kiln_report::{Level, Report, Section, Series};
use kiln_train::Objective;

/// Builds the report of a training run from its manifest.
pub fn train_report(m: &Manifest) -> Report {
    let d = &m.data;
    let mut sections = vec![Section::KeyValues {
        title: "Data".into(),
        rows: vec![
            ("file".into(), d.source.clone()),
            ("rows".into(), d.rows.to_string()),
            ("target".into(), m.target.column.clone()),
            ("task".into(), m.target.task.to_string()),
            (
                "split (train / validation / test)".into(),
                format!("{} / {} / {}", d.train_rows, d.valid_rows, d.test_rows),
            ),
            (
                "features used".into(),
                m.preprocessor.features.len().to_string(),
            ),
            ("network inputs".into(), m.network.inputs.to_string()),
        ],
    }];
    sections.push(Section::Table {
        title: "Test metrics".into(),
        header: vec!["metric".into(), "test".into(), "validation".into()],
        rows: m
            .test_metrics
            .pairs()
            .into_iter()
            .map(|(name, v)| {
                let valid = m
                    .valid_metrics
                    .pairs()
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .map_or(String::new(), |(_, v)| format!("{v:.4}"));
                vec![name.to_string(), format!("{v:.4}"), valid]
            })
            .collect(),
    });
    let metric = m.objective.metric_name();
    let best = Some((m.best_epoch as f64, format!("kept epoch {}", m.best_epoch)));
    let series = |name: &str, f: fn(&kiln_train::EpochRecord) -> f64| Series {
        name: name.into(),
        points: m.curve.iter().map(|r| (r.epoch as f64, f(r))).collect(),
    };
    sections.push(Section::LineChart {
        title: "Learning curve: loss".into(),
        x_label: "epoch".into(),
        y_label: if matches!(m.objective, Objective::Regression { .. }) {
            "mean squared error (standardised)".into()
        } else {
            "log loss".into()
        },
        series: vec![
            series("train", |r| r.train_loss),
            series("validation", |r| r.valid_loss),
        ],
        marker: best.clone(),
    });
    sections.push(Section::LineChart {
        title: format!("Learning curve: {metric}"),
        x_label: "epoch".into(),
        y_label: metric.into(),
        series: vec![
            series("train", |r| r.train_metric),
            series("validation", |r| r.valid_metric),
        ],
        marker: best,
    });
    if let Some(cm) = &m.confusion_matrix {
        sections.push(Section::Heatmap {
            title: "Confusion matrix (test rows)".into(),
            row_axis: "actual".into(),
            col_axis: "predicted".into(),
            row_labels: m.target.classes.clone(),
            col_labels: m.target.classes.clone(),
            values: cm
                .iter()
                .map(|r| r.iter().map(|&v| v as f64).collect())
                .collect(),
        });
    }
    sections.push(Section::Notes {
        title: "What Kiln decided and noticed".into(),
        items: m
            .notes
            .iter()
            .map(|n| {
                let warn = n.starts_with("overfitting")
                    || n.starts_with("train/validation gap")
                    || n.starts_with("data warning")
                    || n.starts_with("data error");
                (if warn { Level::Warning } else { Level::Info }, n.clone())
            })
            .collect(),
    });
    sections.push(Section::Table {
        title: "Columns".into(),
        header: vec!["column".into(), "use".into(), "network inputs".into()],
        rows: m
            .preprocessor
            .features
            .iter()
            .map(|f| {
                vec![
                    f.column.clone(),
                    format!("{:?}", f.kind).to_lowercase(),
                    f.encoder.width().to_string(),
                ]
            })
            .chain(
                m.preprocessor
                    .dropped
                    .iter()
                    .map(|(c, r)| vec![c.clone(), format!("dropped: {r}"), "0".into()]),
            )
            .collect(),
    });
    sections.push(Section::KeyValues {
        title: "Model and training".into(),
        rows: vec![
            ("network".into(), m.network.describe()),
            (
                "optimiser".into(),
                format!(
                    "AdamW, learning rate {}, weight decay {}, batch {}",
                    m.config.train.learning_rate, m.config.train.weight_decay, m.batches.batch_size
                ),
            ),
            ("stopped".into(), m.stop_reason.clone()),
            ("training time".into(), format!("{:.1} s", m.train_seconds)),
            ("seed".into(), m.seed.to_string()),
            ("Kiln version".into(), m.kiln_version.clone()),
        ],
    });
    Report {
        title: format!("kiln train: {}", m.data.source),
        subtitle: format!(
            "target '{}' · {} · seed {}",
            m.target.column, m.target.task, m.seed
        ),
        sections,
    }
}
