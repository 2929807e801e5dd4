//! The checkpoint file of a training run: read to resume an interrupted run, rewritten
//! atomically while training, so that Ctrl-C or a crash costs at most a minute of work.

use crate::atomic::write_atomic;
use kiln_train::{Checkpoint, Checkpoints};
use std::path::Path;

/// Seconds of training between checkpoints (one is also written when training ends or is
/// stopped).
const CHECKPOINT_SECONDS: f64 = 60.0;

/// Runs `fit` with checkpoints kept at `path` (none when `path` is `None`), resuming from the
/// checkpoint already there if the same data, settings and seed wrote it. What happened goes
/// into `notes`.
pub(crate) fn with_checkpoints<R>(
    path: Option<&Path>,
    notes: &mut Vec<String>,
    fit: impl FnOnce(Option<&mut Checkpoints>) -> R,
) -> R {
    let Some(path) = path else {
        return fit(None);
    };
    let resume = match std::fs::read(path) {
        Ok(bytes) => Checkpoint::from_bytes(&bytes)
            .map_err(|e| notes.push(format!("ignored {}: {e}", path.display())))
            .ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            notes.push(format!("could not read {}: {e}", path.display()));
            None
        }
    };
    let mut failed = None;
    let mut save = |checkpoint: &Checkpoint| {
        if let Err(e) = write_atomic(path, &checkpoint.to_bytes()) {
            failed.get_or_insert_with(|| e.to_string());
        }
    };
    let mut checkpoints = Checkpoints {
        resume,
        every_seconds: CHECKPOINT_SECONDS,
        save: &mut save,
        resumed: None,
    };
    let out = fit(Some(&mut checkpoints));
    match checkpoints.resumed.take() {
        Some(Ok(epoch)) => notes.push(format!(
            "resumed after epoch {epoch} from {}, the checkpoint of an interrupted run with the same data, settings and seed",
            path.display()
        )),
        Some(Err(why)) => notes.push(format!(
            "did not resume from {}: {why}; started over",
            path.display()
        )),
        None => {}
    }
    if let Some(e) = failed {
        notes.push(format!(
            "could not write the checkpoint {}: {e}; an interrupted run will start over",
            path.display()
        ));
    }
    out
}
