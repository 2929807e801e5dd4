//! Numbers written for people rather than programs: currency symbols, percent signs,
//! thousands separators, accounting parentheses and decimal commas ("$1,234.50", "12.5%",
//! "(300)", "1 234,5 €"). A column is read in one format, decided from all its values, so a
//! value never reads one way in one row and another way in the next.

use crate::table::{Cell, Column};
use serde::{Deserialize, Serialize};

/// How a column writes its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// Plain numbers only (`1234.5`, `-3e4`).
    #[default]
    Plain,
    /// A decimal point, thousands grouped by commas, spaces or apostrophes, an optional
    /// currency symbol or percent sign: `$1,234.50`, `12.5%`, `(300.00)`.
    Point,
    /// A decimal comma, thousands grouped by spaces or apostrophes, an optional currency
    /// symbol or percent sign: `1 234,50 €`, `12,5 %`.
    Comma,
}

/// Symbols that may precede or follow a number as its currency.
const CURRENCIES: [char; 14] = [
    '$', '€', '£', '¥', '₹', '₩', '₽', '₺', '₪', '₫', '₱', '฿', '₦', '¢',
];

/// Spaces that group thousands in either format (a plain, a no-break and a narrow no-break
/// space) and the apostrophe of Swiss-style `1'234.50`.
const GROUPING: [char; 4] = [' ', '\u{a0}', '\u{202f}', '\''];

impl NumberFormat {
    /// Whether this is the plain format, which needs no mention in a bundle.
    pub fn is_plain(&self) -> bool {
        *self == NumberFormat::Plain
    }

    /// The number a text value stands for in this format, or `None` if it is not one. The
    /// value is the number as written: `12.5%` is 12.5 and `$1,200` is 1200.
    pub fn parse(self, text: &str) -> Option<f64> {
        let decimal = match self {
            NumberFormat::Plain => return plain(text.trim()),
            NumberFormat::Point => '.',
            NumberFormat::Comma => ',',
        };
        let s = text.trim();
        let (negative, s) = match s.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            Some(inner) => (true, inner.trim()),
            None => (false, s),
        };
        let (minus, s) = sign(s);
        let s = strip_unit(s)?;
        let (minus_inside, s) = if minus { (false, s) } else { sign(s) };
        if negative && (minus || minus_inside) {
            return None;
        }
        let value = digits(s, decimal)?;
        Some(if negative || minus || minus_inside {
            -value
        } else {
            value
        })
    }

    /// The format every value of `column` reads in: plain when every present cell is already a
    /// number, otherwise the first of point and comma in which every text cell reads as a
    /// number (comma only when no number in the column has a fractional part, which would be
    /// written with a point). `None` when the column holds text that is not a number.
    pub fn of_column(column: &Column) -> Option<NumberFormat> {
        let texts: Vec<&str> = column
            .cells
            .iter()
            .filter_map(|c| match c {
                Cell::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let fractions = column
            .cells
            .iter()
            .any(|c| matches!(c, Cell::Num(v) if v.fract() != 0.0));
        [NumberFormat::Point, NumberFormat::Comma]
            .into_iter()
            .filter(|f| *f == NumberFormat::Point || !fractions)
            .find(|f| !texts.is_empty() && texts.iter().all(|t| f.parse(t).is_some()))
    }

    /// The number in `cell` in this format: its value, or its text parsed; `None` when missing
    /// or not a number.
    pub fn number(self, cell: &Cell) -> Option<f64> {
        match cell {
            Cell::Num(v) => Some(*v),
            Cell::Text(t) => self.parse(t),
            Cell::Missing => None,
        }
    }

    /// Examples of the format for messages (" like $1,234.50 or 12.5%"); empty for plain.
    pub fn like(self) -> &'static str {
        match self {
            NumberFormat::Plain => "",
            NumberFormat::Point => " like $1,234.50 or 12.5%",
            NumberFormat::Comma => " like 1 234,50 € or 12,5 %",
        }
    }
}

