//! `kiln tune` end to end with real worker processes on SQLite and on a throwaway PostgreSQL
//! server: trial numbers unique and gap-free, each trial run once, the same best value as one
//! worker; and a worker killed mid-trial whose trial is failed after the grace period and
//! retried by another worker.

use kiln_study::throwaway::Postgres;
use kiln_study::{Storage, TrialRecord, TrialState};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::kiln;

/// A small learnable table and a config with a two-parameter space and short training.
fn setup(dir: &Path, epochs: usize) {
    let mut s = String::from("a,b,colour,label\n");
    for i in 0..240 {
        let a = ((i * 37) % 100) as f64 / 10.0;
        let b = ((i * 53) % 70) as f64 / 7.0;
        let colour = ["red", "green", "blue"][i % 3];
        let label = if a + b + if colour == "red" { 3.0 } else { 0.0 } > 10.0 {
            "yes"
        } else {
            "no"
        };
        s += &format!("{a},{b},{colour},{label}\n");
    }
    std::fs::write(dir.join("t.csv"), s).unwrap();
    std::fs::write(
        dir.join("tune.toml"),
        format!(
            "[model]\nensemble = 1\ndepth = 1\n[train]\nepochs = {epochs}\n\
             [tune]\ngrace_seconds = 2\n\
             [tune.space.learning_rate]\ntype = \"float\"\nlow = 0.001\nhigh = 0.05\nlog = true\n\
             [tune.space.width]\ntype = \"int\"\nlow = 8\nhigh = 64\n"
        ),
    )
    .unwrap();
}

fn trials(url: &str, study: &str) -> Vec<TrialRecord> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Storage::open(url).await.unwrap();
        let id = s
            .study(
                study,
                kiln_study::Direction::Minimize,
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        s.trials(id).await.unwrap()
    })
}

/// `kiln tune t.csv` with `config`, a budget of `trials`, no pruner, on `study` at `url`,
/// then `more` arguments.
fn tune_args<'a>(
    config: &'a str,
    trials: &'a str,
    url: &'a str,
    study: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "tune",
        "t.csv",
        "--target",
        "label",
        "--config",
        config,
        "--trials",
        trials,
        "--pruner",
        "none",
        "--storage",
        url,
        "--study",
        study,
    ];
    args.extend_from_slice(more);
    args
}

fn tune(dir: &Path, url: &str, study: &str, workers: &str) -> serde_json::Value {
    let out = format!("{study}.kiln");
    let more = [
        "--sampler",
        "random",
        "--workers",
        workers,
        "--out",
        &out,
        "--json",
    ];
    let o = kiln(&tune_args("tune.toml", "12", url, study, &more), dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Four workers and one worker on the same trial budget: numbers 0..n once each, every
/// trial finished, and (the random sampler's draws depending only on the trial number) the
/// same best value.
fn four_workers_match_one(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 6);
    let many = tune(dir.path(), url, "four", "4");
    let one = tune(dir.path(), url, "one", "1");
    let all = trials(url, "four");
    let numbers: Vec<i64> = all.iter().map(|t| t.number).collect();
    assert_eq!(
        numbers,
        (0..all.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
    assert!(all.len() >= 12 && all.len() <= 15, "{} trials", all.len());
    assert!(
        all.iter().all(|t| t.state == TrialState::Complete),
        "{all:?}"
    );
    let workers: std::collections::HashSet<_> =
        all.iter().filter_map(|t| t.worker.clone()).collect();
    assert!(
        workers.len() >= 2,
        "several workers took trials: {workers:?}"
    );
    let best = |v: &serde_json::Value| v["best_value"].as_f64().unwrap();
    let one_trials = trials(url, "one");
    let best_one_of_first_12 = one_trials
        .iter()
        .take(12)
        .filter_map(|t| t.value)
        .fold(f64::INFINITY, f64::min);
    assert!(
        best(&many) <= best_one_of_first_12 + 1e-12,
        "{} vs {}",
        best(&many),
        best(&one)
    );
    assert!(dir.path().join("four.kiln").exists() && dir.path().join("four.tune.html").exists());
}

#[test]
fn four_worker_processes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    four_workers_match_one(&url);
}

#[test]
fn four_worker_processes_on_postgres() {
    let Some(pg) = Postgres::start() else {
        assert!(
            !Postgres::installed(),
            "PostgreSQL is installed but would not start"
        );
        eprintln!("skipped: no PostgreSQL server programs");
        return;
    };
    four_workers_match_one(&pg.url());
}

#[test]
fn a_killed_worker_s_trial_is_failed_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 400);
    let url = format!("sqlite://{}", d.join("k.db").display());
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(tune_args("tune.toml", "3", &url, "k", &["--worker-only"]))
        .current_dir(d)
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let all = trials(&url, "k");
        if all
            .iter()
            .any(|t| t.state == TrialState::Running && !t.intermediate.is_empty())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no trial started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();
    std::fs::write(
        d.join("short.toml"),
        std::fs::read_to_string(d.join("tune.toml"))
            .unwrap()
            .replace("epochs = 400", "epochs = 5"),
    )
    .unwrap();
    let o = kiln(&tune_args("short.toml", "3", &url, "k", &["--json"]), d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = trials(&url, "k");
    let killed = all
        .iter()
        .find(|t| t.state == TrialState::Failed)
        .expect("the killed trial failed");
    let retry = all
        .iter()
        .find(|t| t.retry_of == Some(killed.number))
        .expect("it was retried");
    assert_eq!(retry.state, TrialState::Complete);
    assert_eq!(retry.params, killed.params);
    assert_eq!(
        all.iter()
            .filter(|t| t.state == TrialState::Complete)
            .count(),
        3
    );
}

#[test]
fn enqueued_trials_run_first_with_their_values_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 3);
    let url = format!("sqlite://{}", d.join("q.db").display());
    let more = [
        "--workers",
        "2",
        "--enqueue",
        "learning_rate=0.02,width=40",
        "--enqueue=width=9",
        "--json",
    ];
    let o = kiln(&tune_args("tune.toml", "3", &url, "q", &more), d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = trials(&url, "q");
    // The two enqueued trials count toward the budget (which two workers may pass by one).
    assert!((3..=4).contains(&all.len()), "{} trials", all.len());
    let param = |t: &TrialRecord, name: &str| t.params[name].as_f64().unwrap();
    assert_eq!(param(&all[0], "learning_rate"), 0.02);
    assert_eq!(param(&all[0], "width"), 40.0);
    assert_eq!(param(&all[1], "width"), 9.0);
    // Trial 1 fixed only its width; the sampler drew its learning rate.
    let lr = param(&all[1], "learning_rate");
    assert!((0.001..=0.05).contains(&lr), "{lr}");
    assert!(
        all.iter().all(|t| t.state == TrialState::Complete),
        "{all:?}"
    );

    for (bad, needle) in [
        ("width=500", "'500' is not an integer from 8 to 64"),
        (
            "momentum=0.9",
            "no such parameter; it has learning_rate, width",
        ),
    ] {
        let o = kiln(
            &tune_args("tune.toml", "3", &url, "bad", &["--enqueue", bad]),
            d,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}
