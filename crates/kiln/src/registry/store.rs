//! Where a registry keeps its files: a small interface over named objects, so that a folder
//! and an object store hold the same layout.

use crate::atomic::write_atomic;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Named blobs under `/`-separated keys: what a registry needs of its storage.
pub trait Store: Send + Sync {
    /// Where the store is, for messages.
    fn location(&self) -> String;
    /// The object's bytes, or `None` when there is none under `key`.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Writes `bytes` under `key` so that readers see the old object or the new, never half.
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// As `put`, but only when no object is under `key` yet; `Ok(false)` when one is.
    fn put_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool>;
    /// Every key under `prefix` (which ends with `/`), at any depth, sorted.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Moves the object at `from` to `to` (replacing any there) in one step where the store can.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// The object as a local file, where the store is a folder (what `kiln serve` follows).
    fn local_path(&self, key: &str) -> Option<PathBuf>;
}

/// A registry in a folder: keys are relative paths.
#[derive(Debug, Clone)]
pub struct Folder {
    root: PathBuf,
}

impl Folder {
    /// A store rooted at `root`, created if missing.
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn parent_made(&self, key: &str) -> io::Result<PathBuf> {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        Ok(path)
    }
}

impl Store for Folder {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        write_atomic(&self.parent_made(key)?, bytes)
    }

    fn put_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let path = self.parent_made(key)?;
        // Written in full under a temporary name, then linked: a link never replaces a file,
        // so of two writers exactly one wins, and no reader sees half an object.
        let temp = path.with_file_name(format!(
            ".{}.new-{}",
            path.file_name().map_or("x".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        write_atomic(&temp, bytes)?;
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let start = self.path(prefix);
        let mut stack = vec![(start, prefix.to_string())];
        while let Some((dir, key)) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains(".tmp-") || name.contains(".new-") {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    stack.push((entry.path(), format!("{key}{name}/")));
                } else {
                    out.push(format!("{key}{name}"));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let target = self.parent_made(to)?;
        let source = self.path(from);
        fs::rename(&source, &target)?;
        // A version folder left empty would show as a broken version; remove it (best effort:
        // another file in it keeps it).
        if let Some(parent) = source.parent().filter(|p| *p != self.root) {
            let _ = fs::remove_dir(parent);
        }
        Ok(())
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_store_puts_lists_renames_and_refuses_a_second_new_object() {
        let dir = tempfile::tempdir().unwrap();
        let s = Folder::open(&dir.path().join("reg")).unwrap();
        assert_eq!(s.get("a/b.txt").unwrap(), None);
        s.put("a/b.txt", b"one").unwrap();
        s.put("a/c/d.txt", b"two").unwrap();
        assert_eq!(s.list("a/").unwrap(), vec!["a/b.txt", "a/c/d.txt"]);
        assert!(s.put_new("e/1.json", b"x").unwrap());
        assert!(!s.put_new("e/1.json", b"y").unwrap());
        assert_eq!(s.get("e/1.json").unwrap().unwrap(), b"x");
        s.rename("a/c/d.txt", "z/d.txt").unwrap();
        assert!(
            !dir.path().join("reg/a/c").exists(),
            "emptied folder removed"
        );
        assert_eq!(s.get("z/d.txt").unwrap().unwrap(), b"two");
        assert_eq!(s.list("nothing/").unwrap(), Vec::<String>::new());
        assert!(s.rename("missing", "x").is_err());
    }
}
