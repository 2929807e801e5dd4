//! The search space: each hyperparameter's distribution, and which parameters are active given
//! the values of the others (conditional parameters).

mod format;

use crate::error::SpaceError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// A trial's hyperparameter values by name; an inactive conditional parameter is absent.
pub type Params = BTreeMap<String, Value>;

/// Tolerance, relative to one step, for "the range is a whole number of steps".
const STEP_SLACK: f64 = 1e-9;

/// The values one hyperparameter can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// A real number in `[low, high]`.
    Float {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Log-uniform (sampled and modelled on `ln x`); needs `low > 0` and no step.
        log: bool,
        /// Only `low + k·step` (k = 0, 1, …) up to `high`.
        step: Option<f64>,
    },
    /// An integer `low + k·step` in `[low, high]`.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
        /// Log-uniform (modelled on `ln x`); needs `low >= 1` and `step = 1`.
        log: bool,
        /// Distance between neighbouring values (1 for every integer).
        step: i64,
    },
    /// One of a list of JSON values (strings, numbers, booleans).
    Categorical {
        /// The values, each listed once.
        choices: Vec<Value>,
    },
}

impl Distribution {
    /// A float in `[low, high]`, log-uniform when `log`, with no step.
    pub fn float(low: f64, high: f64, log: bool) -> Self {
        Self::Float {
            low,
            high,
            log,
            step: None,
        }
    }

    /// Every integer in `[low, high]`, log-uniform when `log`.
    pub fn int(low: i64, high: i64, log: bool) -> Self {
        Self::Int {
            low,
            high,
            log,
            step: 1,
        }
    }

    /// One of `choices`.
    pub fn categorical<V: Into<Value>>(choices: impl IntoIterator<Item = V>) -> Self {
        Self::Categorical {
            choices: choices.into_iter().map(Into::into).collect(),
        }
    }

    /// Why the distribution cannot be sampled, if it cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        match *self {
            Self::Float {
                low,
                high,
                log,
                step,
            } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(format!(
                        "low ({low}) and high ({high}) must be finite numbers"
                    ));
                }
                if low > high {
                    return Err(format!("low ({low}) is above high ({high})"));
                }
                if log && low <= 0.0 {
                    return Err(format!("a log scale needs low > 0, not {low}"));
                }
                match step {
                    Some(_) if log => Err("a log scale and a step cannot be combined".into()),
                    Some(s) if !(s > 0.0 && s.is_finite()) => {
                        Err(format!("step must be a positive number, not {s}"))
                    }
                    _ => Ok(()),
                }
            }
            Self::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return Err(format!("low ({low}) is above high ({high})"));
                }
                if step < 1 {
                    return Err(format!("step must be at least 1, not {step}"));
                }
                if log && low < 1 {
                    return Err(format!("a log scale needs low >= 1, not {low}"));
                }
                if log && step != 1 {
                    return Err(format!("a log scale needs step = 1, not {step}"));
                }
                Ok(())
            }
            Self::Categorical { ref choices } => {
                if choices.is_empty() {
                    return Err("a categorical parameter needs at least one choice".into());
                }
                for (i, c) in choices.iter().enumerate() {
                    if choices[..i].iter().any(|d| same_value(c, d)) {
                        return Err(format!("the choice {c} is listed more than once"));
                    }
                }
                Ok(())
            }
        }
    }

    /// The largest `k` such that `low + k·step <= high`, for stepped floats and ints; `None`
    /// for continuous floats and categoricals (and for an empty or invalid range).
    pub(crate) fn last_step(&self) -> Option<u64> {
        match *self {
            Self::Float {
                low,
                high,
                step: Some(step),
                ..
            } => {
                let k = ((high - low) / step + STEP_SLACK).floor();
                (k >= 0.0 && k.is_finite()).then_some(k.min(u64::MAX as f64) as u64)
            }
            Self::Int {
                low, high, step, ..
            } if step >= 1 && low <= high => {
                Some(((i128::from(high) - i128::from(low)) / i128::from(step)) as u64)
            }
            _ => None,
        }
    }

    /// The value as a number that the samplers model: floats and ints as themselves,
    /// categoricals as the index of their choice; `None` if the distribution cannot take it.
    #[inline]
    pub(crate) fn index_of(&self, value: &Value) -> Option<f64> {
        match self {
            Self::Float { low, high, .. } => value.as_f64().filter(|x| (*low..=*high).contains(x)),
            Self::Int { low, high, .. } => value
                .as_f64()
                .filter(|x| x.fract() == 0.0 && (*low as f64..=*high as f64).contains(x)),
            Self::Categorical { choices } => choices
                .iter()
                .position(|c| same_value(c, value))
                .map(|i| i as f64),
        }
    }

    /// The inverse of [`Self::index_of`]: the JSON value of a modelled number.
    pub(crate) fn value_at(&self, x: f64) -> Value {
        match self {
            Self::Float { .. } => Value::from(x),
            Self::Int { .. } => Value::from(x.round() as i64),
            Self::Categorical { choices } => {
                choices.get(x as usize).cloned().unwrap_or(Value::Null)
            }
        }
    }

    /// The value written `raw` (a number, or a categorical choice as written), if the
    /// distribution can take it.
    fn parse_value(&self, raw: &str) -> Option<Value> {
        let value = match self {
            Self::Float { .. } => Value::from(raw.parse::<f64>().ok()?),
            Self::Int { .. } => Value::from(raw.parse::<i64>().ok()?),
            Self::Categorical { choices } => choices
                .iter()
                .find(|c| match c {
                    Value::String(s) => s == raw,
                    other => {
                        serde_json::from_str::<Value>(raw).is_ok_and(|v| same_value(&v, other))
                    }
                })?
                .clone(),
        };
        self.index_of(&value).map(|_| value)
    }

    /// What values the distribution takes, for messages.
    fn describe(&self) -> String {
        match self {
            Self::Float { low, high, .. } => format!("a number from {low} to {high}"),
            Self::Int {
                low, high, step, ..
            } => format!("an integer from {low} to {high} in steps of {step}"),
            Self::Categorical { choices } => {
                let listed: Vec<String> = choices.iter().map(Value::to_string).collect();
                format!("one of {}", listed.join(", "))
            }
        }
    }

    /// The only value, when the distribution has exactly one (nothing to search).
    pub(crate) fn single(&self) -> Option<Value> {
        match self {
            Self::Float { low, high, .. } if low == high => Some(Value::from(*low)),
            Self::Float { .. } => None,
            Self::Int { low, .. } => (self.last_step() == Some(0)).then(|| Value::from(*low)),
            Self::Categorical { choices } => match choices.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            },
        }
    }
}

