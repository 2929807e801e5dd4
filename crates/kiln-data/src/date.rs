//! Date and date-time columns ("2024-03-01", "03/01/2024 14:30", "1 Mar 2024"): the format a
//! column is written in, decided from all its values, and the network inputs a date becomes
//! (where it lies in time, its season, its weekday and, with times, its hour).

use crate::table::{Cell, Column};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Date layouts tried in order; a column takes the first that reads every one of its values.
/// Month-first before day-first, so a column whose days never pass 12 reads month-first.
const DATES: [&str; 16] = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%m-%d-%Y",
    "%d-%m-%Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%B %d, %Y",
    "%m/%d/%y",
    "%d/%m/%y",
];

/// Times of day that may follow a date (after a space or a `T`), tried in order.
/// The offset is read and left aside: times stay as the clock showed them.
const TIMES: [&str; 7] = [
    "%H:%M:%S%.f",
    "%H:%M:%S",
    "%H:%M",
    "%H:%M:%S%.f%#z",
    "%H:%M:%S%#z",
    "%H:%M:%S%.f %#z",
    "%I:%M %p",
];

/// The layout every text value of `column` is written in, as a chrono format string, when
/// the column holds dates and nothing but dates (and missing values).
pub fn format_of_column(column: &Column) -> Option<String> {
    let mut values = Vec::new();
    for cell in &column.cells {
        match cell {
            Cell::Text(t) => values.push(t.as_str()),
            Cell::Num(_) => return None,
            Cell::Missing => {}
        }
    }
    let first = *values.first()?;
    candidates()
        .filter(|f| parse(f, first).is_some())
        .find(|f| values.iter().all(|v| parse(f, v).is_some()))
}

/// Every layout: each date alone, then each date followed by each time of day.
fn candidates() -> impl Iterator<Item = String> {
    let dates = DATES.iter().map(|d| d.to_string());
    let times = DATES.iter().flat_map(|d| {
        TIMES
            .iter()
            .flat_map(move |t| [format!("{d} {t}"), format!("{d}T{t}")])
    });
    dates.chain(times)
}

/// Whether `format` carries a time of day.
pub fn has_time(format: &str) -> bool {
    format.contains("%H") || format.contains("%I")
}

/// The date and time `text` stands for in `format` (midnight for a date alone); a trailing `Z`
/// (UTC) is accepted wherever a time is.
pub fn parse(format: &str, text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if has_time(format) {
        let text = text.strip_suffix('Z').unwrap_or(text);
        NaiveDateTime::parse_from_str(text, format).ok()
    } else {
        NaiveDate::parse_from_str(text, format)
            .ok()
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
    }
}

/// Days since 1970-01-01, with the time of day as a fraction.
pub fn days(t: NaiveDateTime) -> f64 {
    t.and_utc().timestamp() as f64 / 86_400.0
}

/// The cyclic inputs of a moment: the sine and cosine of its angle through the year and the
/// week, then, with `time_of_day`, through the day.
pub fn cycles(t: NaiveDateTime, time_of_day: bool, out: &mut [f32]) {
    let turn = std::f64::consts::TAU;
    let year = f64::from(t.ordinal0()) / 365.25;
    let week = f64::from(t.weekday().num_days_from_monday()) / 7.0;
    let mut angles = vec![year, week];
    if time_of_day {
        angles.push(f64::from(t.num_seconds_from_midnight()) / 86_400.0);
    }
    for (pair, a) in out.chunks_exact_mut(2).zip(angles) {
        pair[0] = (turn * a).sin() as f32;
        pair[1] = (turn * a).cos() as f32;
    }
}

/// A moment written in `format`, to show what a value should look like.
pub fn example(format: &str) -> String {
    let moment = NaiveDate::from_ymd_opt(2024, 3, 1)
        .and_then(|d| d.and_hms_opt(14, 30, 0))
        .expect("a real moment");
    // `%#z` reads an offset with or without minutes but cannot write one.
    let format = format.replace("%#z", "%:z");
    format!("'{}'", moment.and_utc().format(&format))
}

/// The calendar day `days` after 1970-01-01, as `YYYY-MM-DD`.
pub fn day_name(days: f64) -> String {
    chrono::DateTime::from_timestamp((days * 86_400.0).floor() as i64, 0).map_or_else(
        || format!("day {days}"),
        |t| t.format("%Y-%m-%d").to_string(),
    )
}

/// Cyclic inputs per date: year and week, and the day with times.
pub fn cycle_inputs(time_of_day: bool) -> usize {
    if time_of_day { 6 } else { 4 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[&str]) -> Column {
        Column::from_texts("when", values.iter().copied())
    }

    #[test]
    fn a_column_takes_the_first_layout_that_reads_all_its_values() {
        let of = |v: &[&str]| format_of_column(&column(v));
        assert_eq!(of(&["2024-03-01", "", "2023-12-31"]).unwrap(), "%Y-%m-%d");
        assert_eq!(of(&["03/01/2024", "12/31/2023"]).unwrap(), "%m/%d/%Y");
        assert_eq!(
            of(&["03/01/2024", "31/12/2023"]).unwrap(),
            "%d/%m/%Y",
            "a day past 12 makes the column day-first"
        );
        assert_eq!(of(&["1 Mar 2024", "15 Dec 2023"]).unwrap(), "%d %b %Y");
        let t = of(&["2024-03-01T14:30:00Z", "2024-03-02T01:00:00.5Z"]).unwrap();
        assert!(has_time(&t), "{t}");
        assert_eq!(
            of(&["2024-03-01 14:30", "2024-03-02 09:05"]).unwrap(),
            "%Y-%m-%d %H:%M"
        );
        assert_eq!(of(&["2024-03-01", "soon"]), None);
        assert_eq!(of(&["2024-03-01", "5"]), None, "a number is not a date");
        assert_eq!(of(&["red", "blue"]), None);
    }

    #[test]
    fn dates_become_days_and_angles() {
        let t = parse("%Y-%m-%d %H:%M", "1970-01-02 06:00").unwrap();
        assert_eq!(days(t), 1.25);
        assert_eq!(day_name(1.25), "1970-01-02");
        let mut out = [0f32; 6];
        cycles(t, true, &mut out);
        // 2 January is a Friday: 4/7 of the way through a week starting on Monday.
        let week = std::f64::consts::TAU * 4.0 / 7.0;
        assert!((f64::from(out[2]) - week.sin()).abs() < 1e-6);
        // 06:00 is a quarter of the day: sine 1, cosine 0.
        assert!(
            (out[4] - 1.0).abs() < 1e-6 && out[5].abs() < 1e-6,
            "{out:?}"
        );
        assert_eq!(parse("%Y-%m-%d", "2024-02-30"), None, "no such day");
        let offset = "%Y-%m-%dT%H:%M:%S%#z";
        assert!(parse(offset, "2024-03-01T14:30:00+02:00").is_some());
        let parquet = format_of_column(&column(&["2024-01-01 07:00:00.000 +00:00"])).unwrap();
        assert_eq!(
            parse(&parquet, "2024-01-01 07:00:00.000 +00:00")
                .unwrap()
                .hour(),
            7
        );
        for format in candidates() {
            assert!(!example(&format).is_empty(), "{format}");
        }
        assert_eq!(example("%d.%m.%Y"), "'01.03.2024'");
    }
}
