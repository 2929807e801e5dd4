//! The relational study storage: three tables (studies, trials, intermediate values) behind
//! sqlx's database-agnostic pool. Where SQL differs (auto-increment keys, the clock), the
//! dialect supplies the fragment; every statement is otherwise shared.

use crate::error::StudyError;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Whether a study minimises or maximises its objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better (a loss).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
    }
}

/// Where a trial is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Enqueued with fixed parameters, waiting for a worker.
    Waiting,
    /// Claimed by a worker that sends heartbeats.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by the pruner.
    Pruned,
    /// Failed (an error, or its worker died).
    Failed,
}

impl TrialState {
    fn as_str(self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StudyError> {
        Ok(match s {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            other => {
                return Err(StudyError::Corrupt {
                    what: "trial state".into(),
                    reason: format!("'{other}'"),
                });
            }
        })
    }
}

/// A trial as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Database key.
    pub id: i64,
    /// Number within the study, from 0, without gaps.
    pub number: i64,
    /// Its state.
    pub state: TrialState,
    /// Its parameters (null until sampled).
    pub params: serde_json::Value,
    /// The objective value, when complete (or the last value, when pruned).
    pub value: Option<f64>,
    /// (step, value) reports, in step order.
    pub intermediate: Vec<(i64, f64)>,
    /// The worker that ran it.
    pub worker: Option<String>,
    /// The trial this one retries, if any.
    pub retry_of: Option<i64>,
}

/// A trial a worker has just taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// Database key, for reports.
    pub id: i64,
    /// Its number in the study.
    pub number: i64,
    /// Parameters fixed in advance (an enqueued trial or a retry); `None` means sample them.
    pub params: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Seconds since the epoch, on the database's clock.
    fn now(self) -> &'static str {
        match self {
            Dialect::Sqlite => "((julianday('now') - 2440587.5) * 86400.0)",
            Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
        }
    }

    /// An auto-increment primary key column.
    fn key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
}

/// A study database: open it once per worker and share it between tasks.
#[derive(Debug, Clone)]
pub struct Storage {
    pool: AnyPool,
    dialect: Dialect,
}

/// How many times a statement that lost a race (a taken trial number) is tried again.
const RACE_RETRIES: usize = 64;

