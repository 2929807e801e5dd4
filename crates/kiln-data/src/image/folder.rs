//! Folders of image files in the ImageFolder layout: one sub-folder per class, optionally under
//! `train/` with a `test/` (or `val/`) beside it. Headers are read first to choose one size and
//! channel count, then every file is decoded, converted and resized on all cores. Unreadable
//! files are skipped and reported; an empty class folder is an error.

use super::{ImageData, ImageOptions, ImageSet};
use crate::DataError;
use ::image::imageops::FilterType;
use ::image::{DynamicImage, ImageDecoder, ImageReader};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::DirEntry;
use std::path::{Path, PathBuf};

/// File extensions (lower case) Kiln decodes as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// The names of the folders beside `train/` that hold test images, in order of preference.
const TEST_FOLDERS: &[&str] = &["test", "val", "valid", "validation"];

/// Unreadable files named in a note before the rest are only counted.
const NAMED_FAILURES: usize = 3;

/// Whether `path` has an image file's extension.
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether a folder's `entries` include a class folder of images, directly or under `train/`.
pub(super) fn has_class_folders(entries: &[DirEntry]) -> bool {
    entries.iter().filter(|e| e.path().is_dir()).any(|e| {
        let path = e.path();
        holds_images(&path)
            || (e.file_name() == "train" && subfolders(&path).iter().any(|p| holds_images(p)))
    })
}

/// Whether the folder `dir` directly holds an image file.
fn holds_images(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| is_image_file(&e.path()) && e.path().is_file())
    })
}

/// The visible sub-folders of `dir`, sorted by name.
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !is_hidden(p))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether a file or folder name starts with a dot.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The name of a folder as a class name.
fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// An error about the image folder tree at `path`.
fn malformed(path: &Path, reason: String) -> DataError {
    DataError::Malformed {
        file: path.display().to_string(),
        format: "image folder".into(),
        reason,
    }
}

