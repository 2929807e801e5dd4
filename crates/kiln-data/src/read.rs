//! Reading CSV (plain or gzip) and Parquet files into a [`Table`].

use crate::encoding::Utf8Reader;
use crate::error::DataError;
use crate::table::{Cell, Column, Table};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Reads a table from a CSV/TSV (optionally `.gz`) or Parquet file, chosen by extension.
/// Delimited text may be UTF-8, UTF-16 with a byte-order mark, or Windows-1252.
pub fn read_table(path: &Path) -> Result<Table, DataError> {
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
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        read_parquet(path)
    } else if name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".txt") {
        read_csv(BufReader::new(Utf8Reader::new(open(path)?)), &file)
    } else if name.ends_with(".csv.gz") || name.ends_with(".tsv.gz") {
        let f = flate2::read::MultiGzDecoder::new(open(path)?);
        read_csv(BufReader::new(Utf8Reader::new(f)), &file)
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        read_jsonl(BufReader::new(open(path)?), &file)
    } else if name.ends_with(".jsonl.gz") || name.ends_with(".ndjson.gz") {
        let f = open(path)?;
        read_jsonl(BufReader::new(flate2::read::MultiGzDecoder::new(f)), &file)
    } else {
        Err(DataError::UnsupportedFormat { file })
    }
}

pub(crate) fn open(path: &Path) -> Result<File, DataError> {
    File::open(path).map_err(|e| DataError::Io {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Reads JSON Lines: one object per line, its keys the columns (in order of first appearance;
/// a key a row lacks is a missing value). Blank lines are skipped.
pub fn read_jsonl<R: Read>(reader: BufReader<R>, file: &str) -> Result<Table, DataError> {
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut columns: Vec<Vec<Cell>> = Vec::new();
    let mut lines = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line_no = n as u64 + 1;
        let line = line.map_err(|e| DataError::Io {
            file: file.into(),
            reason: format!("line {line_no}: {e}"),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| DataError::Malformed {
            file: file.into(),
            format: "JSON Lines".into(),
            reason: format!("line {line_no}: {reason}"),
        };
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
            .map_err(|e| bad(format!("{e}; each line must be one JSON object")))?;
        let row = lines.len();
        for (key, value) in &object {
            let cell = Cell::from_json(value).ok_or_else(|| {
                bad(format!(
                    "field '{key}' is an array or object; flatten it into plain fields"
                ))
            })?;
            let c = *index.entry(key.clone()).or_insert_with(|| {
                names.push(key.clone());
                columns.push(vec![Cell::Missing; row]);
                names.len() - 1
            });
            columns[c].push(cell);
        }
        for column in &mut columns {
            if column.len() == row {
                column.push(Cell::Missing);
            }
        }
        lines.push(line_no);
    }
    if lines.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    Ok(Table {
        source: file.into(),
        columns: names
            .into_iter()
            .zip(columns)
            .map(|(name, cells)| Column { name, cells })
            .collect(),
        lines,
    })
}

/// Whether a trimmed cell is one of the usual missing-value markers.
pub fn is_missing_marker(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 4
            && ["na", "n/a", "null", "none", "?", "#n/a"]
                .iter()
                .any(|m| s.eq_ignore_ascii_case(m)))
}

/// A cell classified without copying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    /// Empty, or a recognised missing marker.
    Missing,
    /// A finite number.
    Number(f64),
    /// NaN or an infinity, as written.
    NonFinite(&'a str),
    /// Anything else, trimmed.
    Text(&'a str),
}

/// Classifies one cell: missing marker, finite number, NaN/infinity, or text (trimmed).
pub fn classify(raw: &str) -> RawValue<'_> {
    let s = raw.trim();
    if is_missing_marker(s) {
        return RawValue::Missing;
    }
    let first = s.as_bytes()[0];
    let numeric_start =
        first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.' | b'i' | b'I' | b'n' | b'N');
    match numeric_start.then(|| s.parse::<f64>().ok()).flatten() {
        Some(v) if v.is_finite() => RawValue::Number(v),
        Some(_) => RawValue::NonFinite(s),
        None => RawValue::Text(s),
    }
}

/// Parses one trimmed cell: missing, a finite number, text, or an error for NaN/infinity.
pub fn parse_cell(raw: &str) -> Result<Cell, String> {
    match classify(raw) {
        RawValue::Missing => Ok(Cell::Missing),
        RawValue::Number(v) => Ok(Cell::Num(v)),
        RawValue::NonFinite(s) => Err(s.to_string()),
        RawValue::Text(s) => Ok(Cell::Text(s.to_string())),
    }
}

/// Reads delimited text, guessing the delimiter (comma, tab, semicolon) from the header.
pub fn read_csv<R: Read>(reader: BufReader<R>, file: &str) -> Result<Table, DataError> {
    let mut reader = reader;
    let io_err = |e: std::io::Error| DataError::Io {
        file: file.to_string(),
        reason: e.to_string(),
    };
    let delimiter = sniff_delimiter(reader.fill_buf().map_err(io_err)?);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(e, file)),
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(DataError::Empty { file: file.into() });
    }
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut columns = empty_columns(names, file)?;
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e, file)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].trim().is_empty() && columns.len() > 1 {
            continue; // a blank line
        }
        for (col, raw) in columns.iter_mut().zip(record.iter()) {
            let cell = parse_cell(raw).map_err(|value| DataError::NotFinite {
                file: file.into(),
                line,
                column: col.name.clone(),
                value,
            })?;
            col.cells.push(cell);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(DataError::Empty { file: file.into() });
    }
    Ok(Table {
        source: file.into(),
        columns,
        lines,
    })
}

