//! `kiln train --pretrained` on a table with a free-text column: the all-MiniLM-L6-v2 encoder
//! (frozen) turns each text into a sentence vector, an MLP head learns from it and the other
//! columns, and the model predicts new texts by what they mean, not by shared words. Needs
//! the checkpoint: `tests/text/run.sh` fetches it and sets `KILN_MINILM`.

mod common;
use common::kiln;

/// Short texts about two topics, written without the words that name the topic, so that only
/// their meaning tells them apart.
const SPORT: &[&str] = &[
    "the striker scored twice in the second half",
    "she ran the marathon in under three hours",
    "our goalkeeper saved a penalty in the final minute",
    "the tennis match went to a fifth set",
    "he swam four lengths of the pool before breakfast",
    "the team lost the championship on penalties",
    "the cyclists climbed the mountain stage in heavy rain",
    "a late try won the rugby game",
    "the boxer was knocked down in the third round",
    "the relay squad broke the national record",
];
const COOKING: &[&str] = &[
    "simmer the onions gently until they turn golden",
    "knead the dough for ten minutes and let it rise",
    "season the soup with salt, pepper and a little thyme",
    "whisk the eggs with sugar until pale and fluffy",
    "roast the vegetables at two hundred degrees",
    "slice the garlic thinly and fry it in olive oil",
    "bake the cake for forty minutes in a hot oven",
    "stir the risotto and add the stock a ladle at a time",
    "marinate the chicken overnight in yoghurt and spices",
    "chop the parsley finely and sprinkle it over the fish",
];

fn checkpoint() -> String {
    std::env::var("KILN_MINILM").expect("KILN_MINILM: run tests/text/run.sh")
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn a_text_column_trains_through_a_pretrained_encoder_and_predicts_new_texts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Every row distinct (free text, not a category): each sentence with the same endings.
    let mut csv = String::from("text,length,topic\n");
    for ending in ["", ", said Alex", ", they wrote", " on Sunday"] {
        for (texts, topic) in [(SPORT, "sport"), (COOKING, "cooking")] {
            for t in texts {
                let t = format!("{t}{ending}");
                csv.push_str(&format!("\"{t}\",{},{topic}\n", t.len()));
            }
        }
    }
    std::fs::write(d.join("topics.csv"), csv).unwrap();
    let model = checkpoint();
    let o = kiln(
        &[
            "train",
            "topics.csv",
            "--target",
            "topic",
            "--pretrained",
            &model,
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = kiln(&["inspect", "topics.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = &manifest["preprocessor"]["features"][0];
    assert_eq!(text["kind"], "text", "{}", manifest["preprocessor"]);
    assert_eq!(text["encoder"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        run["test_metrics"]["accuracy"].as_f64().unwrap() > 0.9,
        "{run}"
    );

    // New texts, sharing no topic words with the training ones.
    std::fs::write(
        d.join("new.csv"),
        "text,length\n\"the goalie blocked every shot\",29\n\"fold the cream into the melted chocolate\",40\n,0\n",
    )
    .unwrap();
    let o = kiln(&["predict", "topics.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(labels[..2], ["sport", "cooking"], "{out}");
    assert_eq!(labels.len(), 3, "an empty text is predicted too: {out}");

    // A checkpoint whose weights changed is refused, not silently used.
    let copy = d.join("changed");
    std::fs::create_dir(&copy).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(std::path::Path::new(&model).join(f), copy.join(f)).unwrap();
    }
    let o = kiln(
        &[
            "train",
            "topics.csv",
            "--target",
            "topic",
            "--pretrained",
            "changed",
            "--out",
            "c.kiln",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut bytes = std::fs::read(copy.join("model.safetensors")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(copy.join("model.safetensors"), bytes).unwrap();
    let o = kiln(&["predict", "c.kiln", "new.csv"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SHA-256") && err.contains("original checkpoint"),
        "{err}"
    );
}
