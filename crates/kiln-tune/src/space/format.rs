//! The TOML (and JSON) form of a [`Space`]: a table of parameters by name, each with its
//! `type` (`float`, `int`, `categorical`), bounds and `log`/`step` or `choices`, and an optional
//! `condition = { parent = "...", values = [...] }`. Reading checks the space and names the
//! parameter at fault.

use super::{Condition, Distribution, Param, Space};
use crate::error::SpaceError;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// The kind of a parameter, its `type` key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Float,
    Int,
    Categorical,
}

/// One parameter's table as written; [`to_param`] checks which keys its kind allows.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    low: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    high: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    log: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
}

/// The table of `param`.
fn to_spec(param: &Param) -> Spec {
    let mut spec = Spec {
        kind: Kind::Categorical,
        low: None,
        high: None,
        log: false,
        step: None,
        choices: None,
        condition: param.condition.clone(),
    };
    match &param.distribution {
        Distribution::Float {
            low,
            high,
            log,
            step,
        } => {
            spec.kind = Kind::Float;
            spec.low = Some(Value::from(*low));
            spec.high = Some(Value::from(*high));
            spec.log = *log;
            spec.step = step.map(Value::from);
        }
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => {
            spec.kind = Kind::Int;
            spec.low = Some(Value::from(*low));
            spec.high = Some(Value::from(*high));
            spec.log = *log;
            spec.step = (*step != 1).then(|| Value::from(*step));
        }
        Distribution::Categorical { choices } => spec.choices = Some(choices.clone()),
    }
    spec
}

/// The number under `key` of a parameter's table.
fn number(value: Option<Value>, key: &str) -> Result<Option<f64>, String> {
    value
        .map(|v| {
            v.as_f64()
                .ok_or(format!("`{key}` must be a number, not {v}"))
        })
        .transpose()
}

/// The integer under `key` of a parameter's table (`32` or `32.0`).
fn integer(value: Option<Value>, key: &str) -> Result<Option<i64>, String> {
    value
        .map(|v| {
            v.as_i64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                        .map(|x| x as i64)
                })
                .ok_or(format!("`{key}` must be an integer, not {v}"))
        })
        .transpose()
}

/// The parameter described by `spec`, or why it is not one.
fn to_param(name: String, spec: Spec) -> Result<Param, SpaceError> {
    let fail = |reason: String| SpaceError::invalid(&name, reason);
    let kind = match spec.kind {
        Kind::Float => "float",
        Kind::Int => "int",
        Kind::Categorical => "categorical",
    };
    let needs = |key: &str| format!("a {kind} parameter needs `{key}`");
    let distribution = match spec.kind {
        Kind::Float | Kind::Int if spec.choices.is_some() => {
            return Err(fail(format!(
                "`choices` belongs to categorical parameters, not {kind}"
            )));
        }
        Kind::Float => Distribution::Float {
            low: number(spec.low, "low")
                .map_err(&fail)?
                .ok_or_else(|| fail(needs("low")))?,
            high: number(spec.high, "high")
                .map_err(&fail)?
                .ok_or_else(|| fail(needs("high")))?,
            log: spec.log,
            step: number(spec.step, "step").map_err(&fail)?,
        },
        Kind::Int => Distribution::Int {
            low: integer(spec.low, "low")
                .map_err(&fail)?
                .ok_or_else(|| fail(needs("low")))?,
            high: integer(spec.high, "high")
                .map_err(&fail)?
                .ok_or_else(|| fail(needs("high")))?,
            log: spec.log,
            step: integer(spec.step, "step").map_err(&fail)?.unwrap_or(1),
        },
        Kind::Categorical => {
            if spec.low.is_some() || spec.high.is_some() || spec.step.is_some() || spec.log {
                return Err(fail(
                    "a categorical parameter takes `choices`, not `low`/`high`/`step`/`log`".into(),
                ));
            }
            Distribution::Categorical {
                choices: spec.choices.ok_or_else(|| fail(needs("choices")))?,
            }
        }
    };
    Ok(Param {
        name,
        distribution,
        condition: spec.condition,
    })
}

impl Serialize for Space {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.params.len()))?;
        for p in &self.params {
            map.serialize_entry(&p.name, &to_spec(p))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Space {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SpaceVisitor)
    }
}

/// Reads the table of parameters in document order, then validates the space.
struct SpaceVisitor;

impl<'de> Visitor<'de> for SpaceVisitor {
    type Value = Space;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of hyperparameters by name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Space, A::Error> {
        let mut params = Vec::new();
        while let Some((name, table)) = map.next_entry::<String, Value>()? {
            let spec = Spec::deserialize(table)
                .map_err(|e| de::Error::custom(SpaceError::invalid(&name, e.to_string())))?;
            params.push(to_param(name, spec).map_err(de::Error::custom)?);
        }
        Space::new(params).map_err(de::Error::custom)
    }
}
