//! Feature groups: which encoded input columns make up each of the user's features.

use serde::{Deserialize, Serialize};

use crate::ExplainError;

/// Which encoded input columns make up each of the user's original features (a one-hot
/// categorical spans several columns and gets ONE attribution).
///
/// The explanation methods require the groups to partition the model's input columns: every
/// column belongs to exactly one group. A group may be empty (its attribution is then 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Groups {
    /// The feature names, one per group.
    pub names: Vec<String>,
    /// The encoded columns of each group.
    pub columns: Vec<Vec<usize>>,
}

impl Groups {
    /// Builds groups from `sources[i]`, the feature (index into `names`) that encoded input
    /// `i` comes from. A feature that no input maps to gets an empty group; an input whose
    /// source is not a valid index lands in no group, which [`validate`](Self::validate)
    /// (and so every method) reports.
    pub fn from_sources(names: Vec<String>, sources: &[usize]) -> Self {
        let mut columns = vec![Vec::new(); names.len()];
        for (input, &source) in sources.iter().enumerate() {
            if let Some(group) = columns.get_mut(source) {
                group.push(input);
            }
        }
        Self { names, columns }
    }

    /// One group per encoded column, named `names[i]` (or `x<i>` beyond `names`).
    pub fn singletons(width: usize, names: &[String]) -> Self {
        let names = (0..width)
            .map(|i| names.get(i).cloned().unwrap_or_else(|| format!("x{i}")))
            .collect();
        Self {
            names,
            columns: (0..width).map(|i| vec![i]).collect(),
        }
    }

    /// Number of features (groups).
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are no features.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Checks that there is one name per group and that the groups partition the columns
    /// `0..width` (every column in exactly one group).
    pub fn validate(&self, width: usize) -> Result<(), ExplainError> {
        if self.names.len() != self.columns.len() {
            return Err(ExplainError::InvalidGroups(format!(
                "{} names for {} groups",
                self.names.len(),
                self.columns.len()
            )));
        }
        let mut owner = vec![usize::MAX; width];
        for (group, columns) in self.columns.iter().enumerate() {
            for &column in columns {
                if column >= width {
                    return Err(ExplainError::InvalidGroups(format!(
                        "group {group} names column {column}, but the model has {width} inputs"
                    )));
                }
                if owner[column] != usize::MAX {
                    return Err(ExplainError::InvalidGroups(format!(
                        "column {column} is in groups {} and {group}",
                        owner[column]
                    )));
                }
                owner[column] = group;
            }
        }
        if let Some(column) = owner.iter().position(|&o| o == usize::MAX) {
            return Err(ExplainError::InvalidGroups(format!(
                "column {column} belongs to no group"
            )));
        }
        Ok(())
    }

    /// The columns of `group` as sorted runs `(start, len)` of consecutive columns, so that
    /// copying a group is one `copy_from_slice` per run.
    pub(crate) fn runs(&self, group: usize) -> Vec<(usize, usize)> {
        let mut columns = self.columns[group].clone();
        columns.sort_unstable();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for column in columns {
            match runs.last_mut() {
                Some((start, len)) if *start + *len == column => *len += 1,
                _ => runs.push((column, 1)),
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sources_groups_columns() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let g = Groups::from_sources(names.clone(), &[0, 1, 1, 0, 2]);
        assert_eq!(g.columns, vec![vec![0, 3], vec![1, 2], vec![4]]);
        assert_eq!(g.len(), 3);
        assert!(g.validate(5).is_ok());
        assert!(g.validate(6).is_err());
        assert!(g.validate(4).is_err());
        assert_eq!(g.runs(0), vec![(0, 1), (3, 1)]);
        assert_eq!(g.runs(1), vec![(1, 2)]);
        // An out-of-range source leaves its input in no group.
        let g = Groups::from_sources(names, &[0, 1, usize::MAX, 2]);
        assert!(matches!(g.validate(4), Err(ExplainError::InvalidGroups(_))));
    }

    #[test]
    fn validate_rejects_overlap_and_name_mismatch() {
        let g = Groups {
            names: vec!["a".into(), "b".into()],
            columns: vec![vec![0, 1], vec![1]],
        };
        assert!(matches!(g.validate(2), Err(ExplainError::InvalidGroups(_))));
        let g = Groups {
            names: vec!["a".into()],
            columns: vec![vec![0], vec![1]],
        };
        assert!(matches!(g.validate(2), Err(ExplainError::InvalidGroups(_))));
        assert!(Groups::singletons(3, &[]).validate(3).is_ok());
    }
}
