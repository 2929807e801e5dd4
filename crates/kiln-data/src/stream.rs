//! Streaming a table file in chunks of raw records, so a pass over the data (profiling,
//! validation) needs memory for a few chunks, not for the file.

use crate::Table;
use crate::encoding::Utf8Reader;
use crate::error::DataError;
use crate::read::{csv_error, open, sniff_delimiter, unique_names};
use csv::ByteRecord;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A block of consecutive data rows as raw fields, reused from one fill to the next.
#[derive(Debug, Default)]
pub struct Chunk {
    records: Vec<ByteRecord>,
    lines: Vec<u64>,
    len: usize,
    first_row: u64,
}

impl Chunk {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chunk holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 0-based index, in the whole file, of the chunk's first data row.
    pub fn first_row(&self) -> u64 {
        self.first_row
    }

    /// Each row's raw fields with its 1-based file line (Parquet: its 1-based row number).
    pub fn rows(&self) -> impl Iterator<Item = (&ByteRecord, u64)> {
        self.records[..self.len]
            .iter()
            .zip(self.lines[..self.len].iter().copied())
    }

    /// The next record slot, grown on demand so records keep their allocations.
    fn slot(&mut self) -> &mut ByteRecord {
        if self.len == self.records.len() {
            self.records.push(ByteRecord::new());
            self.lines.push(0);
        }
        &mut self.records[self.len]
    }
}

enum Source {
    Csv(csv::Reader<Box<dyn Read + Send>>),
    Parquet(parquet::record::reader::RowIter<'static>),
    /// A table read whole (JSON Lines), handed out row by row.
    Table(Box<Table>),
}

/// An open table file read chunk by chunk: CSV/TSV (plain or gzip), Parquet, or JSON Lines
/// (read whole, then handed out in chunks).
pub struct RecordStream {
    file: String,
    headers: Vec<String>,
    source: Source,
    rows: u64,
    total_bytes: Option<u64>,
}

impl RecordStream {
    /// Opens `path` and reads its header, choosing the format by extension.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = path.display().to_string();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if path.is_dir() {
            return Err(DataError::Io {
                file,
                reason: "is a folder, not a table file".into(),
            });
        }
        let plain = [".csv", ".tsv", ".txt"].iter().any(|e| name.ends_with(e));
        let gzip = [".csv.gz", ".tsv.gz"].iter().any(|e| name.ends_with(e));
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            return Self::open_parquet(path, file);
        }
        if [".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            let table = crate::read_table(path)?;
            return Ok(Self {
                file,
                headers: table.columns.iter().map(|c| c.name.clone()).collect(),
                source: Source::Table(Box::new(table)),
                rows: 0,
                total_bytes: None,
            });
        }
        let handle = open(path)?;
        let total_bytes = handle.metadata().ok().map(|m| m.len()).filter(|_| plain);
        let reader: Box<dyn Read + Send> = if plain {
            Box::new(Utf8Reader::new(handle))
        } else if gzip {
            Box::new(Utf8Reader::new(flate2::read::MultiGzDecoder::new(handle)))
        } else {
            return Err(DataError::UnsupportedFormat { file });
        };
        let mut stream = Self::from_csv_reader(reader, &file)?;
        stream.total_bytes = total_bytes;
        Ok(stream)
    }

    /// Reads delimited text from any reader, guessing the delimiter (comma, tab, semicolon)
    /// from the header line.
    pub fn from_csv_reader(reader: Box<dyn Read + Send>, file: &str) -> Result<Self, DataError> {
        let mut buffered = BufReader::with_capacity(1 << 16, reader);
        let peek = buffered.fill_buf().map_err(|e| DataError::Io {
            file: file.into(),
            reason: e.to_string(),
        })?;
        let delimiter = sniff_delimiter(peek);
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(1 << 16)
            .from_reader(Box::new(buffered) as Box<dyn Read + Send>);
        let headers = csv.headers().map_err(|e| csv_error(e, file))?.clone();
        if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
            return Err(DataError::Empty { file: file.into() });
        }
        let names: Vec<String> = headers
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(Self {
            file: file.into(),
            headers: unique_names(names, file)?,
            source: Source::Csv(csv),
            rows: 0,
            total_bytes: None,
        })
    }

    fn open_parquet(path: &Path, file: String) -> Result<Self, DataError> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let malformed = |reason: String| DataError::Malformed {
            file: file.clone(),
            format: "Parquet".into(),
            reason,
        };
        let reader =
            SerializedFileReader::new(open(path)?).map_err(|e| malformed(e.to_string()))?;
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let headers = unique_names(names, &file)?;
        let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
        Ok(Self {
            file,
            headers,
            source: Source::Parquet(rows),
            rows: 0,
            total_bytes: None,
        })
    }

    /// The file, for messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Column names in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The file's size where progress can be told in bytes (plain CSV), else `None`.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Bytes read so far (CSV) or rows read so far (Parquet, JSON Lines).
    pub fn position(&self) -> u64 {
        match &self.source {
            Source::Csv(csv) => csv.position().byte(),
            Source::Parquet(_) | Source::Table(_) => self.rows,
        }
    }

    /// Replaces `chunk`'s rows with up to `max_rows` next rows; returns how many (0 at the end).
    pub fn fill(&mut self, chunk: &mut Chunk, max_rows: usize) -> Result<usize, DataError> {
        chunk.len = 0;
        chunk.first_row = self.rows;
        let width = self.headers.len();
        while chunk.len < max_rows {
            let line = match &mut self.source {
                Source::Csv(csv) => {
                    let record = chunk.slot();
                    if !csv
                        .read_byte_record(record)
                        .map_err(|e| csv_error(e, &self.file))?
                    {
                        break;
                    }
                    if record.len() == 1 && record[0].trim_ascii().is_empty() && width > 1 {
                        continue; // a blank line
                    }
                    record.position().map_or(0, |p| p.line())
                }
                Source::Parquet(rows) => {
                    let Some(row) = rows.next() else { break };
                    let row = row.map_err(|e| DataError::Malformed {
                        file: self.file.clone(),
                        format: "Parquet".into(),
                        reason: format!("row {}: {e}", self.rows + 1),
                    })?;
                    let record = chunk.slot();
                    record.clear();
                    for (_, field) in row.get_column_iter() {
                        write_field(record, field);
                    }
                    self.rows + 1
                }
                Source::Table(table) => {
                    let row = self.rows as usize;
                    if row >= table.n_rows() {
                        break;
                    }
                    let record = chunk.slot();
                    record.clear();
                    for column in &table.columns {
                        record.push_field(column.cells[row].as_text().as_bytes());
                    }
                    table.line_of(row)
                }
            };
            chunk.lines[chunk.len] = line;
            chunk.len += 1;
            self.rows += 1;
        }
        Ok(chunk.len)
    }
}