/// The `i`-th value `low + i·step` of a stepped range, never above `high` (rounding). Every
/// sampler computes stepped values this way, so equal steps give bit-equal values.
pub(crate) fn on_grid(low: f64, high: f64, step: f64, i: f64) -> f64 {
    (low + i * step).min(high)
}

/// Whether two parameter values are the same: numbers by value (`1` equals `1.0`), everything
/// else exactly.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

/// When a conditional parameter is active: its parent took one of `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The parameter it depends on (categorical or int).
    pub parent: String,
    /// The parent's values for which this parameter is active.
    pub values: Vec<Value>,
}

impl Condition {
    /// Whether the parent's `value` activates the parameter.
    pub(crate) fn holds(&self, value: &Value) -> bool {
        self.values.iter().any(|v| same_value(v, value))
    }
}

/// One hyperparameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name, unique in the space (the key of [`Params`]).
    pub name: String,
    /// Its values.
    pub distribution: Distribution,
    /// When it is active; always when `None`.
    pub condition: Option<Condition>,
}

impl Param {
    /// An always-active parameter.
    pub fn new(name: impl Into<String>, distribution: Distribution) -> Self {
        Self {
            name: name.into(),
            distribution,
            condition: None,
        }
    }

    /// The same parameter, active only when `parent` took one of `values`.
    pub fn when<V: Into<Value>>(
        mut self,
        parent: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.condition = Some(Condition {
            parent: parent.into(),
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether the parameter is active given the values chosen so far.
    fn is_active(&self, params: &Params) -> bool {
        match &self.condition {
            None => true,
            Some(c) => params.get(&c.parent).is_some_and(|v| c.holds(v)),
        }
    }
}

/// The hyperparameters searched, in declaration order. In TOML, a table of parameters by name:
///
/// ```toml
/// [tune.space.learning_rate]
/// type = "float"
/// low = 1e-4
/// high = 1e-1
/// log = true
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Space {
    /// The parameters.
    pub params: Vec<Param>,
}

impl Space {
    /// A validated space.
    pub fn new(params: Vec<Param>) -> Result<Self, SpaceError> {
        let space = Self { params };
        space.validate()?;
        Ok(space)
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks every parameter and condition; the first problem, naming its parameter.
    pub fn validate(&self) -> Result<(), SpaceError> {
        if self.params.is_empty() {
            return Err(SpaceError::Empty);
        }
        let mut seen = HashSet::new();
        for p in &self.params {
            if p.name.trim().is_empty() {
                return Err(SpaceError::invalid(&p.name, "the name is empty"));
            }
            if !seen.insert(p.name.as_str()) {
                return Err(SpaceError::invalid(&p.name, "it is defined more than once"));
            }
            p.distribution
                .check()
                .map_err(|reason| SpaceError::invalid(&p.name, reason))?;
        }
        for p in &self.params {
            if let Some(c) = &p.condition {
                self.check_condition(p, c)
                    .map_err(|reason| SpaceError::invalid(&p.name, reason))?;
            }
        }
        Ok(())
    }

    /// Why `p`'s condition `c` cannot hold, if it cannot.
    fn check_condition(&self, p: &Param, c: &Condition) -> Result<(), String> {
        let parent = match self.get(&c.parent) {
            _ if c.parent == p.name => return Err("its condition names itself as parent".into()),
            None => {
                return Err(format!(
                    "its condition's parent `{}` is not a parameter of the space",
                    c.parent
                ));
            }
            Some(parent) => parent,
        };
        if matches!(parent.distribution, Distribution::Float { .. }) {
            return Err(format!(
                "its condition's parent `{}` is a float; conditions need a categorical or int parent",
                c.parent
            ));
        }
        if c.values.is_empty() {
            return Err(format!("its condition lists no value of `{}`", c.parent));
        }
        if let Some(v) = c
            .values
            .iter()
            .find(|v| parent.distribution.index_of(v).is_none())
        {
            return Err(format!(
                "its condition's value {v} is not a value that `{}` can take",
                c.parent
            ));
        }
        let mut chain = vec![p.name.as_str()];
        let mut at = parent;
        for _ in 0..self.params.len() {
            chain.push(at.name.as_str());
            if at.name == p.name {
                return Err(format!("its condition is circular: {}", chain.join(" → ")));
            }
            match at.condition.as_ref().and_then(|c| self.get(&c.parent)) {
                Some(up) => at = up,
                None => break,
            }
        }
        Ok(())
    }

    /// A space for Kiln's tabular MLP: AdamW's learning rate and weight decay, dropout, width,
    /// depth, batch size and the epochs budget, over ranges that suit tables of a few hundred
    /// to a few million rows.
    pub fn default_for_tabular() -> Self {
        Self {
            params: vec![
                Param::new("learning_rate", Distribution::float(1e-4, 1e-2, true)),
                Param::new("weight_decay", Distribution::float(1e-6, 1e-3, true)),
                // `dropout` alone would also name the image network's.
                Param::new("model.dropout", Distribution::float(0.0, 0.5, false)),
                Param::new("width", Distribution::int(64, 1024, true)),
                Param::new("depth", Distribution::int(1, 6, false)),
                Param::new("batch_size", Distribution::categorical([64, 128, 256, 512])),
                Param::new("epochs", Distribution::int(10, 200, true)),
            ],
        }
    }

    /// Parameters written `name=value,name=value` (a trial enqueued by hand), each checked
    /// against its distribution.
    pub fn parse_params(&self, text: &str) -> Result<Params, SpaceError> {
        let mut params = Params::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, raw)) = item.split_once('=') else {
                return Err(SpaceError::invalid(item, "write it as name=value"));
            };
            let (name, raw) = (name.trim(), raw.trim());
            let Some(param) = self.get(name) else {
                let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(SpaceError::invalid(
                    name,
                    format!(
                        "the search space has no such parameter; it has {}",
                        names.join(", ")
                    ),
                ));
            };
            let value = param.distribution.parse_value(raw).ok_or_else(|| {
                SpaceError::invalid(
                    name,
                    format!("'{raw}' is not {}", param.distribution.describe()),
                )
            })?;
            if params.insert(name.to_string(), value).is_some() {
                return Err(SpaceError::invalid(name, "it is given twice"));
            }
        }
        if params.is_empty() {
            return Err(SpaceError::invalid(
                text,
                "no parameter given; write name=value,...",
            ));
        }
        Ok(params)
    }

    /// Whether `params` holds a value for every parameter that is active under them.
    pub fn covers(&self, params: &Params) -> bool {
        self.params
            .iter()
            .all(|p| !p.is_active(params) || params.contains_key(&p.name))
    }

    /// The `fixed` values, completed by `sampled` ones for the active parameters that `fixed`
    /// lacks (a trial enqueued with some of its parameters); inactive parameters are dropped.
    pub fn complete(&self, fixed: &Params, sampled: &Params) -> Params {
        self.fill(|group, params| {
            for p in group {
                if let Some(v) = fixed.get(&p.name).or_else(|| sampled.get(&p.name)) {
                    params.insert(p.name.clone(), v.clone());
                }
            }
        })
    }

    /// Builds a trial's values group by group: first the unconditional parameters, then those
    /// that the values drawn so far activate, and so on. `draw` gets each group and inserts
    /// its values; parameters that no group reaches stay inactive (absent).
    pub(crate) fn fill(&self, mut draw: impl FnMut(&[&Param], &mut Params)) -> Params {
        let mut params = Params::new();
        let mut pending: Vec<&Param> = self.params.iter().collect();
        loop {
            let (ready, rest): (Vec<&Param>, Vec<&Param>) =
                pending.into_iter().partition(|p| p.is_active(&params));
            if ready.is_empty() {
                return params;
            }
            draw(&ready, &mut params);
            pending = rest;
        }
    }
}
