//! IDX files (MNIST, Fashion-MNIST; gzipped or not): a training pair of images and labels,
//! an optional test pair, and an optional `classes.txt`.

use super::{ImageData, ImageSet};
use crate::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The IDX file pairs of a folder: (images, labels) for training and, if present, for test.
struct IdxFiles {
    train: (PathBuf, PathBuf),
    test: Option<(PathBuf, PathBuf)>,
}

/// Reads the IDX data set in the folder `dir`, `None` if it has no training pair: files named
/// `PREFIX-images-idx3-ubyte` and `PREFIX-labels-idx1-ubyte` (optionally `.gz`), where the
/// prefix `train` marks the training images and `t10k` or `test` the test images. A
/// `classes.txt` beside them names the classes, one per line in label order; without it the
/// labels are the names.
pub(super) fn read_idx_data(dir: &Path) -> Result<Option<ImageData>, DataError> {
    let Some(files) = find_idx(dir)? else {
        return Ok(None);
    };
    let train = read_idx_pair(&files.train.0, &files.train.1)?;
    let test = match &files.test {
        Some((images, labels)) => {
            let test = read_idx_pair(images, labels)?;
            if (test.channels, test.height, test.width)
                != (train.channels, train.height, train.width)
            {
                return Err(DataError::Malformed {
                    file: test.source,
                    format: "IDX".into(),
                    reason: format!(
                        "its images are {}×{}, the training images {}×{}; every image must have one size",
                        test.height, test.width, train.height, train.width
                    ),
                });
            }
            Some(test)
        }
        None => None,
    };
    let classes = 1 + train
        .labels
        .iter()
        .chain(test.iter().flat_map(|t| t.labels.iter()))
        .max()
        .copied()
        .unwrap_or(0);
    let names_file = dir.join("classes.txt");
    let classes = if names_file.is_file() {
        let text = std::fs::read_to_string(&names_file).map_err(|e| DataError::Io {
            file: names_file.display().to_string(),
            reason: e.to_string(),
        })?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.len() < classes {
            return Err(DataError::Malformed {
                file: names_file.display().to_string(),
                format: "class list".into(),
                reason: format!(
                    "it names {} classes, but the labels go up to {}; give one name per line for labels 0 to {}",
                    names.len(),
                    classes - 1,
                    classes - 1
                ),
            });
        }
        names
    } else {
        (0..classes).map(|c| c.to_string()).collect()
    };
    Ok(Some(ImageData {
        train,
        test,
        classes,
        notes: Vec::new(),
    }))
}

/// Whether `name` is the name of an IDX file.
pub(super) fn is_idx_name(name: &str) -> bool {
    name.contains("-idx") && name.contains("-ubyte")
}

/// Finds the IDX file pairs in `dir`; `None` if it has no training pair.
fn find_idx(dir: &Path) -> Result<Option<IdxFiles>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::Io {
        file: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let find = |prefixes: &[&str], kind: &str| {
        names
            .iter()
            .find(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let name = name.strip_suffix(".gz").unwrap_or(name);
                prefixes.iter().any(|prefix| {
                    name.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix(['-', '.', '_']))
                        .is_some_and(|rest| rest == kind)
                })
            })
            .cloned()
    };
    let pair = |prefixes: &[&str]| -> Result<Option<(PathBuf, PathBuf)>, DataError> {
        match (
            find(prefixes, "images-idx3-ubyte"),
            find(prefixes, "labels-idx1-ubyte"),
        ) {
            (Some(images), Some(labels)) => Ok(Some((images, labels))),
            (None, None) => Ok(None),
            (Some(found), None) | (None, Some(found)) => Err(DataError::Malformed {
                file: found.display().to_string(),
                format: "image data".into(),
                reason: format!(
                    "it has no matching {} file beside it; IDX images and labels come in pairs",
                    if found.to_string_lossy().contains("images") {
                        "labels-idx1-ubyte"
                    } else {
                        "images-idx3-ubyte"
                    }
                ),
            }),
        }
    };
    let Some(train) = pair(&["train"])? else {
        return Ok(None);
    };
    Ok(Some(IdxFiles {
        train,
        test: pair(&["t10k", "test"])?,
    }))
}

/// Reads an IDX images file and its labels file, checking they agree.
pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<ImageSet, DataError> {
    let (dims, pixels) = read_idx(images, 3)?;
    let (label_dims, label_bytes) = read_idx(labels, 1)?;
    if label_dims[0] != dims[0] {
        return Err(DataError::Malformed {
            file: labels.display().to_string(),
            format: "IDX".into(),
            reason: format!(
                "it has {} labels for the {} images in '{}'",
                label_dims[0],
                dims[0],
                images.display()
            ),
        });
    }
    if dims[0] == 0 || dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::Empty {
            file: images.display().to_string(),
        });
    }
    Ok(ImageSet {
        source: images.display().to_string(),
        channels: 1,
        height: dims[1],
        width: dims[2],
        pixels,
        labels: label_bytes.into_iter().map(usize::from).collect(),
    })
}