/// Reads an image folder tree rooted at `dir`.
pub(super) fn read_image_folder(
    dir: &Path,
    options: &ImageOptions,
) -> Result<ImageData, DataError> {
    let nested = dir.join("train");
    let (train_dir, test_dir) = if nested.is_dir() {
        let test = TEST_FOLDERS
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_dir());
        (nested, test)
    } else {
        (dir.to_path_buf(), None)
    };
    let class_dirs = subfolders(&train_dir);
    if class_dirs.is_empty() {
        return Err(malformed(
            dir,
            "it has neither IDX files (train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]) nor class sub-folders of images (one folder per class holding PNG or JPEG files, optionally under train/ and test/)".into(),
        ));
    }
    let classes: Vec<String> = class_dirs.iter().map(|p| folder_name(p)).collect();
    let mut notes = Vec::new();
    let mut ignored = 0usize;
    let mut train_files = Vec::new();
    for (label, class_dir) in class_dirs.iter().enumerate() {
        let files = image_files(class_dir, &mut ignored)?;
        if files.is_empty() {
            return Err(malformed(
                class_dir,
                format!(
                    "class folder '{}' has no images ({}); add images to it or remove it",
                    classes[label],
                    IMAGE_EXTENSIONS.join(", ")
                ),
            ));
        }
        train_files.extend(files.into_iter().map(|f| (f, label)));
    }
    let mut test_files = Vec::new();
    if let Some(test_dir) = &test_dir {
        for class_dir in subfolders(test_dir) {
            let name = folder_name(&class_dir);
            let Some(label) = classes.iter().position(|c| *c == name) else {
                return Err(malformed(
                    &class_dir,
                    format!(
                        "test class '{name}' has no training folder; the training classes are {}",
                        classes.join(", ")
                    ),
                ));
            };
            test_files.extend(
                image_files(&class_dir, &mut ignored)?
                    .into_iter()
                    .map(|f| (f, label)),
            );
        }
    }
    if ignored > 0 {
        notes.push(format!(
            "ignored {ignored} files that are not images (by extension: {})",
            IMAGE_EXTENSIONS.join(", ")
        ));
    }
    let headers: Vec<Result<Header, String>> = train_files
        .par_iter()
        .map(|(p, _)| read_header(p))
        .collect();
    let readable: Vec<&Header> = headers.iter().filter_map(|h| h.as_ref().ok()).collect();
    if readable.is_empty() {
        return Err(malformed(
            &train_dir,
            format!(
                "none of its {} image files could be read; the first says: {}",
                train_files.len(),
                headers
                    .iter()
                    .find_map(|h| h.as_ref().err())
                    .cloned()
                    .unwrap_or_default()
            ),
        ));
    }
    let [height, width] = match options.size {
        Some(size) => size,
        None => capped(most_common_size(&readable), options.max_side),
    };
    let channels = options
        .channels
        .unwrap_or(if readable.iter().any(|h| h.colour) {
            3
        } else {
            1
        });
    let target = Target {
        channels,
        height,
        width,
    };
    let mut failures = Vec::new();
    let mut resized = 0usize;
    let train = decode_all(
        &train_dir,
        &train_files,
        target,
        &mut failures,
        &mut resized,
    );
    for (label, class) in classes.iter().enumerate() {
        if !train.labels.contains(&label) {
            return Err(malformed(
                &class_dirs[label],
                format!(
                    "none of class '{class}''s images could be read; the first problem: {}",
                    failures
                        .iter()
                        .find(|(p, _): &&(PathBuf, String)| p.starts_with(&class_dirs[label]))
                        .map_or(String::new(), |(p, e)| format!("'{}': {e}", p.display()))
                ),
            ));
        }
    }
    let test = test_dir
        .filter(|_| !test_files.is_empty())
        .map(|dir| decode_all(&dir, &test_files, target, &mut failures, &mut resized))
        .filter(|set| !set.is_empty());
    if resized > 0 {
        notes.push(format!(
            "resized {resized} images to {height}×{width} ({})",
            if options.size.is_some() {
                "data.images.size"
            } else {
                "the most common size, scaled to data.images.max_side"
            }
        ));
    }
    if !failures.is_empty() {
        let named: Vec<String> = failures
            .iter()
            .take(NAMED_FAILURES)
            .map(|(p, e)| format!("'{}' ({e})", p.display()))
            .collect();
        notes.push(format!(
            "skipped {} unreadable image file{}: {}{}",
            failures.len(),
            if failures.len() == 1 { "" } else { "s" },
            named.join("; "),
            if failures.len() > NAMED_FAILURES {
                format!("; and {} more", failures.len() - NAMED_FAILURES)
            } else {
                String::new()
            }
        ));
    }
    Ok(ImageData {
        train,
        test,
        classes,
        notes,
    })
}

/// The image files of a class folder, sorted; other files are counted in `ignored`.
fn image_files(dir: &Path, ignored: &mut usize) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::Io {
        file: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if !path.is_file() || is_hidden(&path) {
            continue;
        }
        if is_image_file(&path) {
            files.push(path);
        } else {
            *ignored += 1;
        }
    }
    files.sort();
    Ok(files)
}

/// What an image file's header says.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Rows of pixels.
    height: usize,
    /// Columns of pixels.
    width: usize,
    /// Whether it stores colour rather than grey.
    colour: bool,
}

/// Reads the size and colour type of an image file without decoding its pixels.
fn read_header(path: &Path) -> Result<Header, String> {
    let decoder = ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_decoder()
        .map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    Ok(Header {
        height: height as usize,
        width: width as usize,
        colour: decoder.color_type().has_color(),
    })
}

/// The most frequent `[height, width]` among `headers` (ties: the larger image).
fn most_common_size(headers: &[&Header]) -> [usize; 2] {
    let mut counts: HashMap<[usize; 2], usize> = HashMap::new();
    for h in headers {
        *counts.entry([h.height, h.width]).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(size, count)| (count, size[0] * size[1], size))
        .map_or([1, 1], |(size, _)| size)
}

/// `size` scaled down, keeping its aspect ratio, so that no side exceeds `max_side`.
fn capped(size: [usize; 2], max_side: usize) -> [usize; 2] {
    let longest = size[0].max(size[1]);
    if longest <= max_side {
        return size;
    }
    let scale = max_side as f64 / longest as f64;
    size.map(|side| ((side as f64 * scale).round() as usize).max(1))
}

