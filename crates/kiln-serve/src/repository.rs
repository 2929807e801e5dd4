//! The models being served: found in bundle files and model repositories (`REPO/NAME/VERSION/`
//! holding a bundle, as Triton and TF Serving lay them out), loaded by a version policy, and
//! kept in step with the disk so that a new version folder is served without a restart.

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::model::ModelVersion;
use crate::runner::BatchPolicy;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// Where models come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// One bundle file, served as version 1 of the model named after the file.
    Bundle(PathBuf),
    /// A model repository: one folder per model, one numbered folder per version.
    Repository(PathBuf),
    /// A registry in an object store, mirrored into a local repository at each poll.
    Mirror(Arc<Mirror>),
}

/// An object-store registry's promoted versions, copied into a temporary folder to serve.
#[derive(Debug)]
pub struct Mirror {
    registry: kiln::registry::Registry,
    cache: tempfile::TempDir,
}

impl PartialEq for Mirror {
    fn eq(&self, other: &Self) -> bool {
        self.registry.location() == other.registry.location()
    }
}

impl Source {
    /// A bundle file or a repository folder, whichever `path` is, or a registry in an object
    /// store (`s3://BUCKET/PREFIX`).
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let text = path.to_string_lossy();
        if text.starts_with("s3://") {
            let registry = kiln::registry::Registry::open(&text).map_err(|e| e.to_string())?;
            let cache = tempfile::Builder::new()
                .prefix("kiln-serve-mirror-")
                .tempdir()
                .map_err(|e| format!("cannot make a folder to mirror '{text}' into: {e}"))?;
            return Ok(Source::Mirror(Arc::new(Mirror { registry, cache })));
        }
        let meta = std::fs::metadata(path).map_err(|e| {
            format!(
                "cannot read '{}': {e}; pass a bundle written by `kiln train` or a model repository folder (NAME/VERSION/model.kiln)",
                path.display()
            )
        })?;
        Ok(if meta.is_dir() {
            Source::Repository(path.to_path_buf())
        } else {
            Source::Bundle(path.to_path_buf())
        })
    }
}

/// Which versions of each model serve requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPolicy {
    /// The newest `n` versions; the newest answers requests that name no version.
    Latest(usize),
    /// Every version found.
    All,
    /// Exactly these versions, where found.
    Specific(Vec<u64>),
}

