//! The study storage's semantics on SQLite and on a real PostgreSQL server (a throwaway
//! cluster this test starts with the server programs installed on the machine; skipped with a
//! message where they are absent): numbers unique and gap-free under concurrent workers,
//! enqueued trials, stale trials failed on the database clock and retried.

use kiln_study::throwaway::Postgres;
use kiln_study::{Direction, Storage, StudyError, TrialState};
use std::path::Path;
use std::time::Duration;

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("study.db").display())
}

/// Four workers, each with its own connection pool (as separate processes would have),
/// claim and finish 40 trials together.
async fn concurrent_workers_get_unique_gap_free_numbers(url: &str) {
    let study = Storage::open(url)
        .await
        .unwrap()
        .study("concurrent", Direction::Minimize, &serde_json::json!({}))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for w in 0..4 {
        let url = url.to_string();
        handles.push(tokio::spawn(async move {
            let storage = Storage::open(&url).await.unwrap();
            let mut mine = Vec::new();
            for _ in 0..10 {
                let trial = storage.claim(study, &format!("worker-{w}")).await.unwrap();
                storage
                    .set_params(trial.id, &serde_json::json!({ "x": trial.number }))
                    .await
                    .unwrap();
                storage
                    .report(trial.id, 1, trial.number as f64)
                    .await
                    .unwrap();
                assert!(
                    storage
                        .finish(trial.id, TrialState::Complete, Some(trial.number as f64))
                        .await
                        .unwrap()
                );
                mine.push(trial.number);
            }
            mine
        }));
    }
    let mut numbers = Vec::new();
    for h in handles {
        numbers.extend(h.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..40).collect::<Vec<i64>>(),
        "unique and gap-free"
    );
    let trials = Storage::open(url)
        .await
        .unwrap()
        .trials(study)
        .await
        .unwrap();
    assert_eq!(trials.len(), 40);
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
    assert!(
        trials
            .iter()
            .all(|t| t.intermediate == vec![(1, t.number as f64)])
    );
}

/// Enqueued trials come first; a trial whose heartbeat stopped is failed and retried with
/// its parameters under a new number; its late result no longer counts.
async fn stale_trials_are_failed_and_retried(url: &str) {
    let storage = Storage::open(url).await.unwrap();
    let study = storage
        .study(
            "stale",
            Direction::Maximize,
            &serde_json::json!({"space": 1}),
        )
        .await
        .unwrap();
    let fixed = serde_json::json!({ "lr": 0.01 });
    assert_eq!(storage.enqueue(study, &fixed).await.unwrap(), 0);
    let first = storage.claim(study, "a").await.unwrap();
    assert_eq!(
        (first.number, first.params.clone()),
        (0, Some(fixed.clone()))
    );
    let second = storage.claim(study, "b").await.unwrap();
    assert_eq!((second.number, second.params.clone()), (1, None));
    storage
        .set_params(second.id, &serde_json::json!({"lr": 0.1}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    storage.heartbeat(first.id).await.unwrap();
    let failed = storage
        .fail_stale(study, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(failed, vec![1], "only the silent trial is failed");
    assert!(
        !storage
            .finish(second.id, TrialState::Complete, Some(1.0))
            .await
            .unwrap()
    );
    let retry = storage.claim(study, "c").await.unwrap();
    assert_eq!(retry.number, 2);
    assert_eq!(retry.params, Some(serde_json::json!({"lr": 0.1})));
    let trials = storage.trials(study).await.unwrap();
    assert_eq!(trials[1].state, TrialState::Failed);
    assert_eq!(trials[2].retry_of, Some(1));
    let err = storage
        .study("stale", Direction::Minimize, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, StudyError::Conflict { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_study_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    concurrent_workers_get_unique_gap_free_numbers(&url).await;
    stale_trials_are_failed_and_retried(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_study_semantics() {
    let Some(pg) = Postgres::start() else {
        assert!(
            !Postgres::installed(),
            "PostgreSQL is installed but would not start"
        );
        eprintln!("skipped: no PostgreSQL server programs under /usr/lib/postgresql");
        return;
    };
    concurrent_workers_get_unique_gap_free_numbers(&pg.url()).await;
    stale_trials_are_failed_and_retried(&pg.url()).await;
}

#[tokio::test]
async fn bad_urls_say_what_to_use() {
    let err = Storage::open("mysql://x").await.unwrap_err().to_string();
    assert!(
        err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
    let err = Storage::open("sqlite://").await.unwrap_err().to_string();
    assert!(err.contains("sqlite://study.db"), "{err}");
}
