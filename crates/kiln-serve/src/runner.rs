//! Dynamic batching: requests for one model version wait in a bounded queue. The first request
//! to find no batch running starts a leader task on the server's own threads; the leader takes
//! what is waiting (up to `max_batch` rows, waiting at most `max_delay` for more), runs it
//! through the network as one batch, answers each request with its own rows, and goes on while
//! requests keep arriving. There is no batching thread to hand requests to and back from: under
//! load one core computes a batch while the others parse the next one.

use crate::error::ApiError;
use crate::metrics::VersionMetrics;
use burn::prelude::Device;
use kiln::model::Network;
use kiln::training::{Matrix, Objective, Predictor};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// How batches are formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchPolicy {
    /// Most rows run together.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    pub max_delay: Duration,
    /// Most requests waiting; more are answered 503.
    pub queue: usize,
}

/// Batches of at most this many rows run on the leader's thread alone. Under load the other
/// cores are busy parsing and answering requests, so handing a small batch to the thread pool
/// costs wake-ups and saves nothing; larger batches (one big request) are split over all cores.
const ON_ONE_THREAD_ROWS: usize = 64;

/// Encoded rows waiting for the network, with where to send their outputs.
struct Job {
    values: Vec<f32>,
    rows: usize,
    /// When it joined the queue.
    queued: tokio::time::Instant,
    reply: oneshot::Sender<Result<Vec<f32>, ApiError>>,
}

/// The waiting requests, and whether a leader is taking them.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    rows: usize,
    leading: bool,
}

/// What the requests and the leader share.
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes a leader that waits for more rows (`max_delay`).
    arrived: Notify,
    model: Predictor,
    objective: Objective,
    width: usize,
    policy: BatchPolicy,
    metrics: VersionMetrics,
    device: Device,
}

/// The batching queue in front of one model version's network.
pub struct Runner {
    shared: Arc<Shared>,
}

impl Runner {
    /// Prepares `model`, whose rows have `width` inputs, for batched prediction.
    pub fn new(
        model: &Network,
        objective: Objective,
        width: usize,
        policy: BatchPolicy,
        metrics: VersionMetrics,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                arrived: Notify::new(),
                model: Predictor::new(model),
                objective,
                width,
                policy,
                metrics,
                device: Device::flex(),
            }),
        }
    }

    /// Runs `rows` encoded rows through the network: probabilities (classification) or values.
    /// Must be called within the server's tokio runtime, where the leader task runs.
    pub async fn run(&self, values: Vec<f32>, rows: usize) -> Result<Vec<f32>, ApiError> {
        let shared = &self.shared;
        debug_assert_eq!(values.len(), rows * shared.width);
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queue = shared.lock();
            if queue.jobs.len() >= shared.policy.queue.max(1) {
                return Err(ApiError::unavailable(
                    "the server's queue for this model is full; retry shortly, send fewer concurrent requests, or start the server with a larger --queue",
                    1,
                ));
            }
            queue.jobs.push_back(Job {
                values,
                rows,
                queued: tokio::time::Instant::now(),
                reply,
            });
            queue.rows += rows;
            shared.metrics.queue_depth.inc();
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            tokio::spawn(Arc::clone(shared).lead());
        } else if shared.policy.max_delay > Duration::ZERO {
            shared.arrived.notify_one();
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the model stopped before answering; retry the request",
            ))
        })
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic never happens while the lock is held (the network runs outside it), so a
        // poisoned lock still holds a consistent queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes batches and answers them until no request waits, then stops leading.
    async fn lead(self: Arc<Self>) {
        loop {
            if !self.policy.max_delay.is_zero() {
                self.wait_for_rows().await;
            }
            let (batch, rows) = {
                let mut queue = self.lock();
                let mut rows = 0;
                let mut batch = Vec::new();
                while let Some(job) = queue.jobs.front() {
                    // A request larger than a batch runs alone rather than never.
                    if !batch.is_empty() && rows + job.rows > self.policy.max_batch {
                        break;
                    }
                    let job = queue.jobs.pop_front().expect("a front job");
                    rows += job.rows;
                    batch.push(job);
                }
                queue.rows -= rows;
                if batch.is_empty() {
                    queue.leading = false;
                    return;
                }
                (batch, rows)
            };
            self.metrics.queue_depth.sub(batch.len() as i64);
            self.answer(batch, rows);
            // Lets the requests just answered (and any other task) run before the next batch.
            tokio::task::yield_now().await;
        }
    }

    /// Waits until a batch's worth of rows is queued or the oldest waiting request has waited
    /// `max_delay`.
    async fn wait_for_rows(&self) {
        loop {
            let arrived = self.arrived.notified();
            let deadline = {
                let queue = self.lock();
                match queue.jobs.front() {
                    Some(oldest) if queue.rows < self.policy.max_batch => {
                        oldest.queued + self.policy.max_delay
                    }
                    _ => return,
                }
            };
            // Tokio's timers fire on the millisecond tick after their deadline; aiming a tick
            // early keeps the wait within `max_delay`.
            let tick = deadline
                .checked_sub(Duration::from_millis(1))
                .unwrap_or(deadline);
            if tokio::time::timeout_at(tick, arrived).await.is_err() {
                return;
            }
        }
    }

    /// Runs one batch and answers each of its requests.
    fn answer(&self, batch: Vec<Job>, rows: usize) {
        let mut values = Vec::with_capacity(rows * self.width);
        for job in &batch {
            values.extend_from_slice(&job.values);
        }
        self.metrics.batch_size.observe(rows as f64);
        self.metrics.rows.inc_by(rows as u64);
        let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let x = Matrix::new(&values, rows, self.width);
            if rows <= ON_ONE_THREAD_ROWS {
                self.model
                    .predict_on_this_thread(x, &self.objective, &self.device)
            } else {
                self.model.predict(x, &self.objective, &self.device)
            }
        }));
        let Ok(outputs) = outputs else {
            for job in batch {
                let _ = job.reply.send(Err(ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "the model failed on this batch; the failure is in the server's log",
                )));
            }
            return;
        };
        let per_row = outputs.len() / rows.max(1);
        let mut start = 0;
        for job in batch {
            let end = start + job.rows * per_row;
            // A client that went away no longer waits for its answer.
            let _ = job.reply.send(Ok(outputs[start..end].to_vec()));
            start = end;
        }
    }
}
