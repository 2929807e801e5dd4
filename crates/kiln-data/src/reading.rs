//! How a column's text is read as values: one decision per column, from all its values,
//! shared by training (which features a column makes) and profiling (its statistics and drift).

use crate::date;
use crate::format::NumberFormat;
use crate::read::RawValue;
use crate::table::Column;
use serde::{Deserialize, Serialize};

/// How a column's text is read: as written, as numbers in a format (`$1,234.50`, `1 234,5`),
/// or as dates, counted in days since 1970 so that their statistics and drift are numeric.
/// Training decides it for its features, profiles for every column.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// Numbers as plain numbers, anything else as text.
    #[default]
    AsWritten,
    /// Text in this number format as its number.
    Numbers(NumberFormat),
    /// Dates in this chrono layout as days since 1970.
    Dates(String),
}

impl Reading {
    /// Whether this is the plain reading, which needs no mention.
    pub fn is_as_written(&self) -> bool {
        *self == Reading::AsWritten
    }

    /// The reading every value of `column` calls for.
    pub fn of_column(column: &Column) -> Reading {
        if let Some(format) = NumberFormat::of_column(column) {
            return Reading::Numbers(format);
        }
        date::format_of_column(column).map_or(Reading::AsWritten, Reading::Dates)
    }

    /// The reading of the raw `fields` of one column, each a cell as written.
    pub fn of_fields<'a>(name: &str, fields: impl Iterator<Item = &'a str>) -> Reading {
        Reading::of_column(&Column::from_texts(name, fields))
    }

    /// A classified value as this reading takes it: text in the column's format as its number.
    pub fn read<'a>(&self, value: RawValue<'a>) -> RawValue<'a> {
        let RawValue::Text(text) = value else {
            return value;
        };
        let number = match self {
            Reading::AsWritten => None,
            Reading::Numbers(format) => format.parse(text),
            Reading::Dates(layout) => date::parse(layout, text).map(date::days),
        };
        number.map_or(value, RawValue::Number)
    }
}
