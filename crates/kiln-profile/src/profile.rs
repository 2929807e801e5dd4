//! A whole data set's profile, built in one streaming pass: chunks of rows are profiled in
//! parallel on all cores and merged in file order (so the result does not depend on thread
//! timing), which is the same merge that combines profiles of files profiled elsewhere.

use crate::check::{Checks, Violations};
use crate::column::{ColumnStats, KeptValues};
use crate::error::ProfileError;
use kiln_data::Reading;
use kiln_data::{Chunk, RecordStream};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Rows kept in the uniform random sample that drift tests compare.
pub const SAMPLE_ROWS: usize = 4096;
/// Distinct rows remembered for counting duplicates exactly; past this, the count stops.
const DUPLICATE_MEMORY_ROWS: usize = 16_000_000;
/// Profile format version written in every profile file.
pub const PROFILE_FORMAT: u32 = 1;

/// How a pass over the data runs.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    /// Seed of the row sample.
    pub seed: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Rows per chunk handed to a worker.
    pub chunk_rows: usize,
    /// Keep every number (8 bytes each) so that drift distances between two tables are exact
    /// rather than measured on the row sample.
    pub keep_values: bool,
    /// How to read the named columns (a reference's readings, so that new data is read the
    /// same way); any other column's reading is decided from the first chunk of rows.
    pub readings: Vec<(String, Reading)>,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            threads: 0,
            chunk_rows: 16_384,
            keep_values: false,
            readings: Vec::new(),
        }
    }
}

/// Progress of a pass: rows done, and bytes done out of a total where the file's size is known.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Rows read.
    pub rows: u64,
    /// Bytes read (plain CSV) or rows read (other formats).
    pub position: u64,
    /// The file's size in bytes, where known.
    pub total_bytes: Option<u64>,
}

/// The profile of one data set: every column's statistics and the row-level facts.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Where the data came from.
    pub source: String,
    /// Data rows.
    pub rows: u64,
    /// Columns in file order.
    pub columns: Vec<ColumnStats>,
    /// Rows identical to an earlier row.
    pub duplicate_rows: u64,
    /// Whether `duplicate_rows` is exact (false after merging separately made profiles, or
    /// past the rows remembered).
    pub duplicates_exact: bool,
    /// Seed of the row sample.
    pub seed: u64,
    /// Keys of the sampled rows, ascending (the smallest [`SAMPLE_ROWS`] row keys).
    pub sample_keys: Vec<u64>,
    /// Row hashes seen, for counting duplicates while profiling.
    row_hashes: Option<FxHashSet<u64>>,
}

/// The serialised form of a [`Profile`]: each column's sampled values name their row by its
/// position in `sample_keys` rather than by its 20-digit key, which keeps files small.
#[derive(Serialize, Deserialize)]
struct ProfileWire {
    source: String,
    rows: u64,
    duplicate_rows: u64,
    duplicates_exact: bool,
    seed: u64,
    sample_keys: Vec<u64>,
    columns: Vec<ColumnStats>,
}

impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let columns = self
            .columns
            .iter()
            .map(|c| {
                let mut c = c.clone();
                for (key, _) in &mut c.sample {
                    *key = self.sample_keys.binary_search(key).unwrap_or(usize::MAX) as u64;
                }
                c.sample.retain(|(i, _)| *i != usize::MAX as u64);
                c
            })
            .collect();
        ProfileWire {
            source: self.source.clone(),
            rows: self.rows,
            duplicate_rows: self.duplicate_rows,
            duplicates_exact: self.duplicates_exact,
            seed: self.seed,
            sample_keys: self.sample_keys.clone(),
            columns,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut wire = ProfileWire::deserialize(d)?;
        for c in &mut wire.columns {
            for (index, _) in &mut c.sample {
                *index = *wire.sample_keys.get(*index as usize).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "column '{}': sampled row {index} is not among the sample's {} rows",
                        c.name,
                        wire.sample_keys.len()
                    ))
                })?;
            }
        }
        Ok(Profile {
            source: wire.source,
            rows: wire.rows,
            columns: wire.columns,
            duplicate_rows: wire.duplicate_rows,
            duplicates_exact: wire.duplicates_exact,
            seed: wire.seed,
            sample_keys: wire.sample_keys,
            row_hashes: None,
        })
    }
}

