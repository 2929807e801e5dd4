//! The training progress bar (epochs, losses, metric, rate and ETA) and Ctrl-C handling.

use indicatif::{ProgressBar, ProgressStyle};
use kiln::training::EpochReport;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A progress bar over epochs, drawn on stderr only when it is a terminal.
pub struct EpochBar {
    bar: ProgressBar,
}

impl EpochBar {
    /// A bar with no epochs yet.
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} epoch {pos}/{len} [{bar:30}] {per_sec} ETA ≤ {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Self { bar }
    }

    /// Records one epoch.
    pub fn epoch(&self, report: &EpochReport) {
        let r = report.record;
        self.bar.set_length(report.batches.max_epochs as u64);
        self.bar.set_position(r.epoch as u64);
        self.bar.set_message(format!(
            "loss {:.4}/{:.4} {} {:.4}/{:.4} (train/valid)",
            r.train_loss, r.valid_loss, report.metric, r.train_metric, r.valid_metric
        ));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Installs a Ctrl-C handler: the first press sets the returned flag and says what happens
/// now (`doing`, such as finishing the epoch and saving the best model so far); a second press
/// exits at once.
pub fn stop_on_ctrl_c(doing: &'static str) -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(flag) = FLAG.get() {
        // Installed already (the demo runs several commands): reuse it, cleared.
        flag.store(false, Ordering::SeqCst);
        return flag.clone();
    }
    let flag = FLAG
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    let handler_flag = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: {doing} (Ctrl-C again to quit)");
    });
    if installed.is_err() {
        eprintln!("warning: cannot catch Ctrl-C; interrupting will not save the model");
    }
    flag
}

/// A progress bar over a pass through a data file: bytes where the size is known, else rows.
pub struct PassBar {
    bar: ProgressBar,
}

impl PassBar {
    /// A bar with nothing read yet, labelled `what`.
    pub fn new(what: &str) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_message(what.to_string());
        Self { bar }
    }

    /// Records progress.
    pub fn update(&self, p: kiln::profile::Progress) {
        match p.total_bytes {
            Some(total) if self.bar.length() != Some(total) => {
                self.bar.set_length(total);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
            }
            None if self.bar.length() == Some(0) => {
                self.bar.set_length(u64::MAX);
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows {per_sec}")
                        .expect("valid template"),
                );
            }
            _ => {}
        }
        self.bar.set_position(match p.total_bytes {
            Some(_) => p.position,
            None => p.rows,
        });
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
