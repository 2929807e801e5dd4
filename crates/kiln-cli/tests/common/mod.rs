//! What every end-to-end test of the `kiln` command shares.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `kiln` binary under test with `args` in `dir`.
pub fn kiln(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("kiln runs")
}