/// A typed Parquet value as the text a CSV would hold (null as an empty cell).
fn write_field(record: &mut ByteRecord, field: &parquet::record::Field) {
    use parquet::record::Field;
    match field {
        Field::Null => record.push_field(b""),
        Field::Str(s) => record.push_field(s.as_bytes()),
        Field::Float(v) => record.push_field(v.to_string().as_bytes()),
        Field::Double(v) => record.push_field(v.to_string().as_bytes()),
        other => record.push_field(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &'static str) -> RecordStream {
        RecordStream::from_csv_reader(Box::new(text.as_bytes()), "t.csv").unwrap()
    }

    #[test]
    fn chunks_cover_every_row_once_with_its_line() {
        let mut s = stream("a;b\n1;x\n2;y\n3;z\n");
        assert_eq!(s.headers(), ["a", "b"]);
        let mut chunk = Chunk::default();
        assert_eq!(s.fill(&mut chunk, 2).unwrap(), 2);
        let first: Vec<(Vec<u8>, u64)> = chunk.rows().map(|(r, l)| (r[0].to_vec(), l)).collect();
        assert_eq!(first, vec![(b"1".to_vec(), 2), (b"2".to_vec(), 3)]);
        assert_eq!(s.fill(&mut chunk, 2).unwrap(), 1);
        assert_eq!(chunk.first_row(), 2);
        assert_eq!(s.fill(&mut chunk, 2).unwrap(), 0);
    }

    #[test]
    fn blank_lines_are_not_rows() {
        let mut s = stream("a,b\n1,x\n\n2,y\n");
        assert_eq!(s.fill(&mut Chunk::default(), 10).unwrap(), 2);
    }

    #[test]
    fn a_ragged_row_is_an_error_naming_its_line() {
        let mut s = stream("a,b\n1,2\n3\n");
        let err = s.fill(&mut Chunk::default(), 10).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
