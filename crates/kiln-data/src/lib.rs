//! Tables for Kiln: reading CSV and Parquet, inferring column types and the task, seeded
//! splits, and the preprocessing that is fitted on training data and stored with a model.

pub mod date;
pub mod encoding;
pub mod error;
pub mod format;
pub mod image;
pub mod infer;
pub mod preprocess;
pub mod read;
pub mod reading;
pub mod split;
pub mod stream;
pub mod table;
pub mod task;
pub mod text;
pub mod tokens;

pub use error::DataError;
pub use format::NumberFormat;
pub use image::{ImageData, ImageOptions, ImageSet, decode_image, is_image_data, read_image_data};
pub use infer::{ColumnKind, ColumnPlan, infer_columns};
pub use preprocess::{Encoded, PreprocessOptions, Preprocessor};
pub use read::{RawValue, classify, read_table};
pub use reading::Reading;
pub use split::{Split, split_indices};
pub use stream::{Chunk, RecordStream};
pub use table::{Cell, Column, Table};
pub use task::{Target, Task, TaskChoice, infer_task};
pub use text::TextEncoder;
pub use tokens::{TextModel, TokenSlots, Vocabulary};
