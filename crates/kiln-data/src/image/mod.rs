//! Image data sets: IDX files (MNIST, Fashion-MNIST), folders of PNG/JPEG images (one
//! sub-folder per class) and tables of pixel columns, read into dense pixel arrays of one size
//! and channel count.

mod backbone;
mod folder;
mod idx;
mod table;

pub use backbone::ImageBackbone;
pub use folder::{IMAGE_EXTENSIONS, decode_image, is_image_file};
pub use idx::read_idx_pair;
pub use table::{images_from_table, pixel_columns_of};

use crate::DataError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Labelled images of one size, pixels as bytes, image after image, channel-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Where the images came from, for messages.
    pub source: String,
    /// Colour channels.
    pub channels: usize,
    /// Rows of pixels.
    pub height: usize,
    /// Columns of pixels.
    pub width: usize,
    /// `len() × channels × height × width` pixel values, 0 (black) to 255.
    pub pixels: Vec<u8>,
    /// Each image's class index into the data set's class names.
    pub labels: Vec<usize>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// An image data set as found on disk: training images, optional test images, class names.
#[derive(Debug, Clone)]
pub struct ImageData {
    /// Images to train (and validate) on.
    pub train: ImageSet,
    /// Images kept for the final test, when the data set has its own test files.
    pub test: Option<ImageSet>,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// What reading did that the user should know: skipped files, resized images.
    pub notes: Vec<String>,
}

/// How image files become pixel arrays: the `[data.images]` section of a Kiln config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageOptions {
    /// Resize every image to `[height, width]`; without it, the most common size is used
    /// (scaled down to `max_side`), and images of other sizes are resized to it.
    pub size: Option<[usize; 2]>,
    /// The longest side an image keeps when no `size` is given: larger images are scaled
    /// down, keeping their aspect ratio, since a CPU trains on small images far faster.
    pub max_side: usize,
    /// Colour channels: 1 (grey) or 3 (RGB); without it, 3 if any training image has colour.
    pub channels: Option<usize>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            size: None,
            max_side: 64,
            channels: None,
        }
    }
}

impl ImageOptions {
    /// Checks the settings, naming the config key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.size.is_some_and(|[h, w]| h == 0 || w == 0) {
            return Err("data.images.size must be [height, width] with both above 0".into());
        }
        if self.max_side < 4 {
            return Err(format!(
                "data.images.max_side must be at least 4 pixels, not {}",
                self.max_side
            ));
        }
        if self.channels.is_some_and(|c| c != 1 && c != 3) {
            return Err("data.images.channels must be 1 (grey) or 3 (RGB)".into());
        }
        Ok(())
    }
}

/// Whether `path` is a folder holding image data, which Kiln trains on with a convolutional
/// network: IDX files, or sub-folders of image files (one per class, optionally under
/// `train/` and `test/`). [`read_image_data`] says what is wrong with it, if anything.
pub fn is_image_data(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries
        .iter()
        .any(|e| idx::is_idx_name(&e.file_name().to_string_lossy()))
        || folder::has_class_folders(&entries)
}

/// Reads the image data set in the folder `dir`: IDX files if it has them (see
/// [`read_idx_pair`]), otherwise an image folder tree (one sub-folder of PNG/JPEG files per
/// class, optionally under `train/` and `test/`), resized and converted as `options` say.
pub fn read_image_data(dir: &Path, options: &ImageOptions) -> Result<ImageData, DataError> {
    if let Some(data) = idx::read_idx_data(dir)? {
        return Ok(data);
    }
    folder::read_image_folder(dir, options)
}
