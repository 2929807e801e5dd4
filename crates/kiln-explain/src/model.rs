//! The model interface that every explanation method evaluates, and a closure adaptor.

/// A model as explanations see it: a batch of encoded rows in, outputs out.
///
/// Explanation methods call [`predict`](Model::predict) with large batches (up to 65 536
/// rows) and check that it returns exactly `rows * outputs()` values.
pub trait Model: Sync {
    /// Encoded input columns per row.
    fn inputs(&self) -> usize;
    /// Outputs per row (class probabilities, or 1 value for regression).
    fn outputs(&self) -> usize;
    /// Evaluates `rows` rows given row-major (`rows * inputs()` values); returns
    /// `rows * outputs()` values row-major.
    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64>;
}

/// A [`Model`] made from a closure `f(x, rows) -> outputs` (row-major in and out).
#[derive(Debug, Clone)]
pub struct FnModel<F> {
    /// Encoded input columns per row.
    pub inputs: usize,
    /// Outputs per row.
    pub outputs: usize,
    /// The batch prediction function.
    pub f: F,
}

impl<F> FnModel<F>
where
    F: Fn(&[f32], usize) -> Vec<f64> + Sync,
{
    /// Wraps `f`, which maps `rows × inputs` values to `rows × outputs` values.
    pub fn new(inputs: usize, outputs: usize, f: F) -> Self {
        Self { inputs, outputs, f }
    }
}

impl<F> Model for FnModel<F>
where
    F: Fn(&[f32], usize) -> Vec<f64> + Sync,
{
    fn inputs(&self) -> usize {
        self.inputs
    }

    fn outputs(&self) -> usize {
        self.outputs
    }

    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64> {
        (self.f)(x, rows)
    }
}

/// Most rows passed to one [`Model::predict`] call by the methods.
pub(crate) const MAX_BATCH_ROWS: usize = 65_536;

/// Most `f32` values in one batch buffer (64 MiB), which caps the rows for wide models.
const MAX_BATCH_VALUES: usize = 1 << 24;

/// Rows per predict call for a model with `width` inputs: at most [`MAX_BATCH_ROWS`] and
/// [`MAX_BATCH_VALUES`] values, at least one.
pub(crate) fn batch_rows(width: usize) -> usize {
    (MAX_BATCH_VALUES / width.max(1)).clamp(1, MAX_BATCH_ROWS)
}

/// Calls `model.predict` and checks that it returned `rows × outputs` values.
pub(crate) fn predict_checked(
    model: &dyn Model,
    x: &[f32],
    rows: usize,
) -> Result<Vec<f64>, crate::ExplainError> {
    let out = model.predict(x, rows);
    let expected = rows * model.outputs();
    if out.len() != expected {
        return Err(crate::ExplainError::WidthMismatch {
            what: "model predictions",
            expected,
            found: out.len(),
        });
    }
    Ok(out)
}
