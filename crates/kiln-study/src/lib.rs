//! Tuning studies that outlive a process and are shared by many workers, with the semantics
//! of Optuna's relational storage: a trial number is taken atomically and without gaps,
//! running trials send heartbeats, a trial whose worker died is failed after a grace period
//! compared on the database's own clock and retried under a new number, and trials can be
//! enqueued by hand. One code path serves SQLite (`sqlite://PATH`, the embedded default, in
//! WAL mode with a busy timeout) and PostgreSQL (`postgres://...`, for many machines).

mod error;
mod storage;
pub mod throwaway;

pub use error::StudyError;
pub use storage::{Claimed, Direction, Storage, TrialRecord, TrialState};