/// The channel count and size every image is converted to.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// 1 (grey) or 3 (RGB).
    channels: usize,
    /// Rows of pixels.
    height: usize,
    /// Columns of pixels.
    width: usize,
}

/// Decodes `files` on all cores into one image set; unreadable files go to `failures`, and
/// images not already of the target size are counted in `resized`.
fn decode_all(
    source: &Path,
    files: &[(PathBuf, usize)],
    target: Target,
    failures: &mut Vec<(PathBuf, String)>,
    resized: &mut usize,
) -> ImageSet {
    let decoded: Vec<Result<(Vec<u8>, bool), String>> = files
        .par_iter()
        .map(|(path, _)| {
            let image = load(path)?;
            let was_resized =
                (image.height() as usize, image.width() as usize) != (target.height, target.width);
            Ok((to_pixels(&image, target), was_resized))
        })
        .collect();
    let mut pixels =
        Vec::with_capacity(files.len() * target.channels * target.height * target.width);
    let mut labels = Vec::with_capacity(files.len());
    for ((path, label), result) in files.iter().zip(decoded) {
        match result {
            Ok((values, was_resized)) => {
                pixels.extend_from_slice(&values);
                labels.push(*label);
                *resized += usize::from(was_resized);
            }
            Err(reason) => failures.push((path.clone(), reason)),
        }
    }
    ImageSet {
        source: source.display().to_string(),
        channels: target.channels,
        height: target.height,
        width: target.width,
        pixels,
        labels,
    }
}

/// Decodes an image file.
fn load(path: &Path) -> Result<DynamicImage, String> {
    ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())
}

/// An image converted to the target's channels and size, as channel-major bytes.
fn to_pixels(image: &DynamicImage, target: Target) -> Vec<u8> {
    let (w, h) = (target.width as u32, target.height as u32);
    let resize = |image: &DynamicImage| {
        if image.width() == w && image.height() == h {
            image.clone()
        } else {
            image.resize_exact(w, h, FilterType::Triangle)
        }
    };
    if target.channels == 1 {
        return resize(image).to_luma8().into_raw();
    }
    let rgb = resize(image).to_rgb8().into_raw();
    let plane = (w * h) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px[c];
        }
    }
    out
}

