//! `kiln train` on a folder of IDX image files: a convolutional network learns shapes it can
//! only tell apart by where bright pixels lie together, the bundle evaluates and predicts pixel
//! rows from a CSV, the same seed gives the same model, and broken files are named.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

mod common;
use common::kiln;

const SIDE: usize = 16;

/// One grey image of class 0 (a horizontal bar), 1 (a vertical bar) or 2 (a square), placed at
/// random over noise: every class lights about as many pixels, so only their arrangement
/// separates them.
fn image(class: u8, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut px: Vec<u8> = (0..SIDE * SIDE).map(|_| rng.random_range(0..60)).collect();
    let at = rng.random_range(2..SIDE - 6);
    let along = rng.random_range(0..4);
    let mut light = |y: usize, x: usize| px[y * SIDE + x] = rng.random_range(180..=255);
    match class {
        0 => (along..along + 12).for_each(|x| (at..at + 2).for_each(|y| light(y, x))),
        1 => (along..along + 12).for_each(|y| (at..at + 2).for_each(|x| light(y, x))),
        _ => (at..at + 5).for_each(|y| (along..along + 5).for_each(|x| light(y, x))),
    }
    px
}

/// IDX bytes: the unsigned-byte signature, the dimensions, the values.
fn idx(dims: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}

/// Writes `n` images and labels as `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte`,
/// and returns them.
fn write_set(dir: &Path, prefix: &str, n: usize, seed: u64) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let images: Vec<Vec<u8>> = labels.iter().map(|&c| image(c, &mut rng)).collect();
    std::fs::write(
        dir.join(format!("{prefix}-images-idx3-ubyte")),
        idx(&[n, SIDE, SIDE], &images.concat()),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{prefix}-labels-idx1-ubyte")),
        idx(&[n], &labels),
    )
    .unwrap();
    (images, labels)
}

const CONFIG: &str = "[image]\nstages = [8, 16]\nconvs_per_stage = 1\nhidden = 32\n[train]\nepochs = 8\nbatch_size = 32\n";

fn train(dir: &Path, out: &str) -> serde_json::Value {
    let o = kiln(
        &[
            "train", "shapes", "--config", "c.toml", "--out", out, "--json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_cnn_learns_image_folders_and_its_bundle_takes_pixel_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("shapes");
    std::fs::create_dir(&data).unwrap();
    write_set(&data, "train", 600, 1);
    let (test_images, test_labels) = write_set(&data, "t10k", 150, 2);
    std::fs::write(d.join("c.toml"), CONFIG).unwrap();

    let first = train(d, "a.kiln");
    let accuracy = first["test_metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "test accuracy {accuracy}: {first}");
    let notes = first["notes"].to_string();
    assert!(
        notes.contains("CNN") && notes.contains("augmentation"),
        "{notes}"
    );
    assert!(notes.contains("own test files (150 images)"), "{notes}");

    // The same seed gives the same model.
    let second = train(d, "b.kiln");
    assert_eq!(first["test_metrics"], second["test_metrics"]);

    // The bundle reads pixel rows from a table, as serving and prediction do.
    let header: Vec<String> = (1..=SIDE * SIDE).map(|i| format!("pixel{i}")).collect();
    let mut csv = format!("label,{}\n", header.join(","));
    for (px, label) in test_images.iter().zip(&test_labels) {
        let row: Vec<String> = px.iter().map(|p| p.to_string()).collect();
        csv.push_str(&format!("{label},{}\n", row.join(",")));
    }
    std::fs::write(d.join("test.csv"), csv).unwrap();
    let o = kiln(&["evaluate", "a.kiln", "test.csv", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let evaluation: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(evaluation["rows"], 150);
    let loss = |v: &serde_json::Value| v["log_loss"].as_f64().unwrap();
    assert!(
        (loss(&evaluation) - loss(&first["test_metrics"])).abs() < 1e-9,
        "the pixel table scores as the IDX test files did: {evaluation} vs {first}"
    );
    let mut bad = format!("label,{}\n0", header.join(","));
    for i in 0..SIDE * SIDE {
        bad.push_str(if i == 5 { ",300" } else { ",0" });
    }
    std::fs::write(d.join("bad.csv"), bad + "\n").unwrap();
    let o = kiln(&["predict", "a.kiln", "bad.csv"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pixel6") && err.contains("0 to 255") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn broken_image_files_are_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("shapes");
    std::fs::create_dir(&data).unwrap();
    write_set(&data, "train", 30, 1);
    let images = data.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() - 100]).unwrap();
    let o = kiln(&["train", "shapes"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_file(data.join("train-labels-idx1-ubyte")).unwrap();
    std::fs::write(&images, &bytes).unwrap();
    let o = kiln(&["train", "shapes"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("labels-idx1-ubyte"), "{err}");
}