impl Profile {
    /// The profile of no rows of the given columns.
    pub fn empty(source: &str, headers: &[String], seed: u64) -> Self {
        Self {
            source: source.to_string(),
            rows: 0,
            columns: headers.iter().map(|h| ColumnStats::new(h)).collect(),
            duplicate_rows: 0,
            duplicates_exact: true,
            seed,
            sample_keys: Vec::new(),
            row_hashes: Some(FxHashSet::default()),
        }
    }

    /// The profile of no rows, keeping every number when `options` asks for it.
    fn empty_for(source: &str, headers: &[String], options: &ProfileOptions) -> Self {
        let mut profile = Self::empty(source, headers, options.seed);
        for column in &mut profile.columns {
            if options.keep_values {
                column.values = Some(KeptValues::default());
            }
            if let Some((_, reading)) = options.readings.iter().find(|(n, _)| *n == column.name) {
                column.reading = reading.clone();
            }
        }
        profile
    }

    /// How each column was read, to read other data the same way ([`ProfileOptions::readings`]).
    pub fn readings(&self) -> Vec<(String, Reading)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.reading.clone()))
            .collect()
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnStats> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Adds the profile of other rows of the same columns (the same merge joins chunks here
    /// and profiles made on other machines). Fails when the columns differ.
    pub fn merge(&mut self, other: Profile) -> Result<(), ProfileError> {
        let names = |p: &Profile| p.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        if names(self) != names(&other) {
            return Err(ProfileError::Incompatible {
                reason: format!(
                    "'{}' and '{}' have different columns",
                    self.source, other.source
                ),
            });
        }
        if self.seed != other.seed {
            return Err(ProfileError::Incompatible {
                reason: format!(
                    "'{}' and '{}' were sampled with different seeds ({} and {})",
                    self.source, other.source, self.seed, other.seed
                ),
            });
        }
        let mut keys: Vec<u64> = self
            .sample_keys
            .iter()
            .chain(&other.sample_keys)
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.truncate(SAMPLE_ROWS);
        let threshold = keys.last().copied().unwrap_or(0);
        self.sample_keys = keys;
        for (mine, theirs) in self.columns.iter_mut().zip(other.columns) {
            mine.merge(theirs, threshold);
        }
        self.rows += other.rows;
        self.duplicate_rows += other.duplicate_rows;
        match (&mut self.row_hashes, &other.row_hashes) {
            (Some(mine), Some(theirs)) if mine.len() + theirs.len() <= DUPLICATE_MEMORY_ROWS => {
                for h in theirs {
                    if !mine.insert(*h) {
                        self.duplicate_rows += 1;
                    }
                }
            }
            _ => {
                self.row_hashes = None;
                self.duplicates_exact = false;
            }
        }
        self.duplicates_exact &= other.duplicates_exact;
        Ok(())
    }

    /// Reads a profile written by [`Profile::to_json`].
    pub fn from_json(text: &str, file: &str) -> Result<Self, ProfileError> {
        #[derive(Deserialize)]
        struct Envelope {
            kiln_profile: u32,
            profile: Profile,
        }
        let envelope: Envelope =
            serde_json::from_str(text).map_err(|e| ProfileError::BadProfile {
                file: file.into(),
                reason: e.to_string(),
            })?;
        if envelope.kiln_profile != PROFILE_FORMAT {
            return Err(ProfileError::BadProfile {
                file: file.into(),
                reason: format!(
                    "profile format {} is not the {PROFILE_FORMAT} this Kiln reads",
                    envelope.kiln_profile
                ),
            });
        }
        Ok(envelope.profile)
    }

    /// The profile as JSON: a readable summary of every column, then the mergeable state.
    pub fn to_json(&self) -> String {
        let summary = crate::summary::summarize(self);
        serde_json::to_string_pretty(&serde_json::json!({
            "kiln_profile": PROFILE_FORMAT,
            "summary": summary,
            "profile": self,
        }))
        .expect("profiles serialise")
    }
}

