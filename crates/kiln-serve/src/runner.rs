//! Dynamic batching: requests for one model version wait in a bounded queue; one thread takes
//! what is waiting (up to `max_batch` rows, waiting at most `max_delay` for more), runs it through
//! the network as one batch and answers each request with its own rows.

use crate::error::ApiError;
use crate::metrics::VersionMetrics;
use burn::prelude::Device;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use kiln::model::Network;
use kiln::training::{Matrix, Objective, Predictor};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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

/// Encoded rows waiting for the network, with where to send their outputs.
struct Job {
    values: Vec<f32>,
    rows: usize,
    reply: oneshot::Sender<Result<Vec<f32>, ApiError>>,
}

/// The queue in front of one model version's batching thread. Dropping the last handle lets
/// the thread finish what is queued and exit.
pub struct Runner {
    queue: Sender<Job>,
    width: usize,
    metrics: VersionMetrics,
}

impl Runner {
    /// Starts the batching thread for `model`, whose rows have `width` inputs.
    pub fn start(
        model: Network,
        objective: Objective,
        width: usize,
        policy: BatchPolicy,
        metrics: VersionMetrics,
        thread_name: String,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = crossbeam_channel::bounded(policy.queue.max(1));
        let worker = Worker {
            model: Predictor::new(&model),
            objective,
            width,
            policy,
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || worker.run(jobs))?;
        Ok(Self {
            queue,
            width,
            metrics,
        })
    }

    /// Runs `rows` encoded rows through the network: probabilities (classification) or values.
    pub async fn run(&self, values: Vec<f32>, rows: usize) -> Result<Vec<f32>, ApiError> {
        debug_assert_eq!(values.len(), rows * self.width);
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job {
            values,
            rows,
            reply,
        }) {
            Ok(()) => self.metrics.queue_depth.inc(),
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::unavailable(
                    "the server's queue for this model is full; retry shortly, send fewer concurrent requests, or start the server with a larger --queue",
                    1,
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::unavailable(
                    "this model version is being unloaded; retry to reach the current version",
                    1,
                ));
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the model stopped before answering; retry the request",
            ))
        })
    }
}

/// The batching thread's state.
struct Worker {
    model: Predictor,
    objective: Objective,
    width: usize,
    policy: BatchPolicy,
    metrics: VersionMetrics,
}

impl Worker {
    fn run(self, jobs: Receiver<Job>) {
        let device = Device::flex();
        let mut carried: Option<Job> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            self.metrics.queue_depth.dec();
            let mut rows = first.rows;
            let mut batch = vec![first];
            let deadline = Instant::now() + self.policy.max_delay;
            while rows < self.policy.max_batch {
                let next = match jobs.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {
                        if self.policy.max_delay.is_zero() {
                            break;
                        }
                        match jobs.recv_deadline(deadline) {
                            Ok(job) => job,
                            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                                break;
                            }
                        }
                    }
                };
                self.metrics.queue_depth.dec();
                if rows + next.rows > self.policy.max_batch {
                    carried = Some(next);
                    self.metrics.queue_depth.inc();
                    break;
                }
                rows += next.rows;
                batch.push(next);
            }
            self.answer(batch, rows, &device);
        }
    }

    /// Runs one batch and answers each of its requests.
    fn answer(&self, batch: Vec<Job>, rows: usize, device: &Device) {
        let mut values = Vec::with_capacity(rows * self.width);
        for job in &batch {
            values.extend_from_slice(&job.values);
        }
        self.metrics.batch_size.observe(rows as f64);
        self.metrics.rows.inc_by(rows as u64);
        let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.model.predict(
                Matrix::new(&values, rows, self.width),
                &self.objective,
                device,
            )
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
