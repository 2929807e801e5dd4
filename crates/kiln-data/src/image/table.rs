//! Tables of pixel columns (`pixel1` … `pixelN`, as the Fashion-MNIST and MNIST CSV files
//! have them) read as images: square grey images, or square RGB ones stored channel after
//! channel.

use super::{ImageData, ImageSet};
use crate::{Cell, DataError, Table, Target};

/// Pixel columns an image table needs at least (a 4×4 grey image).
const MIN_PIXELS: usize = 16;

/// The pixel number in a column name `pixelN` (any case), if it is one.
fn pixel_number(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    lower.strip_prefix("pixel")?.parse().ok()
}

/// When every column but the `target` and the `ignored` ones is a pixel column and their
/// number makes a square image (grey, or RGB in three planes): the pixel column names in pixel
/// order, and the image's `(channels, side)`.
pub fn pixel_columns_of(
    table: &Table,
    target: &str,
    ignored: &[String],
) -> Option<(Vec<String>, (usize, usize))> {
    let mut pixels: Vec<(usize, &str)> = Vec::new();
    for column in &table.columns {
        if column.name == target || ignored.contains(&column.name) {
            continue;
        }
        pixels.push((pixel_number(&column.name)?, &column.name));
    }
    if pixels.len() < MIN_PIXELS {
        return None;
    }
    pixels.sort_unstable();
    let n = pixels.len();
    let shape = [1, 3].into_iter().find_map(|channels| {
        let side = ((n / channels) as f64).sqrt().round() as usize;
        (channels * side * side == n).then_some((channels, side))
    })?;
    Some((
        pixels.into_iter().map(|(_, c)| c.to_string()).collect(),
        shape,
    ))
}

/// The images in `table`'s `columns` (in pixel order), labelled by `target` (a classification
/// target); rows without a label are left out. Every pixel must be a number from 0 to 255.
pub fn images_from_table(
    table: &Table,
    columns: &[String],
    (channels, side): (usize, usize),
    target: &Target,
) -> Result<ImageData, DataError> {
    let labels = target.encode(table)?;
    let cols: Vec<&[Cell]> = columns
        .iter()
        .map(|c| table.column(c).map_or(&[][..], |c| c.cells.as_slice()))
        .collect();
    let mut pixels = Vec::with_capacity(table.n_rows() * columns.len());
    let mut kept = Vec::new();
    for (row, label) in labels.iter().enumerate() {
        let Some(label) = label else { continue };
        for (c, cells) in cols.iter().enumerate() {
            let value = match &cells[row] {
                Cell::Num(v) if (0.0..=255.0).contains(v) => v.round() as u8,
                other => {
                    return Err(DataError::BadValue {
                        file: table.source.clone(),
                        line: table.line_of(row),
                        column: columns[c].clone(),
                        problem: format!(
                            "'{}' is not a pixel value; image columns hold numbers from 0 to 255",
                            other.as_text()
                        ),
                    });
                }
            };
            pixels.push(value);
        }
        kept.push(*label as usize);
    }
    let without = labels.len() - kept.len();
    let mut notes = vec![format!(
        "image table: {} pixel columns read as {side}×{side} images with {channels} channel{}",
        columns.len(),
        if channels == 1 { "" } else { "s" }
    )];
    if without > 0 {
        notes.push(format!("{without} rows without a label were left out"));
    }
    Ok(ImageData {
        train: ImageSet {
            source: table.source.clone(),
            channels,
            height: side,
            width: side,
            pixels,
            labels: kept,
        },
        test: None,
        classes: target.classes.clone(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, Task};

    fn table(names: &[&str], rows: &[Vec<Cell>]) -> Table {
        Table {
            source: "t.csv".into(),
            columns: names
                .iter()
                .enumerate()
                .map(|(i, n)| Column {
                    name: n.to_string(),
                    cells: rows.iter().map(|r| r[i].clone()).collect(),
                })
                .collect(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn square_pixel_columns_are_images_in_pixel_order() {
        let mut names: Vec<String> = (0..16).rev().map(|i| format!("pixel{i}")).collect();
        names.insert(0, "label".into());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let row = |label: &str, v: f64| {
            let mut r = vec![Cell::Text(label.into())];
            r.extend((0..16).rev().map(|i| Cell::Num(v + i as f64)));
            r
        };
        let t = table(
            &refs,
            &[row("a", 0.0), row("b", 100.0), vec![Cell::Missing; 17]],
        );
        let (columns, shape) = pixel_columns_of(&t, "label", &[]).unwrap();
        assert_eq!(shape, (1, 4));
        assert_eq!(columns[0], "pixel0");
        let target = Target {
            column: "label".into(),
            task: Task::Multiclass,
            classes: vec!["a".into(), "b".into()],
            reason: String::new(),
            format: Default::default(),
        };
        let data = images_from_table(&t, &columns, shape, &target).unwrap();
        assert_eq!(data.train.labels, vec![0, 1]);
        assert_eq!(data.train.image(1)[..3], [100, 101, 102]);
        assert!(
            data.notes
                .iter()
                .any(|n| n.contains("1 rows without a label"))
        );
        let mut bad = t.clone();
        bad.columns[3].cells[0] = Cell::Num(300.0);
        let err = images_from_table(&bad, &columns, shape, &target)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("'300'"), "{err}");
    }

    #[test]
    fn other_columns_or_odd_counts_are_not_images() {
        let names: Vec<String> = (1..=15).map(|i| format!("pixel{i}")).collect();
        let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
        refs.push("y");
        let t = table(&refs, &[vec![Cell::Num(0.0); 16]]);
        assert!(
            pixel_columns_of(&t, "y", &[]).is_none(),
            "15 pixels are no square"
        );
        refs[0] = "age";
        let t = table(&refs, &[vec![Cell::Num(0.0); 16]]);
        assert!(pixel_columns_of(&t, "y", &[]).is_none());
    }
}