/// A profile and what the checks found in the same pass.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The data's profile.
    pub profile: Profile,
    /// Violations of the checks, one entry per column in file order.
    pub violations: Vec<Violations>,
}

/// Profiles the table file at `path` in one streaming pass, counting violations of `checks`
/// on the way; `on_progress` is called after each chunk.
pub fn profile_file(
    path: &Path,
    options: &ProfileOptions,
    checks: &Checks,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Pass, ProfileError> {
    let mut stream = RecordStream::open(path)?;
    profile_stream(&mut stream, options, checks, on_progress)
}

/// One chunk's results: its profile and violations, and the chunk back for reuse.
type ChunkResult = (
    usize,
    Result<(Profile, Vec<Violations>), ProfileError>,
    Chunk,
);

/// Profiles an open stream; see [`profile_file`].
pub fn profile_stream(
    stream: &mut RecordStream,
    options: &ProfileOptions,
    checks: &Checks,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Pass, ProfileError> {
    let headers = stream.headers().to_vec();
    let source = stream.file().to_string();
    let checks = checks.resolve(&headers);
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let chunk_rows = options.chunk_rows.max(1);
    // The first chunk decides how each column not given a reading is read, before any chunk
    // is profiled, so that every chunk reads a column the same way.
    let mut first = Chunk::default();
    stream.fill(&mut first, chunk_rows)?;
    let options = &ProfileOptions {
        readings: readings(&headers, &first, &options.readings),
        ..options.clone()
    };
    let mut first = Some(first).filter(|c| !c.is_empty());
    let in_flight_limit = threads * 2 + 1;
    let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Chunk)>(threads * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<ChunkResult>();

    let merged = std::thread::scope(|scope| -> Result<InOrder, ProfileError> {
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let (headers, source, checks) = (&headers, &source, &checks);
            scope.spawn(move || {
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((index, chunk))) = next else { break };
                    let result = profile_chunk(&chunk, headers, source, options, checks);
                    if done_tx.send((index, result, chunk)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        let mut merger = InOrder::new(
            Profile::empty_for(&source, &headers, options),
            headers.len(),
        );
        let mut sent = 0usize;
        let mut failure: Option<ProfileError> = None;
        let mut reading = true;
        while reading && failure.is_none() {
            if sent - merger.next >= in_flight_limit {
                let Ok(result) = done_rx.recv() else { break };
                failure = merger.absorb(result).err();
                continue;
            }
            let mut chunk = merger.pool.pop().unwrap_or_default();
            let filled = match first.take() {
                Some(head) => {
                    chunk = head;
                    Ok(chunk.len())
                }
                None => stream.fill(&mut chunk, chunk_rows),
            };
            match filled {
                Ok(0) => reading = false,
                Ok(_) => {
                    if work_tx.send((sent, chunk)).is_err() {
                        break;
                    }
                    sent += 1;
                }
                Err(e) => failure = Some(e.into()),
            }
            while let Ok(result) = done_rx.try_recv() {
                if let Err(e) = merger.absorb(result) {
                    failure.get_or_insert(e);
                }
            }
            on_progress(Progress {
                rows: merger.total.rows,
                position: stream.position(),
                total_bytes: stream.total_bytes(),
            });
        }
        drop(work_tx);
        while failure.is_none() && merger.next < sent {
            let Ok(result) = done_rx.recv() else { break };
            failure = merger.absorb(result).err();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(merger),
        }
    })?;
    let InOrder {
        mut total,
        violations,
        ..
    } = merged;
    if total.rows == 0 {
        return Err(kiln_data::DataError::Empty { file: source }.into());
    }
    total.row_hashes = None;
    on_progress(Progress {
        rows: total.rows,
        position: stream.position(),
        total_bytes: stream.total_bytes(),
    });
    Ok(Pass {
        profile: total,
        violations,
    })
}

/// Chunk results merged in file order as they arrive, whatever order the workers finish in.
struct InOrder {
    /// Everything merged so far.
    total: Profile,
    /// Violations merged so far, per column.
    violations: Vec<Violations>,
    /// Results that arrived before their predecessors.
    pending: BTreeMap<usize, (Profile, Vec<Violations>)>,
    /// Index of the next chunk to merge.
    next: usize,
    /// Chunks back from the workers, for reuse.
    pool: Vec<Chunk>,
}

impl InOrder {
    fn new(total: Profile, columns: usize) -> Self {
        Self {
            total,
            violations: vec![Violations::default(); columns],
            pending: BTreeMap::new(),
            next: 0,
            pool: Vec::new(),
        }
    }

    /// Takes one chunk's result and merges every result that is now next in line.
    fn absorb(&mut self, (index, outcome, chunk): ChunkResult) -> Result<(), ProfileError> {
        self.pool.push(chunk);
        self.pending.insert(index, outcome?);
        while let Some((part, found)) = self.pending.remove(&self.next) {
            self.total.merge(part)?;
            for (v, f) in self.violations.iter_mut().zip(&found) {
                v.merge(f);
            }
            self.next += 1;
        }
        Ok(())
    }
}

/// Each column's reading: the one `given` for it, else the one its values in `chunk` call for.
fn readings(
    headers: &[String],
    chunk: &Chunk,
    given: &[(String, Reading)],
) -> Vec<(String, Reading)> {
    headers
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let reading = match given.iter().find(|(n, _)| n == name) {
                Some((_, reading)) => reading.clone(),
                None => Reading::of_fields(
                    name,
                    chunk
                        .rows()
                        .filter_map(|(record, _)| std::str::from_utf8(record.get(c)?).ok()),
                ),
            };
            (name.clone(), reading)
        })
        .collect()
}

/// Profiles one chunk of rows.
fn profile_chunk(
    chunk: &Chunk,
    headers: &[String],
    source: &str,
    options: &ProfileOptions,
    checks: &[crate::check::ColumnCheck],
) -> Result<(Profile, Vec<Violations>), ProfileError> {
    let seed = options.seed;
    let mut part = Profile::empty_for(source, headers, options);
    for column in &mut part.columns {
        if let Some(values) = &mut column.values {
            values.reserve(chunk.len());
        }
    }
    let mut violations = vec![Violations::default(); headers.len()];
    // Rows of different files must not share keys when their profiles are merged; the file's
    // name (not the path as spelled) keeps the sample the same from any working folder.
    let name = std::path::Path::new(source)
        .file_name()
        .map_or(source.into(), |n| n.to_string_lossy());
    let salt = seed ^ xxh3_64_with_seed(name.as_bytes(), seed);
    // The chunk's share of the sample: its smallest row keys, at most SAMPLE_ROWS of them.
    let first = chunk.first_row();
    let row_keys: Vec<u64> = (0..chunk.len() as u64)
        .map(|i| row_key(first + i, salt))
        .collect();
    let mut keys = row_keys.clone();
    if keys.len() > SAMPLE_ROWS {
        keys.select_nth_unstable(SAMPLE_ROWS - 1);
        keys.truncate(SAMPLE_ROWS);
    }
    keys.sort_unstable();
    let threshold = keys.last().copied().unwrap_or(0);
    let hashes = part
        .row_hashes
        .as_mut()
        .expect("a fresh profile remembers rows");
    hashes.reserve(chunk.len());
    for (i, (record, line)) in chunk.rows().enumerate() {
        let key = row_keys[i];
        let sampled = (key <= threshold).then_some(key);
        if !hashes.insert(row_hash(record)) {
            part.duplicate_rows += 1;
        }
        // One UTF-8 check per row; a field is then valid when it starts and ends on a
        // character boundary of the row (and checked alone when the row is not valid).
        let row = std::str::from_utf8(record.as_slice()).ok();
        let mut start = 0;
        for (c, field) in record.iter().enumerate() {
            let end = start + field.len();
            let text = row
                .and_then(|row| row.get(start..end))
                .or_else(|| std::str::from_utf8(field).ok())
                .ok_or_else(|| ProfileError::NotUtf8 {
                    file: source.into(),
                    line,
                    column: headers[c].clone(),
                })?;
            start = end;
            let value = part.columns[c].add(text, line, sampled);
            checks[c].check(&value, line, &mut violations[c]);
        }
    }
    part.rows = chunk.len() as u64;
    part.sample_keys = keys;
    Ok((part, violations))
}

/// A hash of a row's fields as written, with their boundaries, for finding duplicates: the
/// fields' bytes in one pass, seeded by where each field ends.
fn row_hash(record: &csv::ByteRecord) -> u64 {
    let mut end = 0u64;
    let mut bounds = 0u64;
    for field in record {
        end += field.len() as u64;
        bounds = (bounds ^ end).wrapping_mul(0x100_0000_01b3);
    }
    xxh3_64_with_seed(record.as_slice(), bounds)
}

/// A row's sampling key: a hash of its position salted by the seed and the file, so the
/// sample is the same whatever the chunking or thread timing.
fn row_key(row: u64, salt: u64) -> u64 {
    xxh3_64_with_seed(&row.to_le_bytes(), salt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summarize;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn profile(path: &Path, chunk_rows: usize, threads: usize) -> Profile {
        let options = ProfileOptions {
            seed: 7,
            threads,
            chunk_rows,
            ..ProfileOptions::default()
        };
        profile_file(path, &options, &Checks::default(), &mut |_| {})
            .unwrap()
            .profile
    }

    #[test]
    fn formatted_numbers_and_dates_are_read_as_values_and_readings_carry_over() {
        let mut text = String::from("price,day,colour\n");
        for i in 0..300 {
            let day = format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1);
            text += &format!(
                "\"${},{:03}.50\",{day},{}\n",
                i % 9 + 1,
                i,
                ["red", "blue"][i % 2]
            );
        }
        let f = write(&text);
        // Small chunks: the first decides, every later one reads the same way.
        let p = profile(f.path(), 50, 2);
        let price = p.column("price").unwrap();
        assert_eq!(
            price.reading,
            Reading::Numbers(kiln_data::NumberFormat::Point)
        );
        assert_eq!((price.numbers, price.texts), (300, 0));
        assert_eq!(price.moments.min, 1000.5);
        let day = p.column("day").unwrap();
        assert_eq!(day.reading, Reading::Dates("%Y-%m-%d".into()));
        assert_eq!(kiln_data::date::day_name(day.moments.min), "2024-01-01");
        assert_eq!(p.column("colour").unwrap().reading, Reading::AsWritten);
        let back = Profile::from_json(&p.to_json(), "p.json").unwrap();
        assert_eq!(back.readings(), p.readings(), "readings are saved");
        // Later data read with the reference's readings: its first rows hold plain numbers
        // only, and its later "$" values are still numbers, not text.
        let later = write("price,day,colour\n5,2025-01-01,red\n\"$7,000\",2025-01-02,blue\n");
        let options = ProfileOptions {
            chunk_rows: 1,
            readings: p.readings(),
            ..ProfileOptions::default()
        };
        let pass = profile_file(later.path(), &options, &Checks::default(), &mut |_| {}).unwrap();
        assert_eq!(pass.profile.column("price").unwrap().numbers, 2);
        let drift = crate::drift::compare(&p, &pass.profile, &crate::DriftOptions::default());
        let skipped = drift.skipped.iter().find(|s| s.column == "day").unwrap();
        assert!(
            skipped.reason.contains("2025-01-01 to 2025-01-02 here")
                && skipped
                    .reason
                    .contains("2024-01-01 to 2024-12-28 in the reference"),
            "{}",
            skipped.reason
        );
        let schema = crate::Schema::infer(&p);
        let day = schema.columns.iter().find(|c| c.name == "day").unwrap();
        assert_eq!(
            (day.min, day.max),
            (None, None),
            "new dates are not out of range"
        );
    }

    #[test]
    fn threads_do_not_change_the_profile_and_chunking_changes_only_rounding() {
        let mut text = String::from("a,b\n");
        for i in 0..5000 {
            text += &format!("{},{}\n", (i * 37) % 101, ["x", "y", "z"][i % 3]);
        }
        let f = write(&text);
        let one = profile(f.path(), 97, 1);
        let two = profile(f.path(), 97, 2);
        assert!(
            one.to_json() == two.to_json(),
            "thread timing changed the profile"
        );
        let whole = profile(f.path(), 100_000, 1);
        assert_eq!(summarize(&whole).columns[1], summarize(&one).columns[1]);
        let (a, b) = (whole.columns[0].moments, one.columns[0].moments);
        assert_eq!((a.n, a.min, a.max), (b.n, b.min, b.max));
        assert!((a.mean - b.mean).abs() < 1e-12 && (a.m2 - b.m2).abs() < 1e-6);
        assert_eq!(whole.sample_keys, one.sample_keys);
        assert_eq!(whole.rows, 5000);
        // 101 x 3 distinct pairs at most: the rest are duplicates.
        assert_eq!(whole.duplicate_rows, 5000 - 303);
        assert_eq!(one.duplicate_rows, 5000 - 303);
        assert_eq!(one.columns[0].sample.len(), SAMPLE_ROWS);
    }

    #[test]
    fn a_profile_reads_back_and_merges_like_the_whole() {
        let f = write("a\n1\n2\n3\n");
        let p = profile(f.path(), 2, 1);
        let back = Profile::from_json(&p.to_json(), "p.json").unwrap();
        assert_eq!(back.to_json(), p.to_json());
        let mut twice = back.clone();
        twice.merge(back).unwrap();
        assert_eq!(twice.rows, 6);
        assert_eq!(twice.columns[0].moments.n, 6);
        assert!(!twice.duplicates_exact);
    }

    #[test]
    fn profiles_of_different_columns_do_not_merge() {
        let a = profile(write("a\n1\n").path(), 10, 1);
        let mut b = profile(write("b\n1\n").path(), 10, 1);
        assert!(
            b.merge(a)
                .unwrap_err()
                .to_string()
                .contains("different columns")
        );
    }

    #[test]
    fn windows_1252_files_read_their_letters_and_invalid_utf8_names_line_and_column() {
        let bytes = b"a,b\n1,ok\n2,caf\xe9\n";
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(bytes).unwrap();
        let pass = profile_file(
            f.path(),
            &ProfileOptions::default(),
            &Checks::default(),
            &mut |_| {},
        )
        .unwrap();
        let (top, _) = pass.profile.column("b").unwrap().top_values(2);
        assert!(top.iter().any(|(value, _)| value == "café"), "{top:?}");
        // A stream handed over as bytes is taken as UTF-8, and a field that is not is named.
        let mut stream =
            RecordStream::from_csv_reader(Box::new(std::io::Cursor::new(&bytes[..])), "s.csv")
                .unwrap();
        let err = profile_stream(
            &mut stream,
            &ProfileOptions::default(),
            &Checks::default(),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 3") && err.contains("'b'"), "{err}");
    }
}