/// The delimiter (comma, tab or semicolon) that occurs most often on the first line.
pub(crate) fn sniff_delimiter(start: &[u8]) -> u8 {
    let first_line = start.split(|&b| b == b'\n').next().unwrap_or(&[]);
    [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| first_line.iter().filter(|b| *b == d).count())
        .unwrap_or(b',')
}

/// The header `names`, refusing a repeated name.
pub(crate) fn unique_names(names: Vec<String>, file: &str) -> Result<Vec<String>, DataError> {
    let mut seen = std::collections::HashSet::new();
    if let Some(n) = names.iter().find(|n| !seen.insert(*n)) {
        return Err(DataError::DuplicateColumn {
            file: file.into(),
            column: n.clone(),
        });
    }
    Ok(names)
}

/// Empty columns for the header `names`, refusing a repeated name.
fn empty_columns(names: Vec<String>, file: &str) -> Result<Vec<Column>, DataError> {
    Ok(unique_names(names, file)?
        .into_iter()
        .map(|name| Column {
            name,
            cells: Vec::new(),
        })
        .collect())
}

pub(crate) fn csv_error(e: csv::Error, file: &str) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::Ragged {
            file: file.into(),
            line,
            expected: expected_len as usize,
            found: len as usize,
        },
        csv::ErrorKind::Io(io) => DataError::Io {
            file: file.into(),
            reason: io.to_string(),
        },
        csv::ErrorKind::Utf8 { .. } => DataError::Malformed {
            file: file.into(),
            format: "CSV".into(),
            reason: format!("line {line} is not valid UTF-8 text; save the file as UTF-8"),
        },
        other => DataError::Malformed {
            file: file.into(),
            format: "CSV".into(),
            reason: format!("line {line}: {other:?}"),
        },
    }
}

/// Reads a Parquet file with flat (non-nested) columns.
fn read_parquet(path: &Path) -> Result<Table, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let file = path.display().to_string();
    let malformed = |reason: String| DataError::Malformed {
        file: file.clone(),
        format: "Parquet".into(),
        reason,
    };
    let reader = SerializedFileReader::new(open(path)?).map_err(|e| malformed(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut columns = empty_columns(names, &file)?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| malformed(e.to_string()))?;
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| malformed(format!("row {}: {e}", i + 1)))?;
        for (col, (_, field)) in columns.iter_mut().zip(row.get_column_iter()) {
            let num = |v: f64| {
                if v.is_finite() {
                    Ok(Cell::Num(v))
                } else {
                    Err(DataError::NotFinite {
                        file: file.clone(),
                        line: i as u64 + 1,
                        column: col.name.clone(),
                        value: v.to_string(),
                    })
                }
            };
            let cell = match field {
                Field::Null => Cell::Missing,
                Field::Bool(b) => Cell::Text(b.to_string()),
                Field::Byte(v) => Cell::Num(f64::from(*v)),
                Field::Short(v) => Cell::Num(f64::from(*v)),
                Field::Int(v) => Cell::Num(f64::from(*v)),
                Field::Long(v) => Cell::Num(*v as f64),
                Field::UByte(v) => Cell::Num(f64::from(*v)),
                Field::UShort(v) => Cell::Num(f64::from(*v)),
                Field::UInt(v) => Cell::Num(f64::from(*v)),
                Field::ULong(v) => Cell::Num(*v as f64),
                Field::Float(v) => num(f64::from(*v))?,
                Field::Double(v) => num(*v)?,
                Field::Str(s) => parse_text(s),
                other => parse_text(&other.to_string()),
            };
            col.cells.push(cell);
        }
    }
    if columns.is_empty() || columns[0].cells.is_empty() {
        return Err(DataError::Empty { file });
    }
    // Parquet rows are numbered from 1 in messages.
    let lines = (1..=columns[0].cells.len() as u64).collect();
    Ok(Table {
        source: file,
        columns,
        lines,
    })
}

