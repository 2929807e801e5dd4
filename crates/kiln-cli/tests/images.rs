//! `kiln train` on image data: a convolutional network learns shapes from IDX files that it can
//! only tell apart by where bright pixels lie together, the bundle evaluates and predicts pixel
//! rows from a CSV, a table of pixel columns trains the same kind of network, the same seed
//! gives the same model, and broken files are named; a class-folder tree of Fashion-MNIST PNG
//! files trains with no options, and its model predicts image files; a pretrained ONNX network
//! turns the images into features for the network to learn from, at training and prediction
//! alike.

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
    // The data set's folder evaluates on its own test files, as training did.
    let o = kiln(&["evaluate", "a.kiln", "shapes", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_folder: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(from_folder["rows"], 150);
    assert!(
        (loss(&from_folder) - loss(&first["test_metrics"])).abs() < 1e-9,
        "{from_folder} vs {first}"
    );
    assert!(
        from_folder["notes"][0]
            .as_str()
            .unwrap()
            .contains("its own test images"),
        "{from_folder}"
    );
    // A table of pixel columns trains a CNN too.
    let o = kiln(
        &[
            "train", "test.csv", "--target", "label", "--config", "c.toml", "--out", "t.kiln",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_table: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let notes = from_table["notes"].to_string();
    assert!(
        notes.contains("CNN") && notes.contains("image table: 256 pixel columns read as 16×16"),
        "{notes}"
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

/// Writes `count` images of Fashion-MNIST class `label` from the bundled slice's `prefix` files
/// as PNG files in `dir`, starting at the `skip`th image of that class.
fn write_pngs(prefix: &str, label: usize, skip: usize, count: usize, dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/fashion-mnist-small");
    let set = kiln_data::image::read_idx_pair(
        &root.join(format!("{prefix}-images-idx3-ubyte.gz")),
        &root.join(format!("{prefix}-labels-idx1-ubyte.gz")),
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let wanted = (0..set.len()).filter(|&i| set.labels[i] == label);
    for (n, i) in wanted.skip(skip).take(count).enumerate() {
        image::GrayImage::from_raw(28, 28, set.image(i).to_vec())
            .unwrap()
            .save(dir.join(format!("{n:03}.png")))
            .unwrap();
    }
}

#[test]
fn an_image_folder_tree_trains_with_no_options_and_its_model_predicts_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("clothes");
    write_clothes(&root, 100);
    // One truncated file, one file that is no image, one image of another size.
    let good = std::fs::read(root.join("train/bag/000.png")).unwrap();
    std::fs::write(root.join("train/bag/cut.png"), &good[..good.len() / 2]).unwrap();
    std::fs::write(root.join("train/trouser/notes.txt"), "not an image").unwrap();
    image::GrayImage::from_pixel(40, 30, image::Luma([0u8]))
        .save(root.join("train/sneaker/big.png"))
        .unwrap();

    let o = kiln(&["train", "clothes", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let accuracy = run["test_metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.85, "test accuracy {accuracy}: {run}");
    let notes = run["notes"].to_string();
    for expected in [
        "3 classes of 28×28 images with 1 channel",
        "own test files (90 images)",
        "skipped 1 unreadable image file",
        "cut.png",
        "ignored 1 files that are not images",
        "resized 1 images to 28×28",
    ] {
        assert!(notes.contains(expected), "{expected}: {notes}");
    }

    evaluating_the_folders_scores_the_test_images(d, &run);

    let o = kiln(&["predict", "clothes.kiln", "clothes/test", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 90);
    let right = share_right(&rows);
    assert!(right > 0.85, "{right} of the files predicted right");
    let o = kiln(&["predict", "clothes.kiln", "clothes/test/bag/001.png"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("file,label,probability_bag"));
    let o = kiln(&["predict", "clothes.kiln", "clothes/train/bag/cut.png"], d);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cut.png"));

    // Heat maps: integrated gradients add up to the change in probability from a black image.
    let o = kiln(
        &[
            "explain",
            "clothes.kiln",
            "clothes/test/bag",
            "--rows",
            "4",
            "--out",
            "heat.png",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let explained: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let images = explained["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for e in images {
        let f = |k: &str| e[k].as_f64().unwrap();
        let gap = f("probability") - f("baseline");
        assert!(
            (f("total") - gap).abs() < 0.05 + 0.1 * gap.abs(),
            "integrated gradients sum to {} for a change of {gap}: {e}",
            f("total")
        );
    }
    let picture = image::open(d.join("heat.png")).unwrap();
    // 3 tiles across (image, heat map, overlay) and 4 down, 28 pixels enlarged 4 times.
    assert_eq!(
        (picture.width(), picture.height()),
        (4 + 3 * 116, 4 + 4 * 116)
    );
    let o = kiln(
        &[
            "explain",
            "clothes.kiln",
            "clothes/test/bag/000.png",
            "--method",
            "gradient",
            "--out",
            "g.png",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("g.png").exists());
    let o = kiln(
        &[
            "explain",
            "clothes.kiln",
            "clothes/test/bag",
            "--method",
            "kernel",
        ],
        d,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("for images use ig"));

    // An empty class folder is refused with what to do.
    std::fs::create_dir_all(root.join("train/coat")).unwrap();
    let o = kiln(&["train", "clothes"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("class folder 'coat' has no images"), "{err}");
}

/// A clothes tree of Fashion-MNIST PNG files: trousers, sneakers and bags, `train` of each to
/// train on and 30 of each as the test set.
/// `kiln evaluate` on the clothes data set scores its 90 test images as training did, and on
/// its test folder alone (class folders, no train/test split) all 90 of them.
fn evaluating_the_folders_scores_the_test_images(d: &Path, run: &serde_json::Value) {
    let evaluate = |folder: &str| -> serde_json::Value {
        let o = kiln(&["evaluate", "clothes.kiln", folder, "--json"], d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let evaluation = evaluate("clothes");
    assert_eq!(evaluation["rows"], 90, "{evaluation}");
    assert_eq!(
        evaluation["accuracy"], run["test_metrics"]["accuracy"],
        "the test folder scores as in training"
    );
    assert_eq!(evaluate("clothes/test")["rows"], 90);
    // A class the model never saw is named, with the classes it knows.
    write_pngs("t10k", 0, 0, 3, &d.join("other/t-shirt"));
    let o = kiln(&["evaluate", "clothes.kiln", "other"], d);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("class 't-shirt'") && err.contains("bag, sneaker, trouser"),
        "{err}"
    );
}

fn write_clothes(root: &Path, train: usize) {
    for (label, name) in [(1, "trouser"), (7, "sneaker"), (8, "bag")] {
        write_pngs("train", label, 0, train, &root.join("train").join(name));
        write_pngs("t10k", label, 0, 30, &root.join("test").join(name));
    }
}

/// The share of predicted files whose class folder is the predicted label.
fn share_right(rows: &[serde_json::Value]) -> f64 {
    let right = rows
        .iter()
        .filter(|r| {
            let file = r["file"].as_str().unwrap();
            file.contains(&format!("/{}/", r["label"].as_str().unwrap()))
        })
        .count();
    right as f64 / rows.len() as f64
}

#[test]
fn a_pretrained_onnx_network_turns_images_into_the_features_the_head_learns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_clothes(&d.join("clothes"), 60);
    // A small CNN (3×10×12 input, 6 features before its linear layer), kept for the ONNX
    // runner's tests against ONNX Runtime.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiln-onnx/tests/fixtures");
    std::fs::copy(fixtures.join("tiny_cnn.onnx"), d.join("cnn.onnx")).unwrap();

    let o = kiln(
        &["train", "clothes", "--pretrained", "cnn.onnx", "--json"],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let notes = run["notes"].to_string();
    for expected in [
        "pretrained features: the 6 values before the last linear layer",
        "resized to 3×10×12",
        "MLP: 6 inputs",
    ] {
        assert!(notes.contains(expected), "{expected}: {notes}");
    }
    let accuracy = run["test_metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.5, "test accuracy {accuracy} (chance: 0.33)");
    let o = kiln(&["inspect", "clothes.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let backbone = &manifest["preprocessor"]["backbone"];
    assert!(
        backbone["model"].as_str().unwrap().starts_with('/'),
        "stored absolute: {backbone}"
    );
    assert_eq!(backbone["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["network"]["inputs"], 6);

    // Prediction runs the same network on the files: the test files are the test set, so the
    // share predicted right is the test accuracy.
    evaluating_the_folders_scores_the_test_images(d, &run);

    let o = kiln(&["predict", "clothes.kiln", "clothes/test", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 90);
    assert!((share_right(&rows) - accuracy).abs() < 1e-9);

    // Heat maps by occlusion (the default here); gradients cannot pass through the network.
    let o = kiln(
        &[
            "explain",
            "clothes.kiln",
            "clothes/test/bag",
            "--rows",
            "2",
            "--out",
            "heat.png",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let explained: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(explained["method"], "occlusion");
    assert_eq!(explained["images"].as_array().unwrap().len(), 2);
    assert!(d.join("heat.png").exists());
    let o = kiln(
        &[
            "explain",
            "clothes.kiln",
            "clothes/test/bag",
            "--method",
            "ig",
        ],
        d,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--method occlusion"));

    // Another file at the network's path is refused by its checksum; no file, by its path.
    std::fs::copy(fixtures.join("tiny_ops.onnx"), d.join("cnn.onnx")).unwrap();
    let o = kiln(&["predict", "clothes.kiln", "clothes/test/bag/000.png"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SHA-256") && err.contains("cnn.onnx"), "{err}");
    std::fs::remove_file(d.join("cnn.onnx")).unwrap();
    let o = kiln(&["predict", "clothes.kiln", "clothes/test/bag/000.png"], d);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cnn.onnx"));
    // A path in the config file is checked (and kept absolute) as the flag's is.
    std::fs::write(
        d.join("p.toml"),
        "[preprocess]\npretrained = \"gone.onnx\"\n",
    )
    .unwrap();
    let o = kiln(&["train", "clothes", "--config", "p.toml"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("preprocess.pretrained") && err.contains("gone.onnx"),
        "{err}"
    );
    // A folder (a text encoder's checkpoint) is no image network.
    let o = kiln(&["train", "clothes", "--pretrained", "clothes"], d);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(".onnx image model"));
}

/// A real pretrained network (PaddleOCR's MobileNet text-direction classifier, bundled in
/// datasets/pretrained): its frozen features tell clothes apart.
#[test]
fn a_head_on_mobilenet_features_tells_clothes_apart() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/pretrained/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let model = model.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_clothes(&d.join("clothes"), 100);
    let o = kiln(&["train", "clothes", "--pretrained", model, "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let notes = run["notes"].to_string();
    assert!(notes.contains("the 200 values"), "{notes}");
    let accuracy = run["test_metrics"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.75,
        "test accuracy {accuracy} (chance: 0.33): {notes}"
    );
    let o = kiln(&["predict", "clothes.kiln", "clothes/test", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!((share_right(&rows) - accuracy).abs() < 1e-9);
}

#[test]
fn augment_preview_draws_a_seeded_grid_of_every_class() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("shapes");
    std::fs::create_dir(&data).unwrap();
    write_set(&data, "train", 30, 1);
    std::fs::write(
        d.join("a.toml"),
        "[train.augment]\nrotation = 20\nzoom = 0.1\ncutout = 4\nnoise = 5\n",
    )
    .unwrap();
    let preview = |out: &str, seed: &str| {
        let o = kiln(
            &[
                "augment",
                "shapes",
                "--preview",
                out,
                "--config",
                "a.toml",
                "--images",
                "3",
                "--variants",
                "4",
                "--seed",
                seed,
                "--json",
            ],
            d,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (std::fs::read(d.join(out)).unwrap(), shown)
    };
    let (first, shown) = preview("a.png", "1");
    assert_eq!(shown["classes"], serde_json::json!(["0", "1", "2"]));
    assert!(
        shown["transforms"]
            .as_str()
            .unwrap()
            .contains("rotations of up to 20°")
    );
    let grid = image::load_from_memory(&first).unwrap();
    // 5 tiles across and 3 down, each 16 pixels enlarged 6 times, with 4-pixel gaps.
    assert_eq!((grid.width(), grid.height()), (4 + 5 * 100, 4 + 3 * 100));
    assert_eq!(
        preview("b.png", "1").0,
        first,
        "the same seed draws the same grid"
    );
    assert_ne!(preview("c.png", "2").0, first);

    std::fs::write(d.join("t.csv"), "a,b\n1,2\n").unwrap();
    let o = kiln(&["augment", "t.csv", "--preview", "x.png"], d);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not image data"));
    std::fs::write(d.join("bad.toml"), "[train.augment]\nzoom = 1.5\n").unwrap();
    let o = kiln(
        &["augment", "shapes", "--preview", "x.png", "-c", "bad.toml"],
        d,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("train.augment.zoom"));
    assert!(!d.join("x.png").exists());
}
