//! An in-memory table of raw cells, column by column, as read from a file.

/// One cell as read: missing, a finite number, or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Empty, or a recognised missing marker (NA, null, ?).
    Missing,
    /// A finite number.
    Num(f64),
    /// Anything else, trimmed.
    Text(String),
}

impl Cell {
    /// A cell from text read as a CSV cell is, NaN and infinities being missing values.
    pub fn from_text(s: &str) -> Cell {
        match crate::read::classify(s) {
            crate::RawValue::Missing | crate::RawValue::NonFinite(_) => Cell::Missing,
            crate::RawValue::Number(v) => Cell::Num(v),
            crate::RawValue::Text(t) => Cell::Text(t.to_string()),
        }
    }

    /// A cell from a JSON scalar: null is missing, true and false are 1 and 0, a string is
    /// read as text is; `None` for arrays and objects.
    pub fn from_json(value: &serde_json::Value) -> Option<Cell> {
        use serde_json::Value;
        Some(match value {
            Value::Null => Cell::Missing,
            Value::Number(n) => n.as_f64().map_or(Cell::Missing, Cell::Num),
            Value::Bool(b) => Cell::Num(f64::from(u8::from(*b))),
            Value::String(s) => Cell::from_text(s),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    /// The cell as JSON: null, a number or a string.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Missing => serde_json::Value::Null,
            Cell::Num(v) => serde_json::json!(v),
            Cell::Text(t) => serde_json::json!(t),
        }
    }

    /// The cell as the user wrote it (for messages and for category levels).
    pub fn as_text(&self) -> String {
        match self {
            Cell::Missing => String::new(),
            Cell::Num(v) => format_number(*v),
            Cell::Text(s) => s.clone(),
        }
    }
}

/// Formats a number the shortest way that reads back exactly (`5`, not `5.0`).
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A named column of cells.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// Cells, one per data row.
    pub cells: Vec<Cell>,
}

impl Column {
    /// A column of cells read from text as a CSV's are.
    pub fn from_texts<'a>(name: &str, texts: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            name: name.to_string(),
            cells: texts.into_iter().map(Cell::from_text).collect(),
        }
    }
}

/// Finds a table's columns by name: each lookup first tries the column after the previous
/// match, so columns asked for in table order (a served request, a file written in the model's
/// column order) cost one comparison each; a name index is built on the first miss.
pub struct ColumnFinder<'a> {
    table: &'a Table,
    next: usize,
    index: Option<std::collections::HashMap<&'a str, usize>>,
}

impl<'a> ColumnFinder<'a> {
    /// The position of the column with this name.
    pub fn position(&mut self, name: &str) -> Option<usize> {
        let columns = &self.table.columns;
        let at = match columns.get(self.next) {
            Some(c) if c.name == name => Some(self.next),
            _ => {
                let index = self.index.get_or_insert_with(|| {
                    // The first column of a name wins, as in `Table::column`.
                    let mut index = std::collections::HashMap::with_capacity(columns.len());
                    for (i, c) in columns.iter().enumerate().rev() {
                        index.insert(c.name.as_str(), i);
                    }
                    index
                });
                index.get(name).copied()
            }
        }?;
        self.next = at + 1;
        Some(at)
    }

    /// The column with this name.
    pub fn find(&mut self, name: &str) -> Option<&'a Column> {
        let table = self.table;
        self.position(name).map(|i| &table.columns[i])
    }
}

/// A table read from one file.
#[derive(Debug, Clone)]
pub struct Table {
    /// Where it came from, for messages.
    pub source: String,
    /// Columns in file order.
    pub columns: Vec<Column>,
    /// The 1-based file line of each data row (for messages); empty means row i is line i + 2.
    pub lines: Vec<u64>,
}

impl Table {
    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.cells.len())
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A finder for many columns by name, fastest when they are asked for in table order.
    pub fn finder(&self) -> ColumnFinder<'_> {
        ColumnFinder {
            table: self,
            next: 0,
            index: None,
        }
    }

    /// The file line of data row `row` (0-based), for messages.
    pub fn line_of(&self, row: usize) -> u64 {
        self.lines.get(row).copied().unwrap_or(row as u64 + 2)
    }

    /// Column names closest to `name`, to suggest when a name is not found.
    pub fn suggest(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        let mut close: Vec<&str> = self
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .filter(|c| {
                let cl = c.to_lowercase();
                cl.contains(&lower) || lower.contains(&cl) || edit_distance(&cl, &lower) <= 2
            })
            .collect();
        close.truncate(3);
        if close.is_empty() {
            let names: Vec<&str> = self
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .take(12)
                .collect();
            format!("; its columns are: {}", names.join(", "))
        } else {
            format!(
                "; did you mean {}?",
                close
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        }
    }
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_go_to_json_and_back() {
        use serde_json::json;
        for cell in [Cell::Missing, Cell::Num(2.5), Cell::Text("red".into())] {
            assert_eq!(Cell::from_json(&cell.to_json()), Some(cell));
        }
        assert_eq!(Cell::from_json(&json!(true)), Some(Cell::Num(1.0)));
        assert_eq!(Cell::from_json(&json!(" 3 ")), Some(Cell::Num(3.0)));
        assert_eq!(Cell::from_json(&json!("NaN")), Some(Cell::Missing));
        assert_eq!(Cell::from_json(&json!("NA")), Some(Cell::Missing));
        assert_eq!(Cell::from_json(&json!([1])), None);
    }

    #[test]
    fn numbers_format_without_trailing_zero() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-3.0), "-3");
    }

    #[test]
    fn suggestions_find_near_names() {
        let t = Table {
            source: "t.csv".into(),
            columns: vec![
                Column {
                    name: "species".into(),
                    cells: vec![],
                },
                Column {
                    name: "petal_width".into(),
                    cells: vec![],
                },
            ],
            lines: vec![],
        };
        assert!(t.suggest("specie").contains("'species'"));
        assert!(t.suggest("zzz").contains("its columns are"));
    }
}