impl Storage {
    /// Opens (and creates, for SQLite) the study database at `url`: `sqlite://PATH` or
    /// `postgres://USER@HOST:PORT/DB`.
    pub async fn open(url: &str) -> Result<Self, StudyError> {
        install_default_drivers();
        let (dialect, connect) = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StudyError::BadUrl {
                    url: url.into(),
                    reason: "no file after sqlite://; use sqlite://study.db".into(),
                });
            }
            let sep = if path.contains('?') { '&' } else { '?' };
            (Dialect::Sqlite, format!("{url}{sep}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StudyError::BadUrl {
                url: url.split('@').next_back().unwrap_or(url).into(),
                reason: "use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".into(),
            });
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 30000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect)
            .await?;
        let storage = Self { pool, dialect };
        storage.create_tables().await?;
        Ok(storage)
    }

    async fn create_tables(&self) -> Result<(), StudyError> {
        let key = self.dialect.key();
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS kiln_studies (id {key}, name TEXT NOT NULL UNIQUE, \
                 direction TEXT NOT NULL, settings TEXT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS kiln_trials (id {key}, study_id BIGINT NOT NULL, \
                 number BIGINT NOT NULL, state TEXT NOT NULL, params TEXT, \
                 value DOUBLE PRECISION, worker TEXT, heartbeat DOUBLE PRECISION, \
                 retry_of BIGINT, UNIQUE (study_id, number))"
            ),
            "CREATE TABLE IF NOT EXISTS kiln_values (trial_id BIGINT NOT NULL, \
             step BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (trial_id, step))"
                .to_string(),
        ];
        for sql in statements {
            // Workers starting together may race to create a table: one try more settles it.
            if sqlx::query(&sql).execute(&self.pool).await.is_err() {
                sqlx::query(&sql).execute(&self.pool).await?;
            }
        }
        Ok(())
    }

    /// Creates the study `name`, or loads it if it exists; returns its key. Refuses a study
    /// that exists with the other direction.
    pub async fn study(
        &self,
        name: &str,
        direction: Direction,
        settings: &serde_json::Value,
    ) -> Result<i64, StudyError> {
        sqlx::query(
            "INSERT INTO kiln_studies (name, direction, settings) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(direction.as_str())
        .bind(settings.to_string())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id, direction FROM kiln_studies WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        let stored: String = row.try_get("direction")?;
        if stored != direction.as_str() {
            return Err(StudyError::Conflict {
                name: name.into(),
                reason: format!("it exists and was created to {stored}; use another study name"),
            });
        }
        Ok(row.try_get("id")?)
    }

    /// Adds a trial with fixed parameters for the next free worker; returns its number.
    pub async fn enqueue(&self, study: i64, params: &serde_json::Value) -> Result<i64, StudyError> {
        self.insert_trial(study, TrialState::Waiting, Some(params), None, None)
            .await
            .map(|(_, number)| number)
    }

    /// Inserts a trial under the next free number, trying again when another worker took it.
    async fn insert_trial(
        &self,
        study: i64,
        state: TrialState,
        params: Option<&serde_json::Value>,
        worker: Option<&str>,
        retry_of: Option<i64>,
    ) -> Result<(i64, i64), StudyError> {
        let sql = format!(
            "INSERT INTO kiln_trials (study_id, number, state, params, worker, heartbeat, retry_of) \
             SELECT $1, COALESCE(MAX(number), -1) + 1, $2, $3, $4, {}, $5 \
             FROM kiln_trials WHERE study_id = $1 RETURNING id, number",
            self.dialect.now()
        );
        let mut last = None;
        for _ in 0..RACE_RETRIES {
            let result = sqlx::query(&sql)
                .bind(study)
                .bind(state.as_str())
                .bind(params.map(|p| p.to_string()))
                .bind(worker.map(str::to_string))
                .bind(retry_of)
                .fetch_one(&self.pool)
                .await;
            match result {
                Ok(row) => return Ok((row.try_get("id")?, row.try_get("number")?)),
                Err(e) if is_conflict(&e) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.expect("at least one try").into())
    }

    /// Takes the oldest waiting trial, or else starts a new one, for `worker`.
    pub async fn claim(&self, study: i64, worker: &str) -> Result<Claimed, StudyError> {
        let take = format!(
            "UPDATE kiln_trials SET state = 'running', worker = $2, heartbeat = {} \
             WHERE id = (SELECT id FROM kiln_trials WHERE study_id = $1 AND state = 'waiting' \
             ORDER BY number LIMIT 1) AND state = 'waiting' RETURNING id, number, params",
            self.dialect.now()
        );
        for _ in 0..RACE_RETRIES {
            let waiting: Option<i64> = sqlx::query(
                "SELECT COUNT(*) AS n FROM kiln_trials WHERE study_id = $1 AND state = 'waiting'",
            )
            .bind(study)
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")
            .ok();
            if waiting.unwrap_or(0) == 0 {
                break;
            }
            if let Some(row) = sqlx::query(&take)
                .bind(study)
                .bind(worker)
                .fetch_optional(&self.pool)
                .await?
            {
                let params: Option<String> = row.try_get("params")?;
                return Ok(Claimed {
                    id: row.try_get("id")?,
                    number: row.try_get("number")?,
                    params: params
                        .map(|p| parse_json(&p, "trial parameters"))
                        .transpose()?,
                });
            }
        }
        let (id, number) = self
            .insert_trial(study, TrialState::Running, None, Some(worker), None)
            .await?;
        Ok(Claimed {
            id,
            number,
            params: None,
        })
    }

    /// Records the parameters sampled for a trial.
    pub async fn set_params(
        &self,
        trial: i64,
        params: &serde_json::Value,
    ) -> Result<(), StudyError> {
        sqlx::query("UPDATE kiln_trials SET params = $2 WHERE id = $1")
            .bind(trial)
            .bind(params.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records an intermediate value (an epoch's validation score) and beats the heart.
    pub async fn report(&self, trial: i64, step: i64, value: f64) -> Result<(), StudyError> {
        sqlx::query(
            "INSERT INTO kiln_values (trial_id, step, value) VALUES ($1, $2, $3) \
             ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value",
        )
        .bind(trial)
        .bind(step)
        .bind(value)
        .execute(&self.pool)
        .await?;
        self.heartbeat(trial).await
    }

    /// Tells the study the trial's worker is alive.
    pub async fn heartbeat(&self, trial: i64) -> Result<(), StudyError> {
        let sql = format!(
            "UPDATE kiln_trials SET heartbeat = {} WHERE id = $1 AND state = 'running'",
            self.dialect.now()
        );
        sqlx::query(&sql).bind(trial).execute(&self.pool).await?;
        Ok(())
    }

    /// Ends a running trial. Returns false if it was no longer running (it was failed as
    /// stale meanwhile), so its result must not count.
    pub async fn finish(
        &self,
        trial: i64,
        state: TrialState,
        value: Option<f64>,
    ) -> Result<bool, StudyError> {
        let done = sqlx::query(
            "UPDATE kiln_trials SET state = $2, value = $3 WHERE id = $1 AND state = 'running'",
        )
        .bind(trial)
        .bind(state.as_str())
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Fails running trials whose last heartbeat is older than `grace` on the database's
    /// clock, and enqueues a retry of each with the same parameters. Returns the failed
    /// trials' numbers.
    pub async fn fail_stale(&self, study: i64, grace: Duration) -> Result<Vec<i64>, StudyError> {
        let sql = format!(
            "UPDATE kiln_trials SET state = 'failed' WHERE study_id = $1 AND state = 'running' \
             AND heartbeat < {} - $2 RETURNING number, params",
            self.dialect.now()
        );
        let rows = sqlx::query(&sql)
            .bind(study)
            .bind(grace.as_secs_f64())
            .fetch_all(&self.pool)
            .await?;
        let mut failed = Vec::new();
        for row in rows {
            let number: i64 = row.try_get("number")?;
            let params: Option<String> = row.try_get("params")?;
            let params = params
                .map(|p| parse_json(&p, "trial parameters"))
                .transpose()?;
            if let Some(params) = params {
                self.insert_trial(
                    study,
                    TrialState::Waiting,
                    Some(&params),
                    None,
                    Some(number),
                )
                .await?;
            }
            failed.push(number);
        }
        failed.sort_unstable();
        Ok(failed)
    }

    /// Every trial of the study with its intermediate values, in number order.
    pub async fn trials(&self, study: i64) -> Result<Vec<TrialRecord>, StudyError> {
        let rows = sqlx::query(
            "SELECT id, number, state, params, value, worker, retry_of FROM kiln_trials \
             WHERE study_id = $1 ORDER BY number",
        )
        .bind(study)
        .fetch_all(&self.pool)
        .await?;
        let values = sqlx::query(
            "SELECT v.trial_id, v.step, v.value FROM kiln_values v \
             JOIN kiln_trials t ON t.id = v.trial_id WHERE t.study_id = $1 \
             ORDER BY v.trial_id, v.step",
        )
        .bind(study)
        .fetch_all(&self.pool)
        .await?;
        let mut by_trial: std::collections::HashMap<i64, Vec<(i64, f64)>> = Default::default();
        for v in values {
            by_trial
                .entry(v.try_get("trial_id")?)
                .or_default()
                .push((v.try_get("step")?, v.try_get("value")?));
        }
        rows.into_iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let params: Option<String> = row.try_get("params")?;
                let state: String = row.try_get("state")?;
                Ok(TrialRecord {
                    id,
                    number: row.try_get("number")?,
                    state: TrialState::parse(&state)?,
                    params: match params {
                        Some(p) => parse_json(&p, "trial parameters")?,
                        None => serde_json::Value::Null,
                    },
                    value: row.try_get("value")?,
                    intermediate: by_trial.remove(&id).unwrap_or_default(),
                    worker: row.try_get("worker")?,
                    retry_of: row.try_get("retry_of")?,
                })
            })
            .collect()
    }
}

/// Whether an error is a uniqueness conflict (another worker took the same number).
fn is_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || db.message().to_lowercase().contains("unique")
        }
        _ => false,
    }
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, StudyError> {
    serde_json::from_str(text).map_err(|e| StudyError::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    })
}
