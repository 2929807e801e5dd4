//! Encoders shared by everything in one process, loaded once per checkpoint folder and checked
//! against the checksum a model recorded, with every text's vector remembered (in memory, and
//! on disk between runs), so fitting, transforming and serving a column embed each distinct
//! text once.

use crate::cache::{TextHash, VectorStore, cache_dir, text_hash};
use crate::{SentenceEncoder, TextError};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A loaded encoder with its weights' checksum and the vectors of texts seen so far.
#[derive(Debug)]
pub struct SharedEncoder {
    encoder: SentenceEncoder,
    sha256: String,
    memo: Mutex<HashMap<String, Vec<f32>>>,
    /// The on-disk vectors of this encoder, opened at the first embedding (None: no cache).
    store: Mutex<Option<Option<VectorStore>>>,
    /// Where the store lives, if caching is on.
    store_path: Option<PathBuf>,
}

/// Texts whose vectors are remembered, at most (about 150 MB at 384 values each).
const MEMO_LIMIT: usize = 100_000;

/// New texts from which embedding shows a progress bar (on a terminal).
const PROGRESS_FROM: usize = 256;

/// Every encoder loaded in this process, by folder.
static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<SharedEncoder>>>> = OnceLock::new();

/// The encoder of the checkpoint folder `dir`, loaded on first use.
pub fn shared_encoder(dir: &Path) -> Result<Arc<SharedEncoder>, TextError> {
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let loaded = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut loaded = loaded.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = loaded.get(&key) {
        return Ok(found.clone());
    }
    let encoder = SentenceEncoder::load(dir)?;
    let sha256 = file_sha256(&dir.join("model.safetensors"))?;
    let store_path = cache_dir().map(|c| {
        c.join("embeddings")
            .join(format!("{}.bin", settings_key(dir, &sha256)))
    });
    let shared = Arc::new(SharedEncoder {
        encoder,
        sha256,
        memo: Mutex::new(HashMap::new()),
        store: Mutex::new(None),
        store_path,
    });
    loaded.insert(key, shared.clone());
    Ok(shared)
}

/// Files besides the weights that change what a checkpoint's vectors are.
const SETTINGS_FILES: [&str; 6] = [
    "config.json",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
];

/// A checksum of everything that decides a checkpoint's vectors: its weights' SHA-256 and its
/// settings files (those present), in hex.
fn settings_key(dir: &Path, weights_sha256: &str) -> String {
    let mut h = Sha256::new();
    h.update(weights_sha256.as_bytes());
    for name in SETTINGS_FILES {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, in hex.
fn file_sha256(path: &Path) -> Result<String, TextError> {
    let io = |e: std::io::Error| TextError::Io {
        file: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl SharedEncoder {
    /// The encoder.
    pub fn encoder(&self) -> &SentenceEncoder {
        &self.encoder
    }

    /// The SHA-256 of the checkpoint's `model.safetensors`.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where this encoder's vectors are kept between runs, if anywhere.
    pub fn cache_file(&self) -> Option<&Path> {
        self.store_path.as_deref()
    }

    /// Moves the on-disk vectors of any of `fresh` into `memo`, dropping them from `fresh`;
    /// returns the hashes of the texts left in `fresh`, in order (none when nothing is cached
    /// on disk).
    fn recall(&self, fresh: &mut Vec<&str>, memo: &mut HashMap<String, Vec<f32>>) -> Vec<TextHash> {
        let Some(path) = &self.store_path else {
            return Vec::new();
        };
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let store = store.get_or_insert_with(|| Some(VectorStore::open(path, self.encoder.dim())));
        let Some(store) = store.as_ref() else {
            return Vec::new();
        };
        let hashes: Vec<TextHash> = fresh.iter().map(|t| text_hash(t)).collect();
        let mut found = store.get(&hashes);
        let mut left = Vec::with_capacity(fresh.len());
        let mut left_hashes = Vec::with_capacity(fresh.len());
        for (text, hash) in fresh.drain(..).zip(hashes) {
            match found.remove(&hash) {
                Some(v) => {
                    memo.insert(text.to_string(), v);
                }
                None => {
                    left.push(text);
                    left_hashes.push(hash);
                }
            }
        }
        *fresh = left;
        left_hashes
    }

    /// Keeps new vectors (of the texts with these hashes) on disk; a failure to write only
    /// loses the cache (and turns it off for this process), so it is not an error.
    fn keep(&self, hashes: &[TextHash], vectors: &[f32]) {
        if hashes.is_empty() {
            return;
        }
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(Some(s)) = store.as_mut() else {
            return;
        };
        let records: Vec<_> = hashes
            .iter()
            .copied()
            .zip(vectors.chunks(self.encoder.dim()))
            .collect();
        if s.append(&records).is_err() {
            *store = Some(None);
        }
    }

    /// One vector per text (`texts.len() × dim` values), embedding only texts not seen before
    /// (in this process or, through the cache folder, an earlier one).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, TextError> {
        let dim = self.encoder.dim();
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let mut fresh: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !memo.contains_key(*t))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        if memo.len() + fresh.len() > MEMO_LIMIT {
            // A server sees endless new texts: start over rather than grow without end.
            memo.clear();
        }
        let hashes = self.recall(&mut fresh, &mut memo);
        if !fresh.is_empty() {
            let vectors = if fresh.len() >= PROGRESS_FROM {
                let bar = ProgressBar::new(fresh.len() as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {human_pos}/{human_len} texts {per_sec} ETA {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_message("encoding texts");
                let vectors = self
                    .encoder
                    .embed_reporting(&fresh, &mut |n| bar.set_position(n as u64))?;
                bar.finish_and_clear();
                vectors
            } else {
                self.encoder.embed(&fresh)?
            };
            self.keep(&hashes, &vectors);
            for (text, vector) in fresh.iter().zip(vectors.chunks(dim)) {
                memo.insert((*text).to_string(), vector.to_vec());
            }
        }
        Ok(texts
            .iter()
            .flat_map(|t| memo[*t].iter().copied())
            .collect())
    }
}
