//! The coalition game behind the Shapley methods: validating the inputs, finding the varying
//! features, and evaluating `v(S) = Σ_b w_b f(x_S, background_b,¬S)` for many coalitions
//! in large batched predict calls.

use crate::model::{batch_rows, predict_checked};
use crate::{Attribution, Background, ExplainError, Groups, Model};

/// The interventional coalition game of one row.
///
/// Players are the *varying* groups: those whose columns differ from `x`'s in at least one
/// background row. The others can never change a masked row, so their Shapley value is 0.
pub(crate) struct Game<'a> {
    model: &'a dyn Model,
    x: &'a [f32],
    background: &'a Background,
    /// Normalised background weights.
    weights: Vec<f64>,
    outputs: usize,
    groups: usize,
    /// The group of each player.
    players: Vec<usize>,
    /// Each player's columns as runs `(start, len)`.
    runs: Vec<Vec<(usize, usize)>>,
}

/// Checks the model's shape and `x` against it: returns the width.
pub(crate) fn check_model(model: &dyn Model, x: &[f32]) -> Result<usize, ExplainError> {
    let width = model.inputs();
    if x.len() != width {
        return Err(ExplainError::WidthMismatch {
            what: "row to explain",
            expected: width,
            found: x.len(),
        });
    }
    if model.outputs() == 0 {
        return Err(ExplainError::Empty("model outputs"));
    }
    Ok(width)
}

impl<'a> Game<'a> {
    /// Validates the inputs and sets up the game.
    pub(crate) fn new(
        model: &'a dyn Model,
        groups: &Groups,
        background: &'a Background,
        x: &'a [f32],
    ) -> Result<Self, ExplainError> {
        let width = check_model(model, x)?;
        background.check_for(width)?;
        groups.validate(width)?;
        let mut players = Vec::new();
        let mut runs = Vec::new();
        for (group, columns) in groups.columns.iter().enumerate() {
            let varies = (0..background.n).any(|b| {
                let row = background.row(b);
                columns.iter().any(|&c| row[c].to_bits() != x[c].to_bits())
            });
            if varies {
                players.push(group);
                runs.push(groups.runs(group));
            }
        }
        Ok(Self {
            model,
            x,
            background,
            weights: background.normalized_weights(),
            outputs: model.outputs(),
            groups: groups.len(),
            players,
            runs,
        })
    }

    /// Number of players (varying features).
    pub(crate) fn players(&self) -> usize {
        self.players.len()
    }

    /// Number of model outputs.
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    /// `f(x)`.
    pub(crate) fn prediction(&self) -> Result<Vec<f64>, ExplainError> {
        predict_checked(self.model, self.x, 1)
    }

    /// `v(∅)`: the weighted mean output over the background.
    pub(crate) fn base(&self) -> Result<Vec<f64>, ExplainError> {
        self.evaluate(1, |_, mask| mask.fill(false))
    }

    /// `v(S_c)` for `count` coalitions, `count × outputs` values row-major. `fill(c, mask)`
    /// writes coalition `c` into `mask` (one flag per player, all `false` on entry).
    ///
    /// Coalitions are evaluated in order, as many per predict call as fit in a batch.
    pub(crate) fn evaluate(
        &self,
        count: usize,
        mut fill: impl FnMut(usize, &mut [bool]),
    ) -> Result<Vec<f64>, ExplainError> {
        let n = self.background.n;
        let width = self.background.width;
        let per_call = (batch_rows(width) / n).max(1).min(count.max(1));
        let mut buffer = vec![0f32; per_call * n * width];
        let mut mask = vec![false; self.players()];
        // Per column: all ones when the column comes from x (its player is in the
        // coalition), else 0; rows are then blended bitwise, which vectorises.
        let mut from_x = vec![0u32; width];
        let mut out = Vec::with_capacity(count * self.outputs);
        let mut start = 0;
        while start < count {
            let coalitions = per_call.min(count - start);
            for c in 0..coalitions {
                mask.fill(false);
                fill(start + c, &mut mask);
                from_x.fill(0);
                for (p, _) in mask.iter().enumerate().filter(|(_, on)| **on) {
                    for &(at, len) in &self.runs[p] {
                        from_x[at..at + len].fill(u32::MAX);
                    }
                }
                let block = &mut buffer[c * n * width..(c + 1) * n * width];
                for (row, background) in block
                    .chunks_exact_mut(width)
                    .zip(self.background.rows.chunks_exact(width))
                {
                    for (((dst, &b), &x), &take) in
                        row.iter_mut().zip(background).zip(self.x).zip(&from_x)
                    {
                        *dst = f32::from_bits((x.to_bits() & take) | (b.to_bits() & !take));
                    }
                }
            }
            let rows = coalitions * n;
            let predictions = predict_checked(self.model, &buffer[..rows * width], rows)?;
            let o = self.outputs;
            for block in predictions.chunks_exact(n * o) {
                let at = out.len();
                out.resize(at + o, 0.0);
                for (p, w) in block.chunks_exact(o).zip(&self.weights) {
                    for (v, &y) in out[at..].iter_mut().zip(p) {
                        *v += w * y;
                    }
                }
            }
            start += coalitions;
        }
        Ok(out)
    }

    /// An [`Attribution`] from per-player values (`players × outputs`): dummy groups get 0.
    pub(crate) fn attribution(
        &self,
        base: Vec<f64>,
        player_values: &[f64],
        prediction: Vec<f64>,
    ) -> Attribution {
        let o = self.outputs;
        let mut values = vec![0.0; self.groups * o];
        for (p, &group) in self.players.iter().enumerate() {
            values[group * o..(group + 1) * o].copy_from_slice(&player_values[p * o..(p + 1) * o]);
        }
        Attribution {
            base,
            values,
            prediction,
        }
    }
}
