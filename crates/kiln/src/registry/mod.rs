//! The model registry: candidates pushed, promoted through a quality gate, rolled back. Its
//! folder is also a `kiln serve` repository: promoted versions are `NAME/VERSION/model.kiln`,
//! so a server started on the folder follows each promotion and rollback without a restart.
//! Everything else (candidates, retired versions, the event history) sits under
//! `.kiln-registry/`, which the server does not read.

pub mod gate;
pub mod object;
pub mod store;

use crate::bundle::Bundle;
use crate::error::KilnError;
pub use gate::{Gate, GateResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
pub use store::{Folder, Store};

/// The registry's own folder, beside the model folders.
const META: &str = ".kiln-registry";

/// What happened to a model, one record per step, kept in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the model's history, from 1.
    pub seq: u64,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// push, promote, reject or rollback.
    pub action: String,
    /// The version (or candidate) it concerns.
    pub version: u64,
    /// What was done, in words.
    pub detail: String,
    /// The gate's figures, for promote and reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
}

/// One version or candidate in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its number.
    pub version: u64,
    /// serving, promoted (older, kept to roll back to), candidate or retired.
    pub state: String,
    /// Its headline test metric's name and value.
    pub metric: Option<(String, f64)>,
    /// How it was made: trained, or updated (strategy) from a parent.
    pub origin: String,
    /// Bundle size in bytes.
    pub bytes: usize,
}

/// A model's versions, candidates and history.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    /// The model's name.
    pub name: String,
    /// The version `kiln serve` serves (the newest promoted), if any.
    pub serving: Option<u64>,
    /// Every version and candidate, newest first.
    pub entries: Vec<Entry>,
    /// The history, oldest first.
    pub events: Vec<Event>,
}

/// The result of a promotion attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// The candidate tried.
    pub candidate: u64,
    /// The version it now serves as, when promoted.
    pub version: Option<u64>,
    /// The gate's verdict and figures.
    pub gate: GateResult,
}

/// A registry over a [`Store`].
pub struct Registry {
    store: Box<dyn Store>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.store.location())
    }
}

impl Registry {
    /// The registry at `location`: `s3://BUCKET[/PREFIX]` (an S3-compatible object store,
    /// configured by the `AWS_*` environment variables), or a folder, created if missing.
    pub fn open(location: &str) -> Result<Self, KilnError> {
        if location.starts_with("s3://") {
            let bucket = object::Bucket::open(location).map_err(KilnError::Registry)?;
            return Ok(Self::on(Box::new(bucket)));
        }
        let store = Folder::open(Path::new(location)).map_err(|e| {
            KilnError::Registry(format!(
                "cannot open the registry folder '{location}': {e}; pass a folder you can write to"
            ))
        })?;
        Ok(Self::on(Box::new(store)))
    }

    /// A registry over any store.
    pub fn on(store: Box<dyn Store>) -> Self {
        Self { store }
    }

    /// Where it is.
    pub fn location(&self) -> String {
        self.store.location()
    }

    fn io(&self, what: &str, e: std::io::Error) -> KilnError {
        KilnError::Registry(format!(
            "registry '{}': cannot {what}: {e}",
            self.store.location()
        ))
    }

