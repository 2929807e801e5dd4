//! End-to-end tests of the `kiln` binary: training, evaluation, prediction, determinism and
//! the answers to bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::kiln;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A learnable table: two numeric features, a categorical one, an id column, a binary target.
fn write_table(dir: &Path, name: &str, rows: usize) -> PathBuf {
    let mut s = String::from("id,a,b,colour,label\n");
    for i in 0..rows {
        let a = ((i * 37) % 100) as f64 / 10.0;
        let b = ((i * 53) % 70) as f64 / 7.0;
        let colour = ["red", "green", "blue"][i % 3];
        let label = if a + b + if colour == "red" { 3.0 } else { 0.0 } > 10.0 {
            "yes"
        } else {
            "no"
        };
        s += &format!("{i},{a},{b},{colour},{label}\n");
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn train_small(dir: &Path, out: &str, seed: &str) -> Output {
    write_table(dir, "t.csv", 300);
    kiln(
        &[
            "train", "t.csv", "--target", "label", "--out", out, "--seed", seed, "--epochs", "8",
        ],
        dir,
    )
}

#[test]
fn train_evaluate_predict_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = train_small(d, "m.kiln", "1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("column 'id' not used"),
        "{}",
        stdout(&o)
    );
    assert!(d.join("m.kiln").exists());
    let report = std::fs::read_to_string(d.join("m.report.html")).unwrap();
    assert!(report.contains("<svg") && report.contains("Confusion matrix"));

    let o = kiln(&["evaluate", "m.kiln", "t.csv", "--json"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for key in ["accuracy", "f1_macro", "log_loss", "roc_auc"] {
        assert!(v[key].is_f64(), "{key} missing: {v}");
    }
    assert!(v["accuracy"].as_f64().unwrap() > 0.8, "{v}");

    // Columns reordered, an extra column, an unseen category.
    std::fs::write(
        d.join("new.csv"),
        "colour,extra,b,a\npurple,1,5,5\nred,2,1,1\n",
    )
    .unwrap();
    let o = kiln(&["predict", "m.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "label,probability_no,probability_yes");
    assert_eq!(lines.len(), 3);
    assert!(
        stderr(&o).contains("extra") && stderr(&o).contains("not seen in training"),
        "{}",
        stderr(&o)
    );

    let o = kiln(&["predict", "m.kiln", "new.csv", "--json"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let p =
        rows[0]["probability_no"].as_f64().unwrap() + rows[0]["probability_yes"].as_f64().unwrap();
    assert!((p - 1.0).abs() < 1e-4, "probabilities sum to one: {rows}");
    assert!(rows[0]["label"].is_string());

    // A missing column is named.
    std::fs::write(d.join("missing.csv"), "colour,a\nred,1\n").unwrap();
    let o = kiln(&["predict", "m.kiln", "missing.csv"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no column 'b'"), "{}", stderr(&o));
}

#[test]
fn adapted_priors_estimate_the_class_mix_of_shifted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = train_small(d, "m.kiln", "1");
    assert!(o.status.success(), "{}", stderr(&o));
    // The same kind of rows, but 'yes' now 90% of them.
    let table = std::fs::read_to_string(d.join("t.csv")).unwrap();
    let (header, rows) = table.split_once('\n').unwrap();
    let (yes, no): (Vec<&str>, Vec<&str>) = rows.lines().partition(|r| r.ends_with(",yes"));
    let share = |n: usize, of: usize| n as f64 / of as f64;
    let trained_yes = share(yes.len(), yes.len() + no.len());
    let kept_no = yes.len() / 9;
    let shifted: Vec<&str> = yes.iter().chain(&no[..kept_no]).copied().collect();
    let true_yes = share(yes.len(), shifted.len());
    std::fs::write(
        d.join("shifted.csv"),
        format!("{header}\n{}\n", shifted.join("\n")),
    )
    .unwrap();

    let o = kiln(
        &[
            "evaluate",
            "m.kiln",
            "shifted.csv",
            "--adapt-priors",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let shares = &v["class_shares"];
    assert_eq!(shares["classes"], serde_json::json!(["no", "yes"]), "{v}");
    let learned = shares["training"][1].as_f64().unwrap();
    let estimated = shares["estimated"][1].as_f64().unwrap();
    assert!(
        (learned - trained_yes).abs() < 0.1,
        "learned {learned}, trained on {trained_yes}"
    );
    assert!(
        (estimated - true_yes).abs() < 0.05,
        "estimated {estimated}, true {true_yes}, learned {learned}"
    );
    let o = kiln(&["evaluate", "m.kiln", "shifted.csv", "--json"], d);
    let plain: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(plain.get("class_shares").is_none(), "{plain}");
    assert_ne!(plain["log_loss"], v["log_loss"], "the probabilities moved");

    let o = kiln(&["predict", "m.kiln", "shifted.csv", "--adapt-priors"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("class shares estimated in these rows"),
        "{}",
        stderr(&o)
    );

    // Balanced class weights: the model learned equal shares, though 90% of its rows say yes.
    let o = kiln(
        &[
            "train",
            "shifted.csv",
            "--target",
            "label",
            "--out",
            "b.kiln",
            "--epochs",
            "2",
            "--class-weight",
            "balanced",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kiln(
        &[
            "evaluate",
            "b.kiln",
            "shifted.csv",
            "--adapt-priors",
            "--json",
        ],
        d,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for share in v["class_shares"]["training"].as_array().unwrap() {
        assert!((share.as_f64().unwrap() - 0.5).abs() < 1e-6, "{v}");
    }

    // A model that predicts a number has no class shares.
    let o = kiln(
        &[
            "train", "t.csv", "--target", "a", "--out", "r.kiln", "--epochs", "2",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kiln(&["evaluate", "r.kiln", "t.csv", "--adapt-priors"], d);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("--adapt-priors needs a classifier"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_same_seed_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let predict = |model: &str| {
        let o = kiln(&["predict", model, "t.csv"], d);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(train_small(d, "a.kiln", "5").status.success());
    assert!(train_small(d, "b.kiln", "5").status.success());
    assert!(train_small(d, "c.kiln", "6").status.success());
    assert_eq!(predict("a.kiln"), predict("b.kiln"));
    assert_ne!(predict("a.kiln"), predict("c.kiln"));
}

/// Runs `kiln train` on a file with the given content; returns (exit code, stderr).
fn train_on(content: &str, extra: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), content).unwrap();
    let mut args = vec!["train", "bad.csv", "--target", "y", "--epochs", "2"];
    args.extend_from_slice(extra);
    let o = kiln(&args, dir.path());
    (o.status.code(), stderr(&o))
}

fn rows(f: impl Fn(usize) -> String) -> String {
    (0..40).map(f).collect()
}

#[test]
fn bad_data_gives_a_located_message_and_exit_code_2() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "is empty"),
        ("x,y\n1,0\n2\n".into(), "line 3"),
        (
            format!("x,z\n{}", rows(|i| format!("{i}.5,{}\n", i % 2))),
            "no column 'y'",
        ),
        (
            format!("x,y\n{}", rows(|i| format!("{i}.5,1\n"))),
            "single value",
        ),
        (
            format!(
                "x,y\n{}",
                rows(|i| format!(
                    "{},{}\n",
                    if i == 3 {
                        "abc".into()
                    } else {
                        format!("{i}.5")
                    },
                    i % 2
                ))
            ),
            "line 5, column 'x': 'abc' is text in a numeric column",
        ),
        (
            format!(
                "x,y\n{}",
                rows(|i| format!(
                    "{},{}\n",
                    if i == 9 {
                        "NaN".into()
                    } else {
                        format!("{i}.5")
                    },
                    i % 2
                ))
            ),
            "line 11, column 'x': 'NaN' is not a finite number",
        ),
        (
            format!(
                "x,y\n{}",
                rows(|i| format!(
                    "{},{}\n",
                    if i == 9 {
                        "inf".into()
                    } else {
                        format!("{i}.5")
                    },
                    i % 2
                ))
            ),
            "'inf' is not a finite number",
        ),
    ];
    for (content, expected) in cases {
        let (code, err) = train_on(&content, &[]);
        assert_eq!(code, Some(2), "{expected}: {err}");
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
        assert!(err.contains("bad.csv"), "the file is named: {err}");
    }
}

#[test]
fn bad_config_names_the_key() {
    let data = format!("x,y\n{}", rows(|i| format!("{i}.5,{}\n", i % 2)));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("t.csv"), data).unwrap();
    for (config, expected) in [
        ("[model]\nwidht = 3\n", "widht"),
        ("[train]\nlearning_rate = \"fast\"\n", "learning_rate"),
        ("[model]\ndropout = 2.0\n", "model.dropout"),
    ] {
        std::fs::write(d.join("k.toml"), config).unwrap();
        let o = kiln(
            &["train", "t.csv", "--target", "y", "--config", "k.toml"],
            d,
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(expected),
            "expected '{expected}' in {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("k.toml"), "{}", stderr(&o));
    }
}

#[test]
fn a_missing_output_folder_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path(), "t.csv", 50);
    let o = kiln(
        &[
            "train",
            "t.csv",
            "--target",
            "label",
            "--out",
            "no/such/m.kiln",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("folder 'no/such' does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("trained"), "no training happened");
}

#[test]
fn corrupt_or_foreign_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(train_small(d, "m.kiln", "1").status.success());
    let mut bytes = std::fs::read(d.join("m.kiln")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(d.join("corrupt.kiln"), &bytes).unwrap();
    let o = kiln(&["predict", "corrupt.kiln", "t.csv"], d);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
    std::fs::write(d.join("truncated.kiln"), &bytes[..100]).unwrap();
    let o = kiln(&["predict", "truncated.kiln", "t.csv"], d);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = kiln(&["evaluate", "t.csv", "t.csv"], d);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("not a Kiln model bundle"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_prints_every_default_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let o = kiln(&["config"], dir.path());
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("learning_rate") && text.contains("[model]"),
        "{text}"
    );
    std::fs::write(dir.path().join("kiln.toml"), &text).unwrap();
    write_table(dir.path(), "t.csv", 100);
    let o = kiln(
        &[
            "train",
            "t.csv",
            "--target",
            "label",
            "--config",
            "kiln.toml",
            "--epochs",
            "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn ctrl_c_stops_after_the_epoch_and_still_saves_the_best_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_table(d, "big.csv", 20_000);
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train", "big.csv", "--target", "label", "--epochs", "1000", "--out", "m.kiln",
            "--json",
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed().as_secs() < 60, "stops promptly");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["epochs"].as_u64().unwrap() < 1000);
    let o = kiln(&["inspect", "m.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        manifest["stop_reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{manifest}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupt"));
}

#[test]
fn an_interrupted_run_resumes_from_its_checkpoint_to_the_uninterrupted_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_table(d, "big.csv", 20_000);
    // A small network for many epochs: long enough to interrupt, quick to finish.
    std::fs::write(
        d.join("k.toml"),
        "[model]\ndepth = 1\nwidth = 32\nensemble = 1\n[train]\npatience = 1000\n",
    )
    .unwrap();
    let train = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args([
                "train", "big.csv", "--target", "label", "--epochs", "300", "--config", "k.toml",
                "--out", out, "--json",
            ])
            .current_dir(d)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let child = train("m.kiln");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("continues training from"),
        "{}",
        stderr(&out)
    );
    assert!(d.join("m.kiln.checkpoint").exists());

    // The same command again continues, and ends where an uninterrupted run ends.
    let resumed = train("m.kiln").wait_with_output().unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let v: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert!(
        v["notes"].to_string().contains("resumed after epoch"),
        "{v}"
    );
    assert!(
        !d.join("m.kiln.checkpoint").exists(),
        "a finished run removes it"
    );
    let whole = train("whole.kiln").wait_with_output().unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));
    let predict = |model: &str| stdout(&kiln(&["predict", model, "big.csv"], d));
    assert_eq!(predict("m.kiln"), predict("whole.kiln"));
}

#[test]
fn a_time_limit_fits_training_into_it_and_bad_durations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_table(d, "t.csv", 2_000);
    // No early stop, so that only the limit can end the run.
    std::fs::write(d.join("k.toml"), "[train]\npatience = 100000\n").unwrap();
    let started = std::time::Instant::now();
    let o = kiln(
        &[
            "train",
            "t.csv",
            "--target",
            "label",
            "--epochs",
            "100000",
            "--time-limit",
            "2s",
            "--config",
            "k.toml",
            "--out",
            "m.kiln",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(started.elapsed().as_secs() < 60, "ends near its limit");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["epochs"].as_u64().unwrap() < 100_000, "{v}");
    let o = kiln(&["inspect", "m.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = manifest["stop_reason"].as_str().unwrap();
    assert!(reason.contains("time limit of 2 s"), "{reason}");
    let o = kiln(
        &[
            "train",
            "t.csv",
            "--target",
            "label",
            "--time-limit",
            "soon",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'soon' is not a duration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn gzip_tables_train_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = write_table(d, "t.csv", 200);
    let bytes = std::fs::read(&csv).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(d.join("t.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    gz.finish().unwrap();
    let o = kiln(
        &[
            "train", "t.csv.gz", "--target", "label", "--epochs", "3", "--out", "gz.kiln",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kiln(&["predict", "gz.kiln", "t.csv"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 201);
}

/// The date `offset` days after Monday 1 January 2024 (a leap year), as `2024-MM-DD`.
fn date_in_2024(offset: usize) -> String {
    let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut month, mut day) = (0, offset);
    while day >= lengths[month] {
        day -= lengths[month];
        month += 1;
    }
    format!("2024-{:02}-{:02}", month + 1, day + 1)
}

/// `kiln train FILE --target TARGET --epochs EPOCHS --out OUT` in `dir`.
fn train_file(dir: &Path, file: &str, target: &str, epochs: &str, out: &str) -> Output {
    let args = [
        "train", file, "--target", target, "--epochs", epochs, "--out", out,
    ];
    kiln(&args, dir)
}

fn json_field(o: &Output, field: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no {field} in {}", stdout(o)))
}

#[test]
fn formatted_numbers_and_dates_are_read_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Busy on weekends and when the price is over $800: the label needs both the price, written
    // as currency, and the weekday of the date.
    let mut shop = String::from("price,discount,day,label\n");
    for i in 0..300 {
        let price = ((i * 7919) % 1000) as f64 + 0.25 * (i % 4) as f64;
        let offset = (i * 17) % 366;
        let busy = offset % 7 >= 5 || price > 800.0;
        let thousands = (price / 1000.0) as usize;
        let dollars = if thousands > 0 {
            format!("{thousands},{:06.2}", price - 1000.0 * thousands as f64)
        } else {
            format!("{price:.2}")
        };
        shop += &format!(
            "\"${dollars}\",{}.5%,{},{}\n",
            (i * 13) % 40,
            date_in_2024(offset),
            if busy { "busy" } else { "quiet" }
        );
    }
    std::fs::write(d.join("shop.csv"), shop).unwrap();
    let o = train_file(d, "shop.csv", "label", "40", "shop.kiln");
    let notes = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        notes.contains("columns 'price', 'discount' read as numbers written like $1,234.50")
            && notes.contains("column 'day' read as dates written like '2024-03-01'"),
        "{notes}"
    );
    let o = kiln(&["evaluate", "shop.kiln", "shop.csv", "--json"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    // Without the weekday (or the price) about 70% are right.
    let accuracy = json_field(&o, "accuracy");
    assert!(accuracy > 0.9, "accuracy {accuracy}");
    std::fs::write(
        d.join("new.csv"),
        "price,discount,day\n\"$1,200.00\",5%,2024-12-31\n$3,2024-13-01,\n",
    )
    .unwrap();
    let o = kiln(&["predict", "shop.kiln", "new.csv"], d);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("line 3, column 'discount'"),
        "{}",
        stderr(&o)
    );
    // Monitoring does not stop at a value that is not a date: it reports it as a data error.
    std::fs::write(
        d.join("live.csv"),
        "price,discount,day\n$5,5%,2024-12-30\n$900,1%,not a date\n",
    )
    .unwrap();
    let o = kiln(&["monitor", "shop.kiln", "--log", "live.csv", "--json"], d);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert!(stdout(&o).contains("not a date"), "{}", stdout(&o));

    // A European export: semicolons between fields, decimal commas, spaces between thousands.
    let mut euro = String::from("x;y\n");
    for i in 0..200 {
        let x = ((i * 37) % 200) as f64 / 10.0 - 10.0;
        let y = 1000.0 + 150.0 * x;
        let y = format!("{y:.1}");
        let (whole, tenths) = y.split_once('.').unwrap();
        let y = match whole.trim_start_matches('-').len() > 3 {
            true => {
                let at = whole.len() - 3;
                format!("{} {},{tenths}", &whole[..at], &whole[at..])
            }
            false => format!("{whole},{tenths}"),
        };
        euro += &format!("{};{y}\n", format!("{x:.2}").replace('.', ","));
    }
    std::fs::write(d.join("euro.csv"), euro).unwrap();
    let o = train_file(d, "euro.csv", "y", "40", "euro.kiln");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("task: regression"), "{}", stdout(&o));
    let o = kiln(&["evaluate", "euro.kiln", "euro.csv", "--json"], d);
    let r2 = json_field(&o, "r2");
    assert!(r2 > 0.95, "r2 {r2}");
}

#[test]
fn windows_1252_and_utf16_files_train_like_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let utf8 = std::fs::read_to_string(write_table(d, "utf8.csv", 120))
        .unwrap()
        .replace("red", "écarlate")
        .replace("green", "vert d’eau");
    std::fs::write(d.join("utf8.csv"), &utf8).unwrap();
    let windows_1252: Vec<u8> = utf8
        .chars()
        .map(|c| match c {
            '’' => 0x92,
            c => u8::try_from(u32::from(c)).expect("a Latin-1 letter"),
        })
        .collect();
    std::fs::write(d.join("cp1252.csv"), windows_1252).unwrap();
    let mut utf16 = vec![0xff, 0xfe];
    for unit in utf8.replace(',', "\t").encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(d.join("utf16.txt"), utf16).unwrap();
    let mut predictions = Vec::new();
    for file in ["utf8.csv", "cp1252.csv", "utf16.txt"] {
        let o = train_file(d, file, "label", "3", "m.kiln");
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        // Predicting the UTF-8 file finds the same category names the model was trained on.
        let o = kiln(&["predict", "m.kiln", "utf8.csv", "--json"], d);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let notes = stdout(&o) + &stderr(&o);
        assert!(!notes.contains("not seen in training"), "{file}: {notes}");
        predictions.push(stdout(&o));
    }
    assert_eq!(predictions[0], predictions[1], "Windows-1252");
    assert_eq!(predictions[0], predictions[2], "UTF-16");
}
