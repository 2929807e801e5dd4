//! Atomic file writes: a temporary file in the same folder, synced, then renamed over the
//! target, so a crash or Ctrl-C never leaves a half-written model or report.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the temporary files of one process, so that concurrent writes never share one.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same folder, synced to disk and
/// then renamed over `path`. On failure the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path)?;
    let result = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        // Best effort: the write's own error is the one worth reporting.
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `.{name}.tmp-{pid}-{n}` next to `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temp))
}

/// Creates `path` holding `bytes`, flushed and synced to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty folder in the way: the final rename must fail.
        let path = dir.path().join("report.html");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        assert!(write_atomic(&path, b"page").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(Path::new("/"), b"page").is_err());
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        assert!(write_atomic(Path::new("/nonexistent-kiln-dir/x"), b"1").is_err());
    }
}