/// A plain finite number.
fn plain(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A leading sign: whether it is a minus, and the rest.
fn sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix(['-', '\u{2212}']) {
        (true, rest.trim_start())
    } else {
        (false, s.strip_prefix('+').unwrap_or(s).trim_start())
    }
}

/// The number without one currency symbol (before or after it) or percent sign (after it).
fn strip_unit(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix(CURRENCIES) {
        return Some(rest.trim_start());
    }
    if let Some(rest) = s.strip_suffix(CURRENCIES).or_else(|| s.strip_suffix('%')) {
        return Some(rest.trim_end());
    }
    Some(s)
}

/// Digits with optional thousands groups (one separator throughout, every group after the
/// first exactly three digits) and an optional fraction after `decimal`.
fn digits(s: &str, decimal: char) -> Option<f64> {
    let (whole, fraction) = match s.split_once(decimal) {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fraction
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let separators: &[char] = if decimal == '.' { &[','] } else { &[] };
    let separator = whole
        .chars()
        .find(|c| separators.contains(c) || GROUPING.contains(c));
    let mut canonical = String::with_capacity(s.len());
    match separator {
        None => canonical.push_str(whole),
        Some(sep) => {
            let mut groups = whole.split(sep);
            let head = groups.next()?;
            if head.is_empty() || head.len() > 3 {
                return None;
            }
            canonical.push_str(head);
            for group in groups {
                if group.len() != 3 {
                    return None;
                }
                canonical.push_str(group);
            }
        }
    }
    if !canonical.bytes().all(|b| b.is_ascii_digit())
        || (canonical.is_empty() && fraction.is_none())
    {
        return None;
    }
    if let Some(f) = fraction {
        canonical.push('.');
        canonical.push_str(f);
    }
    plain(&canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> Column {
        Column::from_texts("c", values.iter().copied())
    }

    #[test]
    fn point_format_reads_currency_percent_groups_and_parentheses() {
        let f = NumberFormat::Point;
        for (text, value) in [
            ("$1,234.50", 1234.5),
            ("-$5", -5.0),
            ("$-5", -5.0),
            ("(1,200)", -1200.0),
            ("12.5%", 12.5),
            ("12.5 %", 12.5),
            ("€ 3", 3.0),
            ("3 €", 3.0),
            ("1'234.5", 1234.5),
            ("1 234 567", 1234567.0),
            ("$.50", 0.5),
            ("+7", 7.0),
        ] {
            assert_eq!(f.parse(text), Some(value), "{text}");
        }
        for text in [
            "1,2",
            "1,2345",
            "12,34,567",
            "$",
            "%",
            "1.2.3",
            "(-5)",
            "abc",
            "5$5",
            "1,234,5",
            "$$5",
            "1.",
        ] {
            assert_eq!(f.parse(text), None, "{text}");
        }
    }

    #[test]
    fn comma_format_reads_decimal_commas_and_never_groups_by_points() {
        let f = NumberFormat::Comma;
        assert_eq!(f.parse("1 234,50 €"), Some(1234.5));
        assert_eq!(f.parse("-3,25"), Some(-3.25));
        assert_eq!(f.parse("12,5 %"), Some(12.5));
        assert_eq!(f.parse("1.234,5"), None, "a point is not a separator here");
        assert_eq!(f.parse("1,2,3"), None);
    }

    #[test]
    fn a_column_takes_the_format_all_its_text_reads_in() {
        let of = |v: &[&str]| NumberFormat::of_column(&column(v));
        assert_eq!(of(&["1", "2.5", ""]), None, "plain numbers need no format");
        assert_eq!(of(&["$1,000", "25", "$3.5"]), Some(NumberFormat::Point));
        assert_eq!(of(&["1,5", "2", "1 000,25"]), Some(NumberFormat::Comma));
        assert_eq!(
            of(&["1,5", "2.5"]),
            None,
            "a decimal point and a decimal comma in one column"
        );
        assert_eq!(
            of(&["1,000", "2,500"]),
            Some(NumberFormat::Point),
            "groups first"
        );
        assert_eq!(of(&["$5", "red"]), None);
    }
}
