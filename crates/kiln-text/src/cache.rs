//! Sentence vectors kept on disk between runs, so that training, evaluating and tuning on the
//! same texts embed each of them once. One append-only file per encoder (named by a checksum of
//! its weights, tokenizer and settings) holds fixed-size records: the SHA-256 of a text, its
//! vector, and a checksum of both. A torn or corrupt record is skipped, never read as a vector.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The SHA-256 of a text.
pub type TextHash = [u8; 32];

/// Bytes of a record's checksum.
const CHECK: usize = 8;

/// A file of sentence vectors of one encoder.
#[derive(Debug)]
pub struct VectorStore {
    path: PathBuf,
    dim: usize,
    /// Where each stored text's vector starts in the file.
    offsets: HashMap<TextHash, u64>,
}

/// The folder of Kiln's caches: `KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else
/// `$HOME/.cache/kiln`; none when `KILN_CACHE_DIR` is empty or `off`.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("KILN_CACHE_DIR") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join("kiln"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kiln"))),
    }
}

/// The SHA-256 of `text`.
pub fn text_hash(text: &str) -> TextHash {
    Sha256::digest(text.as_bytes()).into()
}

/// The checksum of one record's text hash and vector bytes.
fn check(hash: &TextHash, vector: &[u8]) -> [u8; CHECK] {
    let mut h = Sha256::new();
    h.update(hash);
    h.update(vector);
    let digest = h.finalize();
    let mut out = [0u8; CHECK];
    out.copy_from_slice(&digest[..CHECK]);
    out
}

impl VectorStore {
    /// Opens (or starts) the store at `path` for vectors of `dim` values, indexing the records
    /// whose checksums hold. An unreadable file gives an empty store.
    pub fn open(path: &Path, dim: usize) -> Self {
        let mut store = Self {
            path: path.to_path_buf(),
            dim,
            offsets: HashMap::new(),
        };
        let Ok(mut file) = File::open(path) else {
            return store;
        };
        let record = store.record_len();
        let mut buffer = vec![0u8; record * 1024];
        let mut at = 0u64;
        loop {
            let mut filled = 0;
            while filled < buffer.len() {
                match file.read(&mut buffer[filled..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => filled += n,
                }
            }
            for r in buffer[..filled].chunks_exact(record) {
                let hash: TextHash = r[..32].try_into().expect("32 bytes");
                let vector = &r[32..32 + dim * 4];
                if r[32 + dim * 4..] == check(&hash, vector) {
                    store.offsets.insert(hash, at + 32);
                }
                at += record as u64;
            }
            if filled < buffer.len() {
                break;
            }
        }
        store
    }

    /// Bytes per record.
    fn record_len(&self) -> usize {
        32 + self.dim * 4 + CHECK
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no vector is stored.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The stored vectors of the given texts, where stored (read from the file; a record that
    /// no longer reads back whole is left out).
    pub fn get(&self, hashes: &[TextHash]) -> HashMap<TextHash, Vec<f32>> {
        let mut found = HashMap::new();
        let wanted: Vec<(&TextHash, u64)> = hashes
            .iter()
            .filter_map(|h| self.offsets.get(h).map(|&o| (h, o)))
            .collect();
        if wanted.is_empty() {
            return found;
        }
        let Ok(mut file) = File::open(&self.path) else {
            return found;
        };
        let mut bytes = vec![0u8; self.dim * 4 + CHECK];
        for (hash, offset) in wanted {
            let ok =
                file.seek(SeekFrom::Start(offset)).is_ok() && file.read_exact(&mut bytes).is_ok();
            let (vector, sum) = bytes.split_at(self.dim * 4);
            if ok && sum == check(hash, vector) {
                let values = vector
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                found.insert(*hash, values);
            }
        }
        found
    }

    /// Appends vectors (`dim` values each) in one write; texts already stored are skipped.
    /// Failing to write only loses the cache, so errors are returned for the caller to ignore.
    pub fn append(&mut self, records: &[(TextHash, &[f32])]) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        let mut added = Vec::new();
        for (hash, vector) in records {
            if vector.len() != self.dim || self.offsets.contains_key(hash) {
                continue;
            }
            let start = bytes.len();
            bytes.extend_from_slice(hash);
            for v in *vector {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            let sum = check(hash, &bytes[start + 32..]);
            bytes.extend_from_slice(&sum);
            added.push((*hash, start as u64 + 32));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let end = file.seek(SeekFrom::End(0))?;
        let record = self.record_len() as u64;
        if end % record != 0 {
            // A torn record at the end (a crash mid-write): records after it would be misaligned.
            return Err(std::io::Error::other(
                "the cache file ends in a torn record",
            ));
        }
        file.write_all(&bytes)?;
        for (hash, offset) in added {
            self.offsets.insert(hash, end + offset);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_reopening_and_corrupt_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/enc.bin");
        let mut store = VectorStore::open(&path, 3);
        assert!(store.is_empty());
        let (a, b, c) = (text_hash("a"), text_hash("b"), text_hash("c"));
        store
            .append(&[(a, &[1.0, 2.0, 3.0]), (b, &[4.0, 5.0, 6.0])])
            .unwrap();
        // A text already stored, or a vector of the wrong length, is not written again.
        store.append(&[(a, &[9.0, 9.0, 9.0]), (c, &[1.0])]).unwrap();
        let reopened = VectorStore::open(&path, 3);
        assert_eq!(reopened.len(), 2);
        let got = reopened.get(&[a, b, c]);
        assert_eq!(got[&a], [1.0, 2.0, 3.0]);
        assert_eq!(got[&b], [4.0, 5.0, 6.0]);
        assert!(!got.contains_key(&c));

        // Flip one byte of the first vector: that record is dropped, the other kept.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[33] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let damaged = VectorStore::open(&path, 3);
        assert_eq!(damaged.len(), 1);
        assert_eq!(damaged.get(&[a, b]).len(), 1);

        // A torn record at the end: reading skips it, appending refuses rather than misalign.
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&path, &bytes).unwrap();
        let mut torn = VectorStore::open(&path, 3);
        assert_eq!(torn.len(), 0, "the only intact record was the damaged one");
        assert!(torn.append(&[(c, &[7.0, 8.0, 9.0])]).is_err());
    }
}