/// Text from a typed source: trimmed, with missing markers recognised, never parsed as a number.
fn parse_text(s: &str) -> Cell {
    let t = s.trim();
    if is_missing_marker(t) {
        Cell::Missing
    } else {
        Cell::Text(t.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv_of(text: &str) -> Result<Table, DataError> {
        read_csv(BufReader::new(text.as_bytes()), "t.csv")
    }

    #[test]
    fn reads_cells_and_missing_markers() {
        let t = csv_of("a,b,c\n1,x,\n2.5,NA,y\n").unwrap();
        assert_eq!(t.n_rows(), 2);
        assert_eq!(t.columns[0].cells, vec![Cell::Num(1.0), Cell::Num(2.5)]);
        assert_eq!(
            t.columns[1].cells,
            vec![Cell::Text("x".into()), Cell::Missing]
        );
        assert_eq!(
            t.columns[2].cells,
            vec![Cell::Missing, Cell::Text("y".into())]
        );
        assert_eq!(t.line_of(1), 3);
    }

    #[test]
    fn guesses_tab_and_semicolon_delimiters() {
        assert_eq!(csv_of("a\tb\n1\t2\n").unwrap().columns.len(), 2);
        assert_eq!(csv_of("a;b;c\n1;2;3\n").unwrap().columns.len(), 3);
    }

    #[test]
    fn ragged_row_names_its_line() {
        let err = csv_of("a,b\n1,2\n3\n").unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("1 fields"), "{err}");
    }

    #[test]
    fn empty_and_header_only_files_are_refused() {
        assert!(matches!(csv_of(""), Err(DataError::Empty { .. })));
        assert!(matches!(csv_of("a,b\n"), Err(DataError::Empty { .. })));
    }

    #[test]
    fn nan_and_infinity_are_refused_with_position() {
        let err = csv_of("a,b\n1,2\ninf,3\n").unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("'a'") && err.contains("inf"),
            "{err}"
        );
        assert!(csv_of("a\nNaN\n").is_err());
    }

    #[test]
    fn duplicate_header_is_refused() {
        assert!(matches!(
            csv_of("a,a\n1,2\n"),
            Err(DataError::DuplicateColumn { .. })
        ));
    }

    #[test]
    fn reads_gzip_and_parquet_files() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("t.csv.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(b"x,y\n1,a\n2,b\n").unwrap();
        enc.finish().unwrap();
        let t = read_table(&gz).unwrap();
        assert_eq!(t.n_rows(), 2);

        let pq = dir.path().join("t.parquet");
        write_parquet(&pq);
        let t = read_table(&pq).unwrap();
        assert_eq!(t.columns.len(), 2);
        assert_eq!(
            t.columns[0].cells,
            vec![Cell::Num(1.5), Cell::Missing, Cell::Num(-2.0)]
        );
        assert_eq!(t.columns[1].cells[2], Cell::Text("c".into()));
    }

    #[test]
    fn unknown_extension_is_refused() {
        let err = read_table(Path::new("model.xlsx")).unwrap_err().to_string();
        assert!(err.contains("unsupported"), "{err}");
    }

    fn write_parquet(path: &Path) {
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;
        let schema = Arc::new(
            parse_message_type("message t { optional double x; required binary s (UTF8); }")
                .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer =
            SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        let mut rg = writer.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<DoubleType>()
            .write_batch(&[1.5, -2.0], Some(&[1, 0, 1]), None)
            .unwrap();
        col.close().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        let vals: Vec<ByteArray> = ["a", "b", "c"]
            .iter()
            .map(|s| ByteArray::from(*s))
            .collect();
        col.typed::<ByteArrayType>()
            .write_batch(&vals, None, None)
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn json_lines_become_columns_in_order_of_first_appearance() {
        let text = "{\"a\": 1, \"b\": \"x\"}\n\n{\"b\": \"y\", \"c\": true}\n";
        let t = read_jsonl(BufReader::new(text.as_bytes()), "t.jsonl").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(t.columns[0].cells, vec![Cell::Num(1.0), Cell::Missing]);
        assert_eq!(t.columns[2].cells, vec![Cell::Missing, Cell::Num(1.0)]);
        assert_eq!(t.line_of(1), 3);
        let err = read_jsonl(BufReader::new("{\"a\": [1]}\n".as_bytes()), "t.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("'a'"), "{err}");
        let err = read_jsonl(BufReader::new("{\"a\": 1\n".as_bytes()), "t.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("JSON object"),
            "{err}"
        );
    }
}