/// Reads an IDX file of unsigned bytes with `rank` dimensions: its dimensions and values.
fn read_idx(path: &Path, rank: usize) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| DataError::Io {
        file: file.clone(),
        reason: e.to_string(),
    };
    let mut bytes = Vec::new();
    let raw = std::fs::File::open(path).map_err(io)?;
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::Malformed {
                file: file.clone(),
                format: "gzip".into(),
                reason: format!("{e}; the download may be incomplete"),
            })?;
    } else {
        std::io::BufReader::new(raw)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    let bad = |reason: String| DataError::Malformed {
        file: file.clone(),
        format: "IDX".into(),
        reason,
    };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "it has {} bytes, fewer than its {header}-byte header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(bad(
            "it does not start with the IDX signature for unsigned bytes (00 00 08)".into(),
        ));
    }
    if usize::from(bytes[3]) != rank {
        return Err(bad(format!(
            "it has {} dimensions where {rank} were expected ({})",
            bytes[3],
            if rank == 3 {
                "images: count, rows, columns"
            } else {
                "labels: count"
            }
        )));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|d| {
            let at = 4 + 4 * d;
            u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let values = bytes.len() - header;
    if expected != Some(values) {
        return Err(bad(format!(
            "its header promises {} values ({}), but {values} follow; the file is truncated or corrupt",
            expected.map_or("too many".to_string(), |e| e.to_string()),
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" × ")
        )));
    }
    bytes.drain(..header);
    Ok((dims, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{ImageOptions, is_image_data, read_image_data};

    fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(values);
        out
    }

    fn write_gz(path: &Path, bytes: &[u8]) {
        use std::io::Write;
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), Default::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    }

    #[test]
    fn reads_a_folder_of_idx_files_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        write_gz(
            &dir.path().join("train-images-idx3-ubyte.gz"),
            &idx(&[2, 3, 4], &pixels),
        );
        write_gz(
            &dir.path().join("train-labels-idx1-ubyte.gz"),
            &idx(&[2], &[1, 4]),
        );
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            idx(&[1, 3, 4], &pixels[..12]),
        )
        .unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx(&[1], &[0])).unwrap();
        assert!(is_image_data(dir.path()));
        let data = read_image_data(dir.path(), &ImageOptions::default()).unwrap();
        assert_eq!((data.train.height, data.train.width), (3, 4));
        assert_eq!(data.train.labels, vec![1, 4]);
        assert_eq!(data.train.image(1), &pixels[12..]);
        assert_eq!(data.test.unwrap().labels, vec![0]);
        assert_eq!(data.classes.len(), 5);
        std::fs::write(dir.path().join("classes.txt"), "a\nb\nc\n").unwrap();
        let err = read_image_data(dir.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names 3 classes") && err.contains("up to 4"),
            "{err}"
        );
        std::fs::write(dir.path().join("classes.txt"), "a\nb\nc\nd\ne\n").unwrap();
        assert_eq!(
            read_image_data(dir.path(), &ImageOptions::default())
                .unwrap()
                .classes[4],
            "e"
        );
    }

    #[test]
    fn truncated_and_mismatched_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("train-images-idx3-ubyte");
        let labels = dir.path().join("train-labels-idx1-ubyte");
        std::fs::write(&images, idx(&[2, 3, 4], &[0; 20])).unwrap();
        std::fs::write(&labels, idx(&[2], &[0, 1])).unwrap();
        let err = read_image_data(dir.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("train-images"),
            "{err}"
        );
        std::fs::write(&images, idx(&[2, 3, 4], &[0; 24])).unwrap();
        std::fs::write(&labels, idx(&[3], &[0, 1, 2])).unwrap();
        let err = read_image_data(dir.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 labels for the 2 images"), "{err}");
        std::fs::remove_file(&labels).unwrap();
        let err = read_image_data(dir.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("labels-idx1-ubyte"), "{err}");
    }

    #[test]
    fn a_folder_without_idx_files_is_not_image_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("table.csv"), "a,b\n1,2\n").unwrap();
        assert!(!is_image_data(&dir.path().join("table.csv")));
        assert!(!is_image_data(dir.path()));
        assert!(read_image_data(dir.path(), &ImageOptions::default()).is_err());
    }
}