impl std::str::FromStr for VersionPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "version policy '{s}' is not one of: latest, latest:N, all, or version numbers such as 1,3"
            )
        };
        match s {
            "latest" => Ok(Self::Latest(1)),
            "all" => Ok(Self::All),
            _ => {
                if let Some(n) = s.strip_prefix("latest:") {
                    let n: usize = n.parse().map_err(|_| bad())?;
                    return if n == 0 {
                        Err(bad())
                    } else {
                        Ok(Self::Latest(n))
                    };
                }
                let versions: Result<Vec<u64>, _> =
                    s.split(',').map(|v| v.trim().parse()).collect();
                match versions {
                    Ok(v) if !v.is_empty() && !v.contains(&0) => Ok(Self::Specific(v)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl VersionPolicy {
    /// The versions to serve among those available.
    fn select(&self, available: &BTreeSet<u64>) -> BTreeSet<u64> {
        match self {
            Self::Latest(n) => available.iter().rev().take(*n).copied().collect(),
            Self::All => available.clone(),
            Self::Specific(wanted) => wanted
                .iter()
                .filter(|v| available.contains(v))
                .copied()
                .collect(),
        }
    }
}

/// A bundle file's size and modification time: a changed stamp means a changed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// A version found on disk: its bundle file, or why it has none.
#[derive(Debug, Clone)]
struct Found {
    bundle: Result<(PathBuf, Stamp), String>,
}

/// The state of one model version, as the repository index reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionStatus {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u64,
    /// `READY` or `UNAVAILABLE`.
    pub state: &'static str,
    /// Why it is not serving, if it is not.
    pub reason: String,
}

#[derive(Default)]
struct ModelState {
    serving: BTreeMap<u64, (Arc<ModelVersion>, Stamp)>,
    failed: BTreeMap<u64, (Stamp, String)>,
    unloaded: bool,
}

/// Every model the server knows, and the versions of each that are serving.
pub struct Registry {
    sources: Vec<Source>,
    policy: VersionPolicy,
    batch: BatchPolicy,
    metrics: Metrics,
    models: RwLock<BTreeMap<String, ModelState>>,
    synced: AtomicBool,
    drift_rows: usize,
}

impl Registry {
    /// A registry over `sources`; nothing is loaded until [`Registry::sync`].
    pub fn new(
        sources: Vec<Source>,
        policy: VersionPolicy,
        batch: BatchPolicy,
        metrics: Metrics,
    ) -> Self {
        Self {
            sources,
            policy,
            batch,
            metrics,
            models: RwLock::new(BTreeMap::new()),
            synced: AtomicBool::new(false),
            drift_rows: 0,
        }
    }

    /// Keeps the last `rows` rows served by each version for drift figures (0: none).
    pub fn with_drift_rows(mut self, rows: usize) -> Self {
        self.drift_rows = rows;
        self
    }

    /// Every serving model version.
    pub fn serving(&self) -> Vec<Arc<ModelVersion>> {
        let models = self.models.read().expect("registry lock");
        models
            .values()
            .flat_map(|m| m.serving.values().map(|(v, _)| Arc::clone(v)))
            .collect()
    }

    /// The serving version `version` of `name`, or its default (newest) version.
    pub fn get(&self, name: &str, version: Option<&str>) -> Result<Arc<ModelVersion>, ApiError> {
        let models = self.models.read().expect("registry lock");
        let Some(model) = models.get(name).filter(|m| !m.serving.is_empty()) else {
            let known: Vec<&str> = models
                .iter()
                .filter(|(_, m)| !m.serving.is_empty())
                .map(|(n, _)| n.as_str())
                .collect();
            return Err(ApiError::not_found(format!(
                "no model named '{name}' is serving; models serving: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let chosen = match version {
            None => model.serving.values().next_back(),
            Some(v) => v.parse::<u64>().ok().and_then(|v| model.serving.get(&v)),
        };
        chosen.map(|(m, _)| Arc::clone(m)).ok_or_else(|| {
            let versions: Vec<String> = model.serving.keys().map(u64::to_string).collect();
            ApiError::not_found(format!(
                "model '{name}' has no version '{}' serving; versions serving: {}",
                version.unwrap_or_default(),
                versions.join(", ")
            ))
        })
    }

    /// The serving versions of a model, oldest first (empty if it is not serving).
    pub fn versions(&self, name: &str) -> Vec<u64> {
        let models = self.models.read().expect("registry lock");
        models
            .get(name)
            .map(|m| m.serving.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the first load is done and every model that is not unloaded has a version
    /// serving (a model unloaded on purpose does not make the server unready).
    pub fn ready(&self) -> bool {
        let models = self.models.read().expect("registry lock");
        self.synced.load(Ordering::Acquire)
            && models.values().all(|m| m.unloaded || !m.serving.is_empty())
    }

    /// Every model version found on disk or serving, with its state.
    pub fn index(&self) -> Vec<VersionStatus> {
        let found = self.discover();
        let models = self.models.read().expect("registry lock");
        let mut out = Vec::new();
        for (name, versions) in &found {
            let state = models.get(name);
            for (&version, found) in versions {
                let serving = state.is_some_and(|s| s.serving.contains_key(&version));
                let reason = if serving {
                    String::new()
                } else if let Err(why) = &found.bundle {
                    why.clone()
                } else if let Some((_, why)) = state.and_then(|s| s.failed.get(&version)) {
                    why.clone()
                } else if state.is_some_and(|s| s.unloaded) {
                    "unloaded".into()
                } else {
                    "not selected by the version policy".into()
                };
                out.push(VersionStatus {
                    name: name.clone(),
                    version,
                    state: if serving { "READY" } else { "UNAVAILABLE" },
                    reason,
                });
            }
        }
        out
    }

    /// Loads the named model again after an unload, and brings it in step with the disk.
    pub fn load(&self, name: &str) -> Result<Vec<u64>, ApiError> {
        let found = self.discover();
        let Some(versions_found) = found.get(name) else {
            return Err(ApiError::not_found(format!(
                "no model named '{name}' is in the model repository; names are folder names under the repository (or bundle file names)"
            )));
        };
        {
            let mut models = self.models.write().expect("registry lock");
            let model = models.entry(name.to_string()).or_default();
            model.unloaded = false;
            model.failed.clear();
        }
        self.sync_found(name, Some(versions_found));
        let versions = self.versions(name);
        if versions.is_empty() {
            let models = self.models.read().expect("registry lock");
            let why: Vec<String> = models
                .get(name)
                .map(|m| {
                    m.failed
                        .iter()
                        .map(|(v, (_, e))| format!("version {v}: {e}"))
                        .collect()
                })
                .unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "model '{name}' has no version that loads: {}",
                if why.is_empty() {
                    "no version folder holds a bundle".into()
                } else {
                    why.join("; ")
                }
            )));
        }
        Ok(versions)
    }

    /// Stops serving the named model until it is loaded again.
    pub fn unload(&self, name: &str) -> Result<(), ApiError> {
        let removed = {
            let mut models = self.models.write().expect("registry lock");
            let Some(model) = models.get_mut(name) else {
                return Err(ApiError::not_found(format!(
                    "no model named '{name}' is known"
                )));
            };
            model.unloaded = true;
            std::mem::take(&mut model.serving).len()
        };
        self.metrics.versions_loaded.sub(removed as i64);
        tracing::info!(model = name, "unloaded");
        Ok(())
    }

    /// Brings every model in step with the disk: loads selected versions that are new or
    /// changed, then retires versions no longer selected. A version that fails to load is
    /// retried only once its file changes; the versions already serving keep serving.
    pub fn sync(&self) {
        let found = self.discover();
        for name in found.keys() {
            self.sync_found(name, found.get(name));
        }
        let gone: Vec<String> = {
            let models = self.models.read().expect("registry lock");
            models
                .keys()
                .filter(|n| !found.contains_key(*n))
                .cloned()
                .collect()
        };
        for name in gone {
            self.sync_found(&name, None);
        }
        self.synced.store(true, Ordering::Release);
    }

    fn sync_found(&self, name: &str, found: Option<&BTreeMap<u64, Found>>) {
        let empty = BTreeMap::new();
        let found = found.unwrap_or(&empty);
        let (serving, failed, unloaded) = {
            let models = self.models.read().expect("registry lock");
            match models.get(name) {
                Some(m) => (
                    m.serving
                        .iter()
                        .map(|(v, (_, s))| (*v, *s))
                        .collect::<BTreeMap<_, _>>(),
                    m.failed.clone(),
                    m.unloaded,
                ),
                None => Default::default(),
            }
        };
        if unloaded {
            return;
        }
        // Versions worth trying: found with a bundle, and not failed on this same file. When a
        // selected version fails, the policy chooses again among the rest (an older version
        // serves while a newer one is broken).
        let mut failed = failed;
        let mut loaded = Vec::new();
        let mut newly_failed = Vec::new();
        loop {
            let candidates: BTreeSet<u64> = found
                .iter()
                .filter(|(v, f)| match &f.bundle {
                    Ok((_, stamp)) => failed.get(v).is_none_or(|(s, _)| s != stamp),
                    Err(_) => false,
                })
                .map(|(v, _)| *v)
                .collect();
            let mut any_failed = false;
            for version in self.policy.select(&candidates) {
                let Ok((path, stamp)) = &found[&version].bundle else {
                    continue;
                };
                if serving.get(&version) == Some(stamp)
                    || loaded.iter().any(|(v, _, _)| *v == version)
                {
                    continue;
                }
                match ModelVersion::load(
                    name,
                    version,
                    path.clone(),
                    self.batch,
                    &self.metrics,
                    self.drift_rows,
                ) {
                    Ok(model) => {
                        tracing::info!(model = name, version, path = %path.display(), "loaded");
                        loaded.push((version, Arc::new(model), *stamp));
                    }
                    Err(why) => {
                        tracing::warn!(model = name, version, path = %path.display(), error = %why, "cannot load");
                        failed.insert(version, (*stamp, why.clone()));
                        newly_failed.push((version, *stamp, why));
                        any_failed = true;
                    }
                }
            }
            if !any_failed {
                break;
            }
        }
        let mut models = self.models.write().expect("registry lock");
        let model = models.entry(name.to_string()).or_default();
        if model.unloaded {
            return;
        }
        for (version, stamp, why) in newly_failed {
            model.failed.insert(version, (stamp, why));
        }
        for (version, m, stamp) in loaded {
            model.failed.remove(&version);
            if model.serving.insert(version, (m, stamp)).is_none() {
                self.metrics.versions_loaded.inc();
            }
        }
        // Versions still on disk, among which the policy chooses again.
        let usable: BTreeSet<u64> = model
            .serving
            .iter()
            .filter(|(v, _)| found.get(v).is_some_and(|f| f.bundle.is_ok()))
            .map(|(v, _)| *v)
            .collect();
        let keep = self.policy.select(&usable);
        let retired: Vec<u64> = model
            .serving
            .keys()
            .filter(|v| !keep.contains(v))
            .copied()
            .collect();
        for version in retired {
            // Requests already holding this version finish on it; new ones go to the others.
            model.serving.remove(&version);
            self.metrics.versions_loaded.dec();
            tracing::info!(model = name, version, "retired");
        }
    }

    /// Every model and version on disk.
    fn discover(&self) -> BTreeMap<String, BTreeMap<u64, Found>> {
        let mut out: BTreeMap<String, BTreeMap<u64, Found>> = BTreeMap::new();
        for source in &self.sources {
            match source {
                Source::Bundle(path) => {
                    let name = bundle_model_name(path);
                    let bundle = Stamp::of(path)
                        .map(|s| (path.clone(), s))
                        .ok_or_else(|| format!("cannot read '{}'", path.display()));
                    out.entry(name).or_default().insert(1, Found { bundle });
                }
                Source::Repository(root) => scan_repository(root, &mut out),
                Source::Mirror(mirror) => {
                    // A failed copy leaves the versions already mirrored serving.
                    if let Err(e) = mirror.registry.mirror(mirror.cache.path()) {
                        tracing::warn!(registry = %mirror.registry.location(), error = %e, "cannot mirror");
                    }
                    scan_repository(mirror.cache.path(), &mut out);
                }
            }
        }
        out
    }
}

/// The model name of a bundle file: its file name without the extension.
pub fn bundle_model_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Every model and version in the repository folder `root`, added to `out`.
fn scan_repository(root: &Path, out: &mut BTreeMap<String, BTreeMap<u64, Found>>) {
    for (name, dir) in subfolders(root) {
        if !kiln::registry::valid_model_name(&name) {
            continue;
        }
        let versions = out.entry(name).or_default();
        for (version, vdir) in subfolders(&dir) {
            let Ok(version) = version.parse::<u64>() else {
                continue;
            };
            if version == 0 {
                continue;
            }
            versions.insert(
                version,
                Found {
                    bundle: bundle_in(&vdir),
                },
            );
        }
    }
}

fn subfolders(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect()
}

/// The bundle in a version folder: `model.kiln`, or its only `.kiln` file.
fn bundle_in(dir: &Path) -> Result<(PathBuf, Stamp), String> {
    let preferred = dir.join("model.kiln");
    let path = if preferred.is_file() {
        preferred
    } else {
        let bundles: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read '{}': {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "kiln")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        match bundles.as_slice() {
            [one] => one.clone(),
            [] => return Err(format!("'{}' holds no model.kiln bundle", dir.display())),
            _ => {
                return Err(format!(
                    "'{}' holds several .kiln bundles; keep one, or name the one to serve model.kiln",
                    dir.display()
                ));
            }
        }
    };
    let stamp = Stamp::of(&path).ok_or_else(|| format!("cannot read '{}'", path.display()))?;
    Ok((path, stamp))
}