    /// Every model name with versions or candidates, sorted.
    pub fn models(&self) -> Result<Vec<String>, KilnError> {
        let mut names = BTreeSet::new();
        for key in self.store.list("").map_err(|e| self.io("list it", e))? {
            let mut parts = key.split('/');
            let first = parts.next().unwrap_or_default();
            if first == META {
                if let Some(name) = parts.next() {
                    names.insert(name.to_string());
                }
            } else if valid_model_name(first) && parse_version_key(&key).is_some() {
                names.insert(first.to_string());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn check_name(name: &str) -> Result<(), KilnError> {
        if valid_model_name(name) {
            Ok(())
        } else {
            Err(KilnError::Registry(format!(
                "'{name}' cannot name a model: use letters, digits, '_', '-' and '.', not starting with '.'"
            )))
        }
    }

    /// Promoted version numbers, ascending.
    pub fn versions(&self, name: &str) -> Result<Vec<u64>, KilnError> {
        Self::check_name(name)?;
        let keys = self
            .store
            .list(&format!("{name}/"))
            .map_err(|e| self.io("list versions", e))?;
        let mut out: Vec<u64> = keys
            .iter()
            .filter_map(|k| parse_version_key(k).map(|(_, v)| v))
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn numbered(&self, name: &str, folder: &str) -> Result<Vec<u64>, KilnError> {
        Self::check_name(name)?;
        let keys = self
            .store
            .list(&format!("{META}/{name}/{folder}/"))
            .map_err(|e| self.io("list candidates", e))?;
        let mut out: Vec<u64> = keys
            .iter()
            .filter_map(|k| {
                k.rsplit('/')
                    .next()?
                    .strip_suffix(".kiln")?
                    .parse::<u64>()
                    .ok()
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Candidates waiting for promotion, ascending.
    pub fn candidates(&self, name: &str) -> Result<Vec<u64>, KilnError> {
        self.numbered(name, "candidates")
    }

    fn candidate_key(name: &str, n: u64) -> String {
        format!("{META}/{name}/candidates/{n}.kiln")
    }

    fn version_key(name: &str, v: u64) -> String {
        format!("{name}/{v}/model.kiln")
    }

    fn retired_key(name: &str, v: u64) -> String {
        format!("{META}/{name}/retired/{v}.kiln")
    }

    /// The next unused number: above every version, candidate and retired version.
    fn next_number(&self, name: &str) -> Result<u64, KilnError> {
        let mut top = 0;
        for list in [
            self.versions(name)?,
            self.candidates(name)?,
            self.numbered(name, "retired")?,
        ] {
            top = top.max(list.last().copied().unwrap_or(0));
        }
        Ok(top + 1)
    }

    fn read_bundle(&self, key: &str) -> Result<(Bundle, usize), KilnError> {
        let bytes = self
            .store
            .get(key)
            .map_err(|e| self.io(&format!("read {key}"), e))?
            .ok_or_else(|| {
                KilnError::Registry(format!("registry '{}' has no {key}", self.store.location()))
            })?;
        let bundle = Bundle::from_bytes(&bytes).map_err(|problem| KilnError::Bundle {
            path: format!("{}/{key}", self.store.location()),
            problem,
        })?;
        Ok((bundle, bytes.len()))
    }

    /// The serving version (the newest promoted) and its bundle, if any.
    pub fn serving(&self, name: &str) -> Result<Option<(u64, Bundle)>, KilnError> {
        Self::check_name(name)?;
        match self.versions(name)?.last() {
            Some(&v) => Ok(Some((v, self.read_bundle(&Self::version_key(name, v))?.0))),
            None => Ok(None),
        }
    }

    /// A promoted version's bundle as a local file, where the registry is a folder.
    pub fn local_bundle(&self, name: &str, version: u64) -> Option<std::path::PathBuf> {
        self.store.local_path(&Self::version_key(name, version))
    }

    /// Adds the bundle file at `path` as a candidate of `name`; returns its number.
    pub fn push(&self, name: &str, path: &Path) -> Result<u64, KilnError> {
        let bytes = std::fs::read(path).map_err(|e| KilnError::Bundle {
            path: path.display().to_string(),
            problem: format!("cannot read it: {e}"),
        })?;
        // Refuse what could never serve.
        Bundle::from_bytes(&bytes).map_err(|problem| KilnError::Bundle {
            path: path.display().to_string(),
            problem,
        })?;
        self.push_bytes(name, &bytes, &format!("from {}", path.display()))
    }

    /// Adds checked bundle bytes as a candidate of `name`, `detail` saying where they came
    /// from; returns its number.
    pub fn push_bytes(&self, name: &str, bytes: &[u8], detail: &str) -> Result<u64, KilnError> {
        Self::check_name(name)?;
        let mut n = self.next_number(name)?;
        // Two pushes at once: the second finds the number taken and takes the next.
        while !self
            .store
            .put_new(&Self::candidate_key(name, n), bytes)
            .map_err(|e| self.io("write the candidate", e))?
        {
            n += 1;
        }
        self.record(name, "push", n, format!("candidate {n} {detail}"), None)?;
        Ok(n)
    }

    /// Tries to promote a candidate (the newest when `candidate` is `None`) through `gate`. A
    /// candidate that fails the gate stays a candidate and the serving version is untouched.
    pub fn promote(
        &self,
        name: &str,
        candidate: Option<u64>,
        gate: &Gate,
    ) -> Result<Promotion, KilnError> {
        Self::check_name(name)?;
        let candidates = self.candidates(name)?;
        let n = match candidate {
            Some(n) if candidates.contains(&n) => n,
            Some(n) => {
                return Err(KilnError::Registry(format!(
                    "model '{name}' has no candidate {n} (candidates: {}); push one with `kiln registry push`",
                    list_or_none(&candidates)
                )));
            }
            None => *candidates.last().ok_or_else(|| {
                KilnError::Registry(format!(
                    "model '{name}' has no candidate to promote; push one with `kiln registry push`"
                ))
            })?,
        };
        let (cand, _) = self.read_bundle(&Self::candidate_key(name, n))?;
        let serving = self.serving(name)?;
        let result = gate.judge(&cand, serving.as_ref().map(|(v, b)| (*v, b)))?;
        if !result.passed {
            self.record(
                name,
                "reject",
                n,
                format!("candidate {n} failed the gate: {}", result.reason),
                Some(result.clone()),
            )?;
            return Ok(Promotion {
                candidate: n,
                version: None,
                gate: result,
            });
        }
        // The serving version is the newest promoted one.
        let top = serving.as_ref().map_or(0, |(v, _)| *v);
        let version = if n > top { n } else { self.next_number(name)? };
        self.store
            .rename(
                &Self::candidate_key(name, n),
                &Self::version_key(name, version),
            )
            .map_err(|e| self.io("move the candidate into service", e))?;
        self.record(
            name,
            "promote",
            version,
            format!(
                "candidate {n} serves as version {version}{}: {}",
                serving
                    .as_ref()
                    .map_or(String::new(), |(v, _)| format!(" after version {v}")),
                result.reason
            ),
            Some(result.clone()),
        )?;
        Ok(Promotion {
            candidate: n,
            version: Some(version),
            gate: result,
        })
    }

    /// Retires the serving version (or every version above `to`), so that the one before it
    /// serves again; returns the version now serving. Retired bundles are kept.
    pub fn rollback(&self, name: &str, to: Option<u64>) -> Result<u64, KilnError> {
        Self::check_name(name)?;
        let versions = self.versions(name)?;
        let target = match to {
            Some(v) if versions.contains(&v) => v,
            Some(v) => {
                return Err(KilnError::Registry(format!(
                    "model '{name}' has no promoted version {v} to roll back to (promoted: {})",
                    list_or_none(&versions)
                )));
            }
            None => match versions.as_slice() {
                [.., before, _] => *before,
                _ => {
                    return Err(KilnError::Registry(format!(
                        "model '{name}' has {} promoted version{}: nothing to roll back to",
                        if versions.is_empty() {
                            "no".to_string()
                        } else {
                            format!("only one ({})", versions[0])
                        },
                        if versions.is_empty() { "s" } else { "" }
                    )));
                }
            },
        };
        let retire: Vec<u64> = versions.iter().copied().filter(|&v| v > target).collect();
        if retire.is_empty() {
            return Err(KilnError::Registry(format!(
                "version {target} of '{name}' already serves; nothing to roll back"
            )));
        }
        // Newest first, so that at every moment the newest remaining version is a good one.
        for &v in retire.iter().rev() {
            self.store
                .rename(&Self::version_key(name, v), &Self::retired_key(name, v))
                .map_err(|e| self.io(&format!("retire version {v}"), e))?;
            self.record(
                name,
                "rollback",
                v,
                format!("version {v} retired; version {target} serves"),
                None,
            )?;
        }
        Ok(target)
    }

    /// The model's history, oldest first.
    pub fn events(&self, name: &str) -> Result<Vec<Event>, KilnError> {
        Self::check_name(name)?;
        let keys = self
            .store
            .list(&format!("{META}/{name}/events/"))
            .map_err(|e| self.io("list events", e))?;
        let mut out = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            let Some(bytes) = self
                .store
                .get(key)
                .map_err(|e| self.io("read an event", e))?
            else {
                continue;
            };
            let event: Event = serde_json::from_slice(&bytes).map_err(|e| {
                KilnError::Registry(format!(
                    "registry '{}': event {key} is unreadable ({e}); restore it or remove it",
                    self.store.location()
                ))
            })?;
            out.push(event);
        }
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    /// Appends one event, numbered after the last (a concurrent writer takes the next number).
    pub fn record(
        &self,
        name: &str,
        action: &str,
        version: u64,
        detail: String,
        gate: Option<GateResult>,
    ) -> Result<Event, KilnError> {
        // The keys carry the numbers, so the history need not be read to extend it.
        let keys = self
            .store
            .list(&format!("{META}/{name}/events/"))
            .map_err(|e| self.io("list events", e))?;
        let mut seq = keys
            .iter()
            .filter_map(|k| {
                k.rsplit('/')
                    .next()?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .map_or(1, |last| last + 1);
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        loop {
            let event = Event {
                seq,
                time,
                action: action.into(),
                version,
                detail: detail.clone(),
                gate: gate.clone(),
            };
            let bytes = serde_json::to_vec(&event).expect("events serialise");
            let key = format!("{META}/{name}/events/{seq:08}.json");
            if self
                .store
                .put_new(&key, &bytes)
                .map_err(|e| self.io("record an event", e))?
            {
                return Ok(event);
            }
            seq += 1;
        }
    }

    /// Brings the folder `dir` in step with the promoted versions, as a `kiln serve`
    /// repository: new versions are copied in first, then retired ones removed, so the newest
    /// good version is always there. Returns whether anything changed.
    pub fn mirror(&self, dir: &Path) -> Result<bool, KilnError> {
        let mut wanted = BTreeSet::new();
        for key in self.store.list("").map_err(|e| self.io("list it", e))? {
            if let Some((name, version)) = parse_version_key(&key)
                && valid_model_name(name)
            {
                wanted.insert((name.to_string(), version));
            }
        }
        let mut changed = false;
        for (name, version) in &wanted {
            let local = dir.join(name).join(version.to_string()).join("model.kiln");
            if local.is_file() {
                continue;
            }
            let key = Self::version_key(name, *version);
            let Some(bytes) = self
                .store
                .get(&key)
                .map_err(|e| self.io(&format!("read {key}"), e))?
            else {
                continue;
            };
            let written = local
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| crate::atomic::write_atomic(&local, &bytes));
            written.map_err(|e| KilnError::write(&local, e))?;
            changed = true;
        }
        for model in read_dirs(dir) {
            let name = model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for version_dir in read_dirs(&model) {
                let version = version_dir
                    .file_name()
                    .and_then(|n| n.to_str()?.parse::<u64>().ok());
                if version.is_some_and(|v| !wanted.contains(&(name.clone(), v))) {
                    std::fs::remove_dir_all(&version_dir)
                        .map_err(|e| KilnError::write(&version_dir, e))?;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    /// A JSON document the registry keeps for a tool (the loop's progress), if present.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, KilnError> {
        let key = format!("{META}/{key}");
        match self.store.get(&key).map_err(|e| self.io("read state", e))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                KilnError::Registry(format!(
                    "registry '{}': {key} is unreadable ({e}); remove it to start afresh",
                    self.store.location()
                ))
            }),
        }
    }

    /// Writes a JSON document under `key`, atomically.
    pub fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), KilnError> {
        let bytes = serde_json::to_vec(value).expect("state serialises");
        self.store
            .put(&format!("{META}/{key}"), &bytes)
            .map_err(|e| self.io("write state", e))
    }

    /// Keeps a data file an update trained on, as `NAME/data/FILE`; returns where it now is.
    pub fn keep_data(&self, name: &str, file: &str, bytes: &[u8]) -> Result<String, KilnError> {
        let key = format!("{META}/{name}/data/{file}");
        self.store
            .put(&key, bytes)
            .map_err(|e| self.io("keep the update's data", e))?;
        Ok(self.store.local_path(&key).map_or_else(
            || format!("{}/{key}", self.store.location()),
            |p| p.display().to_string(),
        ))
    }

    /// Versions, candidates, retired versions and history of `name`.
    pub fn status(&self, name: &str) -> Result<ModelStatus, KilnError> {
        Self::check_name(name)?;
        let versions = self.versions(name)?;
        let serving = versions.last().copied();
        let mut entries = Vec::new();
        let mut add = |key: String, version: u64, state: &str| -> Result<(), KilnError> {
            let (bundle, bytes) = self.read_bundle(&key)?;
            let m = &bundle.manifest;
            entries.push(Entry {
                version,
                state: state.into(),
                metric: Some((
                    m.objective.metric_name().into(),
                    m.objective.headline(&m.test_metrics),
                )),
                origin: m.lineage.as_ref().map_or_else(
                    || format!("trained on {}", m.data.source),
                    |l| format!("{} on {}", l.strategy, l.data),
                ),
                bytes,
            });
            Ok(())
        };
        for &v in &versions {
            let state = if Some(v) == serving {
                "serving"
            } else {
                "promoted"
            };
            add(Self::version_key(name, v), v, state)?;
        }
        for v in self.candidates(name)? {
            add(Self::candidate_key(name, v), v, "candidate")?;
        }
        for v in self.numbered(name, "retired")? {
            add(Self::retired_key(name, v), v, "retired")?;
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.version));
        Ok(ModelStatus {
            name: name.into(),
            serving,
            entries,
            events: self.events(name)?,
        })
    }
}

/// `NAME/VERSION/model.kiln` as (name, version).
fn parse_version_key(key: &str) -> Option<(&str, u64)> {
    let mut parts = key.split('/');
    let name = parts.next()?;
    let version = parts.next()?.parse::<u64>().ok().filter(|&v| v > 0)?;
    (parts.next()? == "model.kiln" && parts.next().is_none()).then_some((name, version))
}

/// Whether a folder name can be a model name (in a registry and a `kiln serve` repository):
/// letters, digits, `_`, `-`, `.`, not starting with `.`.
pub fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The sub-folders of `dir` (none when it cannot be read).
fn read_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn list_or_none(v: &[u64]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_copies_new_versions_then_drops_retired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(&dir.path().join("reg").display().to_string()).unwrap();
        reg.store.put("m/1/model.kiln", b"one").unwrap();
        reg.store.put("m/2/model.kiln", b"two").unwrap();
        reg.store
            .put(&Registry::candidate_key("m", 3), b"three")
            .unwrap();
        assert_eq!(reg.models().unwrap(), ["m"]);
        assert_eq!(reg.versions("m").unwrap(), [1, 2]);
        assert_eq!(reg.candidates("m").unwrap(), [3]);
        assert_eq!(reg.next_number("m").unwrap(), 4);
        let local = dir.path().join("local");
        assert!(reg.mirror(&local).unwrap());
        assert_eq!(std::fs::read(local.join("m/2/model.kiln")).unwrap(), b"two");
        assert!(!local.join("m/3").exists(), "candidates are not served");
        assert!(!reg.mirror(&local).unwrap(), "nothing new");
        reg.store
            .rename("m/2/model.kiln", &Registry::retired_key("m", 2))
            .unwrap();
        assert!(reg.mirror(&local).unwrap());
        assert!(!local.join("m/2").exists());
        assert_eq!(std::fs::read(local.join("m/1/model.kiln")).unwrap(), b"one");
        assert_eq!(
            reg.next_number("m").unwrap(),
            4,
            "a retired number is not reused"
        );
    }

    #[test]
    fn version_keys_and_names_are_checked() {
        assert_eq!(parse_version_key("m/3/model.kiln"), Some(("m", 3)));
        assert_eq!(parse_version_key("m/0/model.kiln"), None);
        assert_eq!(parse_version_key("m/x/model.kiln"), None);
        assert_eq!(parse_version_key("m/3/other.kiln"), None);
        assert!(valid_model_name("fraud-v2.b"));
        assert!(!valid_model_name(".kiln-registry"));
        assert!(!valid_model_name("a/b"));
    }
}
