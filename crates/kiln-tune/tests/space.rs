//! The search space: its TOML form, validation errors that name the parameter, and the
//! default space for tabular MLPs.

use kiln_tune::{Distribution, Param, Space, SpaceError};
use serde::Deserialize;
use serde_json::json;

/// A `[tune]` table as a Kiln config would hold it.
#[derive(Deserialize)]
struct Config {
    tune: Tune,
}

#[derive(Deserialize)]
struct Tune {
    space: Space,
}

fn parse(toml_text: &str) -> Result<Space, String> {
    toml::from_str::<Config>(toml_text)
        .map(|c| c.tune.space)
        .map_err(|e| e.to_string())
}

const EXAMPLE: &str = r#"
[tune.space.learning_rate]
type = "float"
low = 1e-4
high = 1e-1
log = true

[tune.space.width]
type = "int"
low = 32
high = 512
log = true

[tune.space.activation]
type = "categorical"
choices = ["relu", "gelu"]

[tune.space.dropout]
type = "float"
low = 0
high = 0.5
step = 0.05
condition = { parent = "activation", values = ["gelu"] }

[tune.space.depth]
type = "int"
low = 1
high = 8
step = 1
"#;

#[test]
fn toml_space_parses_into_distributions_and_conditions() {
    let space = parse(EXAMPLE).unwrap();
    assert_eq!(space.params.len(), 5);
    let get = |name: &str| space.get(name).unwrap();
    assert_eq!(
        get("learning_rate").distribution,
        Distribution::Float {
            low: 1e-4,
            high: 1e-1,
            log: true,
            step: None
        }
    );
    assert_eq!(get("width").distribution, Distribution::int(32, 512, true));
    assert_eq!(
        get("activation").distribution,
        Distribution::categorical(["relu", "gelu"])
    );
    assert_eq!(
        get("dropout").distribution,
        Distribution::Float {
            low: 0.0,
            high: 0.5,
            log: false,
            step: Some(0.05)
        }
    );
    let condition = get("dropout").condition.as_ref().unwrap();
    assert_eq!(condition.parent, "activation");
    assert_eq!(condition.values, [json!("gelu")]);
    assert!(get("width").condition.is_none());
}

#[test]
fn space_round_trips_through_json_and_toml() {
    let space = parse(EXAMPLE).unwrap();
    let text = serde_json::to_string(&space).unwrap();
    let back: Space = serde_json::from_str(&text).unwrap();
    assert_eq!(back.params.len(), space.params.len());
    for p in &space.params {
        assert_eq!(back.get(&p.name), Some(p), "{text}");
    }
    let toml_text = toml::to_string(&space).unwrap();
    let back: Space = toml::from_str(&toml_text).unwrap();
    for p in &space.params {
        assert_eq!(back.get(&p.name), Some(p), "{toml_text}");
    }
    let default = Space::default_for_tabular();
    let back: Space = serde_json::from_value(serde_json::to_value(&default).unwrap()).unwrap();
    assert_eq!(back.params.len(), default.params.len());
}