/// Decodes the image file at `path` into `channels × height × width` bytes (channel-major),
/// converting its colours and resizing it as needed: how a trained image model reads a file.
pub fn decode_image(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Vec<u8>, DataError> {
    let image = load(path).map_err(|reason| DataError::Malformed {
        file: path.display().to_string(),
        format: "image".into(),
        reason,
    })?;
    Ok(to_pixels(
        &image,
        Target {
            channels,
            height,
            width,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{is_image_data, read_image_data};
    use ::image::{GrayImage, Luma, Rgb, RgbImage};

    fn grey(dir: &Path, name: &str, side: u32, value: u8) {
        std::fs::create_dir_all(dir).unwrap();
        GrayImage::from_pixel(side, side, Luma([value]))
            .save(dir.join(name))
            .unwrap();
    }

    #[test]
    fn reads_class_folders_with_a_test_folder_beside_train() {
        let root = tempfile::tempdir().unwrap();
        let train = root.path().join("train");
        grey(&train.join("boot"), "a.png", 8, 10);
        grey(&train.join("boot"), "b.png", 8, 20);
        grey(&train.join("shirt"), "c.png", 8, 200);
        grey(&root.path().join("test").join("shirt"), "d.png", 8, 199);
        std::fs::write(train.join("boot").join("notes.txt"), "not an image").unwrap();
        assert!(is_image_data(root.path()));
        let data = read_image_data(root.path(), &ImageOptions::default()).unwrap();
        assert_eq!(data.classes, vec!["boot", "shirt"]);
        assert_eq!(data.train.labels, vec![0, 0, 1]);
        assert_eq!(
            (data.train.channels, data.train.height, data.train.width),
            (1, 8, 8)
        );
        assert!(data.train.image(1).iter().all(|&p| p == 20));
        let test = data.test.unwrap();
        assert_eq!(test.labels, vec![1]);
        assert!(test.image(0).iter().all(|&p| p == 199));
        assert!(
            data.notes.iter().any(|n| n.contains("ignored 1 files")),
            "{:?}",
            data.notes
        );
    }

    #[test]
    fn colour_images_become_three_planes_and_odd_sizes_are_resized() {
        let root = tempfile::tempdir().unwrap();
        let red = root.path().join("red");
        std::fs::create_dir_all(&red).unwrap();
        RgbImage::from_pixel(6, 6, Rgb([250, 0, 0]))
            .save(red.join("a.png"))
            .unwrap();
        RgbImage::from_pixel(6, 6, Rgb([240, 0, 0]))
            .save(red.join("b.jpg"))
            .unwrap();
        RgbImage::from_pixel(12, 9, Rgb([255, 0, 0]))
            .save(red.join("c.png"))
            .unwrap();
        grey(&root.path().join("grey"), "d.png", 6, 128);
        let data = read_image_data(root.path(), &ImageOptions::default()).unwrap();
        let set = &data.train;
        assert_eq!((set.channels, set.height, set.width), (3, 6, 6));
        assert_eq!(set.len(), 4);
        assert_eq!(data.classes, vec!["grey", "red"]);
        let c = set.image(3);
        assert!(c[..36].iter().all(|&p| p == 255) && c[36..].iter().all(|&p| p == 0));
        let d = set.image(0);
        assert!(
            d.iter().all(|&p| p == 128),
            "grey stays grey in every channel"
        );
        assert!(
            data.notes
                .iter()
                .any(|n| n.contains("resized 1 images to 6×6")),
            "{:?}",
            data.notes
        );
        let options = ImageOptions {
            size: Some([3, 4]),
            channels: Some(1),
            ..ImageOptions::default()
        };
        let small = read_image_data(root.path(), &options).unwrap().train;
        assert_eq!((small.channels, small.height, small.width), (1, 3, 4));
    }

    #[test]
    fn large_images_are_scaled_down_to_max_side() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a");
        std::fs::create_dir_all(&dir).unwrap();
        GrayImage::new(200, 100).save(dir.join("x.png")).unwrap();
        grey(&root.path().join("b"), "y.png", 5, 1);
        std::fs::copy(dir.join("x.png"), dir.join("z.png")).unwrap();
        let set = read_image_data(root.path(), &ImageOptions::default())
            .unwrap()
            .train;
        assert_eq!((set.height, set.width), (32, 64));
    }

    #[test]
    fn corrupt_files_are_skipped_and_reported_and_empty_classes_refused() {
        let root = tempfile::tempdir().unwrap();
        grey(&root.path().join("a"), "good.png", 4, 1);
        grey(&root.path().join("b"), "good.png", 4, 2);
        let full = std::fs::read(root.path().join("b").join("good.png")).unwrap();
        std::fs::write(
            root.path().join("b").join("cut.png"),
            &full[..full.len() / 2],
        )
        .unwrap();
        std::fs::write(root.path().join("a").join("junk.jpg"), b"not a jpeg").unwrap();
        let data = read_image_data(root.path(), &ImageOptions::default()).unwrap();
        assert_eq!(data.train.len(), 2);
        let note = data.notes.iter().find(|n| n.contains("skipped")).unwrap();
        assert!(
            note.contains("2 unreadable") && note.contains("cut.png") && note.contains("junk.jpg"),
            "{note}"
        );
        std::fs::create_dir_all(root.path().join("c")).unwrap();
        std::fs::write(root.path().join("c").join("readme.txt"), "x").unwrap();
        let err = read_image_data(root.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("class folder 'c' has no images"), "{err}");
        std::fs::remove_dir_all(root.path().join("c")).unwrap();
        std::fs::remove_file(root.path().join("b").join("good.png")).unwrap();
        let err = read_image_data(root.path(), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("class 'b'") && err.contains("cut.png"),
            "{err}"
        );
    }

    #[test]
    fn decode_image_converts_to_the_models_input() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("x.png");
        RgbImage::from_pixel(4, 4, Rgb([0, 0, 255]))
            .save(&path)
            .unwrap();
        let pixels = decode_image(&path, 3, 2, 2).unwrap();
        assert_eq!(pixels, vec![0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
        std::fs::write(&path, b"garbage").unwrap();
        let err = decode_image(&path, 1, 2, 2).unwrap_err().to_string();
        assert!(err.contains("x.png"), "{err}");
    }
}
