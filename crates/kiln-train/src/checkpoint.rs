//! The state of an interrupted fit, from which a later fit of the same data, network, options
//! and seed continues exactly as if it had never stopped: weights, optimizer moments, random
//! streams, shuffled order, learning curve and the best epoch so far.
//!
//! Layout: `KILNCKPT` magic, state length (u64 LE), state JSON, then the training weights
//! (safetensors), the best epoch's weights (safetensors) and the optimizer's state (burnpack),
//! each as a length (u64 LE) and its bytes.

use crate::curve::EpochRecord;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Bytes;
use kiln_model::Network;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The first bytes of every checkpoint.
const MAGIC: &[u8; 8] = b"KILNCKPT";

/// A fit's state after an epoch.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub(crate) state: State,
    pub(crate) weights: Vec<u8>,
    pub(crate) best_weights: Vec<u8>,
    pub(crate) optimizer: Vec<u8>,
}

/// The part of a checkpoint that is not weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    /// What the fit was given (see [`fingerprint`]): a checkpoint resumes only its own fit.
    pub fingerprint: u64,
    /// Epochs done.
    pub epoch: usize,
    /// Optimizer steps done.
    pub step: usize,
    /// The last step's learning rate.
    pub learning_rate: f64,
    /// The epoch budget (a time limit may have changed it).
    pub max_epochs: usize,
    /// Why training would end now.
    pub stop_reason: String,
    /// Whether the fit had ended (early stop or budget) when this was taken.
    pub finished: bool,
    /// Seconds of training before this point.
    pub seconds: f64,
    /// Positions of the shuffling and noise streams.
    pub streams: [u128; 2],
    /// The shuffled row order, which each epoch shuffles further.
    pub order: Vec<usize>,
    /// The learning curve so far.
    pub curve: Vec<EpochRecord>,
    /// The best validation loss and its epoch.
    pub best: (f64, usize),
    /// Ids of the training network's parameters in visiting order, which the optimizer's
    /// state is keyed by.
    pub param_ids: Vec<u64>,
}

impl Checkpoint {
    /// Epochs the checkpointed fit had done.
    pub fn epoch(&self) -> usize {
        self.state.epoch
    }

    /// Whether the checkpointed fit had already ended.
    pub fn finished(&self) -> bool {
        self.state.finished
    }

    /// The checkpoint as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let state = serde_json::to_vec(&self.state).expect("a checkpoint's state serialises");
        let mut out = Vec::with_capacity(
            MAGIC.len()
                + 32
                + state.len()
                + self.weights.len()
                + self.best_weights.len()
                + self.optimizer.len(),
        );
        out.extend_from_slice(MAGIC);
        for part in [&state, &self.weights, &self.best_weights, &self.optimizer] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Reads a checkpoint written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a Kiln training checkpoint")?;
        let mut parts = Vec::with_capacity(4);
        let mut rest = rest;
        for _ in 0..4 {
            let (len, tail) = rest
                .split_first_chunk::<8>()
                .ok_or("the checkpoint is truncated")?;
            let len = usize::try_from(u64::from_le_bytes(*len))
                .map_err(|_| "the checkpoint is corrupt")?;
            if tail.len() < len {
                return Err("the checkpoint is truncated".into());
            }
            let (part, tail) = tail.split_at(len);
            parts.push(part.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err("the checkpoint has trailing bytes".into());
        }
        let optimizer = parts.pop().expect("four parts");
        let best_weights = parts.pop().expect("four parts");
        let weights = parts.pop().expect("four parts");
        let state = serde_json::from_slice(&parts[0])
            .map_err(|e| format!("the checkpoint's state is unreadable: {e}"))?;
        Ok(Self {
            state,
            weights,
            best_weights,
            optimizer,
        })
    }
}

/// A hash of everything that decides a fit's course, so that a checkpoint is only resumed by
/// the fit it was taken from.
pub(crate) fn fingerprint(parts: &[&dyn Fn(&mut DefaultHasher)]) -> u64 {
    let mut hasher = DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    for part in parts {
        part(&mut hasher);
    }
    hasher.finish()
}

/// Feeds `values` to `hasher` bit for bit.
pub(crate) fn hash_values(values: &[f32], hasher: &mut DefaultHasher) {
    hasher.write_usize(values.len());
    for v in values {
        hasher.write_u32(v.to_bits());
    }
}

/// The network's weights as safetensors bytes.
pub(crate) fn weights_of(model: &Network) -> Vec<u8> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).expect("weights serialise");
    store.get_bytes().expect("weights serialise")
}

/// `model` with the weights of `bytes` (safetensors of a network of its shape).
pub(crate) fn with_weights(mut model: Network, bytes: &[u8]) -> Result<Network, String> {
    model
        .load_from(&mut SafetensorsStore::from_bytes(Some(bytes.to_vec())))
        .map_err(|e| format!("the checkpoint's weights do not fit the network: {e}"))?;
    Ok(model)
}

/// The ids of `model`'s parameters in visiting order.
pub(crate) fn param_ids(model: &Network) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

/// `model` with its parameters renamed, in visiting order, to `ids`: a network rebuilt from
/// a checkpoint takes back the ids its optimizer state is keyed by.
pub(crate) fn with_param_ids(model: Network, ids: &[u64]) -> Result<Network, String> {
    struct Rename<'a>(std::slice::Iter<'a, u64>, bool);
    impl ModuleMapper for Rename<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            match self.0.next() {
                Some(&id) => param.id = ParamId::from(id),
                None => self.1 = false,
            }
            param
        }
    }
    let mut rename = Rename(ids.iter(), true);
    let model = model.map(&mut rename);
    if !rename.1 || rename.0.next().is_some() {
        return Err("the checkpoint's parameters do not match the network".into());
    }
    Ok(model)
}

/// The optimizer's state as bytes.
pub(crate) fn optimizer_bytes(optim: &ModuleOptimizer) -> Vec<u8> {
    optim
        .into_bytes()
        .expect("optimizer state serialises")
        .to_vec()
}

/// `optim` with the state of `bytes`.
pub(crate) fn with_optimizer_state(
    optim: ModuleOptimizer,
    bytes: &[u8],
) -> Result<ModuleOptimizer, String> {
    optim
        .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| format!("the checkpoint's optimizer state is unreadable: {e:?}"))
}