#[test]
fn bad_spaces_are_refused_naming_the_parameter() {
    let cases = [
        // (TOML of one parameter `p` (and a parent `a`), words the error must contain)
        ("type = \"float\"\nlow = 1.0\nhigh = 0.5", "above high"),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\nlog = true",
            "log scale needs low > 0",
        ),
        (
            "type = \"float\"\nlow = 0.1\nhigh = 1.0\nlog = true\nstep = 0.1",
            "cannot be combined",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\nstep = -0.1",
            "positive",
        ),
        ("type = \"float\"\nhigh = 1.0", "needs `low`"),
        ("type = \"int\"\nlow = 1.5\nhigh = 4", "must be an integer"),
        (
            "type = \"int\"\nlow = 0\nhigh = 4\nlog = true",
            "log scale needs low >= 1",
        ),
        ("type = \"int\"\nlow = 1\nhigh = 64\nstep = 0", "at least 1"),
        (
            "type = \"int\"\nlow = 1\nhigh = 64\nlog = true\nstep = 2",
            "step = 1",
        ),
        (
            "type = \"categorical\"\nchoices = []",
            "at least one choice",
        ),
        (
            "type = \"categorical\"\nchoices = [\"a\", \"a\"]",
            "more than once",
        ),
        (
            "type = \"categorical\"\nchoices = [1, 2]\nlow = 0",
            "takes `choices`",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\nchoices = [1]",
            "belongs to categorical",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\nlgo = true",
            "unknown field `lgo`",
        ),
        (
            "type = \"number\"\nlow = 0.0\nhigh = 1.0",
            "unknown variant `number`",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\ncondition = { parent = \"b\", values = [1] }",
            "parent `b` is not a parameter",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\ncondition = { parent = \"a\", values = [\"z\"] }",
            "not a value that `a` can take",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\ncondition = { parent = \"a\", values = [] }",
            "lists no value",
        ),
        (
            "type = \"float\"\nlow = 0.0\nhigh = 1.0\ncondition = { parent = \"p\", values = [1] }",
            "names itself",
        ),
    ];
    for (body, words) in cases {
        let text = format!(
            "[tune.space.a]\ntype = \"categorical\"\nchoices = [\"x\", \"y\"]\n\n[tune.space.p]\n{body}\n"
        );
        let err = parse(&text).expect_err(body);
        assert!(
            err.contains("`p`"),
            "error does not name the parameter: {err}"
        );
        assert!(err.contains(words), "expected '{words}' in: {err}");
    }
}

#[test]
fn validate_catches_what_code_can_build() {
    let cyclic = Space {
        params: vec![
            Param::new("a", Distribution::categorical(["x", "y"])).when("b", ["x"]),
            Param::new("b", Distribution::categorical(["x", "y"])).when("a", ["y"]),
        ],
    };
    let err = cyclic.validate().unwrap_err().to_string();
    assert!(err.contains("circular") && err.contains("`a`"), "{err}");

    let float_parent = Space::new(vec![
        Param::new("lr", Distribution::float(0.1, 1.0, false)),
        Param::new("x", Distribution::int(1, 3, false)).when("lr", [0.5]),
    ]);
    assert!(matches!(float_parent, Err(SpaceError::Invalid { ref param, .. }) if param == "x"));

    let twice = Space::new(vec![
        Param::new("x", Distribution::int(1, 3, false)),
        Param::new("x", Distribution::int(1, 5, false)),
    ]);
    assert!(twice.unwrap_err().to_string().contains("more than once"));
    assert_eq!(Space::new(Vec::new()).unwrap_err(), SpaceError::Empty);
    let nan = Space::new(vec![Param::new(
        "x",
        Distribution::float(f64::NAN, 1.0, false),
    )]);
    assert!(nan.unwrap_err().to_string().contains("finite"));

    // An int parent: the condition's values must be integers in its range.
    let int_parent = Space::new(vec![
        Param::new("depth", Distribution::int(1, 4, false)),
        Param::new("last_width", Distribution::int(8, 64, true)).when("depth", [3, 4]),
    ]);
    assert!(int_parent.is_ok());
    let off_range = Space::new(vec![
        Param::new("depth", Distribution::int(1, 4, false)),
        Param::new("last_width", Distribution::int(8, 64, true)).when("depth", [9]),
    ]);
    assert!(
        off_range
            .unwrap_err()
            .to_string()
            .contains("`depth` can take")
    );
}

#[test]
fn the_tabular_default_is_valid_and_covers_an_mlp() {
    let space = Space::default_for_tabular();
    space.validate().unwrap();
    for name in [
        "learning_rate",
        "weight_decay",
        "model.dropout",
        "width",
        "depth",
        "batch_size",
        "epochs",
    ] {
        assert!(space.get(name).is_some(), "missing {name}");
    }
    match space.get("learning_rate").unwrap().distribution {
        Distribution::Float { low, high, log, .. } => {
            assert!(log && low >= 1e-5 && high <= 1e-1 && low < high)
        }
        ref d => panic!("learning rate is {d:?}"),
    }
}

#[test]
fn enqueued_values_are_parsed_checked_and_completed() {
    let space = parse(EXAMPLE).unwrap();
    let fixed = space
        .parse_params("learning_rate=0.01, activation=gelu,width=64")
        .unwrap();
    assert_eq!(fixed["learning_rate"], json!(0.01));
    assert_eq!(fixed["activation"], json!("gelu"));
    assert_eq!(fixed["width"], json!(64));
    // gelu activates dropout, which was not given: the trial is not complete yet.
    assert!(!space.covers(&fixed));
    let sampled = serde_json::from_value(json!({
        "learning_rate": 0.002, "width": 100, "activation": "relu", "depth": 3
    }))
    .unwrap();
    let done = space.complete(&fixed, &sampled);
    assert_eq!(done["learning_rate"], json!(0.01), "given values win");
    assert_eq!(done["depth"], json!(3), "missing ones are sampled");
    assert!(!done.contains_key("dropout"), "no value was sampled for it");
    // With relu, dropout is inactive and the values given cover the trial.
    let relu = space
        .parse_params("learning_rate=0.01,activation=relu,width=64,depth=2")
        .unwrap();
    assert!(space.covers(&relu));
    // Numeric choices are matched by value.
    let tabular = Space::default_for_tabular();
    assert_eq!(
        tabular.parse_params("batch_size=128.0").unwrap()["batch_size"],
        json!(128)
    );
    assert!(tabular.parse_params("batch_size=100").is_err());

    for (text, needle) in [
        ("learning_rate=1", "'1' is not a number from 0.0001 to 0.1"),
        ("width=64.5", "'64.5' is not an integer from 32 to 512"),
        ("activation=tanh", "one of \"relu\", \"gelu\""),
        (
            "momentum=0.9",
            "no such parameter; it has activation, depth",
        ),
        ("width", "write it as name=value"),
        ("width=64,width=65", "given twice"),
        ("", "no parameter given"),
    ] {
        let err = space.parse_params(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}
