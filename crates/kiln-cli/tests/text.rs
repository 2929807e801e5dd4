//! `kiln train` on a table with a free-text column. With no checkpoint the text is read as a
//! bag of word n-grams. With `--pretrained`, the all-MiniLM-L6-v2 encoder (frozen) also turns
//! each text into a sentence vector, and the model predicts new texts by what they mean, not
//! by shared words; that test needs the checkpoint: `tests/text/run.sh` fetches it and sets
//! `KILN_MINILM`.

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

/// Topic sentences with the endings appended: every row distinct, so the column is free text;
/// optionally with a `length` column beside the text.
fn topics_csv(with_length: bool) -> String {
    let mut csv = String::from(if with_length {
        "text,length,topic\n"
    } else {
        "text,topic\n"
    });
    for ending in ["", ", said Alex", ", they wrote", " on Sunday"] {
        for (texts, topic) in [(SPORT, "sport"), (COOKING, "cooking")] {
            for t in texts {
                let t = format!("{t}{ending}");
                let length = if with_length {
                    format!("{},", t.len())
                } else {
                    String::new()
                };
                csv.push_str(&format!("\"{t}\",{length}{topic}\n"));
            }
        }
    }
    csv
}

#[test]
fn with_no_checkpoint_a_text_column_is_read_as_word_ngrams() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("topics.csv"), topics_csv(false)).unwrap();
    let o = kiln(&["train", "topics.csv", "--target", "topic", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kiln(&["inspect", "topics.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = &manifest["preprocessor"]["features"][0];
    assert_eq!(text["kind"], "text", "{}", manifest["preprocessor"]);
    assert!(text["encoder"]["sentence"].is_null());
    // The default MLP reading free text drops half its units, not the tables' 0.3.
    assert_eq!(manifest["network"]["shape"]["dropout"], 0.5);
    let terms: Vec<&str> = text["encoder"]["ngrams"]["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // Words in every ending's copy of a sentence are terms; "said alex" is a bigram.
    assert!(
        terms.contains(&"the") && terms.contains(&"said alex"),
        "{terms:?}"
    );
    // New texts that reuse training words are told apart by them.
    std::fs::write(
        d.join("new.csv"),
        "text\n\"the penalty in the final set\"\n\"bake the dough in olive oil\"\n",
    )
    .unwrap();
    let o = kiln(&["predict", "topics.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let labels = first_column(&out);
    assert_eq!(labels, ["sport", "cooking"], "{out}");

    // Explaining them attributes each prediction to its words: the n-grams' integrated
    // gradients add up to the change from the text with its words removed.
    let o = kiln(
        &[
            "explain",
            "topics.kiln",
            "new.csv",
            "--json",
            "--report",
            "why.html",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tokens = e["explanation"]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{e}");
    for t in tokens {
        let terms = t["terms"].as_array().unwrap();
        assert!(!terms.is_empty(), "{t}");
        for k in 0..2 {
            let sum: f64 = terms.iter().map(|x| x[1][k].as_f64().unwrap()).sum();
            let change =
                t["prediction"][k].as_f64().unwrap() - t["without_words"][k].as_f64().unwrap();
            assert!(
                (sum - change).abs() < 0.02 + 0.05 * change.abs(),
                "{sum} vs {change}: {t}"
            );
        }
    }
    // The sport text's largest attribution toward "sport" is a term that only sport sentences
    // used, and it pushes toward sport.
    let sport = labels.iter().position(|l| *l == "sport").unwrap();
    let classes = e["explanation"]["outputs"].as_array().unwrap();
    let k = classes.iter().position(|c| c == "sport").unwrap();
    let best = tokens[sport]["terms"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a[1][k]
                .as_f64()
                .unwrap()
                .total_cmp(&b[1][k].as_f64().unwrap())
        })
        .unwrap();
    let term = best[0].as_str().unwrap();
    let used_in = |texts: &[&str]| {
        texts
            .iter()
            .any(|t| format!(" {} ", t.replace(',', "")).contains(&format!(" {term} ")))
    };
    assert!(
        used_in(SPORT) && !used_in(COOKING) && best[1][k].as_f64().unwrap() > 0.0,
        "{best}"
    );
    let html = std::fs::read_to_string(d.join("why.html")).unwrap();
    assert!(
        html.contains("the words of &#39;text&#39;") && html.contains(">penalty</span>"),
        "report draws the words"
    );

    // With the bag switched off and no checkpoint, the text is not read, and a table with
    // nothing else is refused with the reason and the way out.
    std::fs::write(d.join("off.toml"), "[preprocess]\ntext_vocabulary = 0\n").unwrap();
    let o = kiln(
        &[
            "train",
            "topics.csv",
            "--target",
            "topic",
            "--config",
            "off.toml",
        ],
        d,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'text' is free text") && err.contains("text_vocabulary"),
        "{err}"
    );
}

/// Texts of common words where "alpha" and "omega" each appear once, a few words apart; the
/// label is whichever comes first. Every text has the same words in some order, so only a
/// model that reads the words in order can tell the classes apart.
fn order_csv(rows: usize) -> String {
    let filler: Vec<&str> = "the a of and to in is it that was for on are with as his they be \
        at one have this from or had by word but what some we can out other were all there when \
        up use your how said an each she which do their time if will way about many then them"
        .split_whitespace()
        .collect();
    // A fixed linear congruential sequence, so the file is the same on every run.
    let mut state = 12345u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    let mut csv = String::from("text,first\n");
    for _ in 0..rows {
        let (a, b) = if next(2) == 0 {
            ("alpha", "omega")
        } else {
            ("omega", "alpha")
        };
        let parts: Vec<String> = (0..3)
            .map(|_| {
                let k = 2 + next(4);
                (0..k)
                    .map(|_| filler[next(filler.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        csv.push_str(&format!(
            "\"{} {a} {} {b} {}\",{a}\n",
            parts[0], parts[1], parts[2]
        ));
    }
    csv
}

#[test]
fn a_recurrent_network_reads_words_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("order.csv"), order_csv(240)).unwrap();
    let accuracy = |model: &str| {
        let out = format!("{model}.kiln");
        let o = kiln(
            &[
                "train",
                "order.csv",
                "--target",
                "first",
                "--text-model",
                model,
                "--out",
                &out,
                "--epochs",
                "40",
                "--json",
            ],
            d,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        run["test_metrics"]["accuracy"].as_f64().unwrap()
    };
    // The bag of n-grams sees the same words in both classes; the recurrent networks see the
    // order.
    let bag = accuracy("bag");
    assert!(bag < 0.75, "the bag cannot read order: {bag}");
    for model in ["gru", "lstm"] {
        let acc = accuracy(model);
        assert!(acc > 0.9, "{model}: {acc} (bag {bag})");
    }
    let o = kiln(&["inspect", "gru.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let span = &manifest["network"]["text"]["spans"][0];
    assert_eq!(span["reader"]["cell"], "gru", "{}", manifest["network"]);
    assert_eq!(span["offset"], 0);

    // New texts, predicted and explained word by word: the deciding words carry the most
    // weight, toward the class they name.
    std::fs::write(
        d.join("new.csv"),
        "text\n\"we can see alpha in the time omega was\"\n\"it was omega then alpha and\"\n",
    )
    .unwrap();
    let o = kiln(&["predict", "gru.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(first_column(&out), ["alpha", "omega"], "{out}");
    let o = kiln(&["explain", "gru.kiln", "new.csv", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tokens = e["explanation"]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{e}");
    let classes = e["explanation"]["outputs"].as_array().unwrap();
    for (t, label) in tokens.iter().zip(["alpha", "omega"]) {
        let k = classes.iter().position(|c| c == label).unwrap();
        let terms = t["terms"].as_array().unwrap();
        let top = terms
            .iter()
            .max_by(|a, b| {
                a[1][k]
                    .as_f64()
                    .unwrap()
                    .abs()
                    .total_cmp(&b[1][k].as_f64().unwrap().abs())
            })
            .unwrap();
        assert!(
            (top[0] == "alpha" || top[0] == "omega") && top[1][k].as_f64().unwrap() > 0.0,
            "{label}: {t}"
        );
    }
    // Gradients cannot pass through token numbers: refused with the methods that work.
    let o = kiln(&["explain", "gru.kiln", "new.csv", "--method", "ig"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--method exact, kernel"), "{err}");
    // Fine-tuning needs a pretrained encoder.
    let o = kiln(
        &["train", "order.csv", "--target", "first", "--finetune"],
        d,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--pretrained"), "{err}");
}

/// Runs `kiln` in `dir` with its embedding cache in `dir/cache`.
fn kiln_cached(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("kiln runs")
}

/// The first column of each row of `kiln predict`'s CSV output (the predicted label).
fn first_column(csv: &str) -> Vec<&str> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect()
}

fn checkpoint() -> String {
    std::env::var("KILN_MINILM").expect("KILN_MINILM: run tests/text/run.sh")
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn a_text_column_trains_through_a_pretrained_encoder_and_predicts_new_texts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("topics.csv"), topics_csv(true)).unwrap();
    let model = checkpoint();
    let o = kiln_cached(
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
    // Every distinct text's vector is kept in the cache folder: 80 records of 32 + 384 · 4 + 8
    // bytes in one file.
    let cached: Vec<_> = std::fs::read_dir(d.join("cache/embeddings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let record = 32 + 384 * 4 + 8;
    assert_eq!(std::fs::metadata(&cached[0]).unwrap().len(), 80 * record);
    let o = kiln_cached(&["inspect", "topics.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = &manifest["preprocessor"]["features"][0];
    assert_eq!(text["kind"], "text", "{}", manifest["preprocessor"]);
    let sha256 = text["encoder"]["sentence"]["sha256"].as_str().unwrap();
    assert_eq!(sha256.len(), 64);
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
    let o = kiln_cached(&["predict", "topics.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let labels = first_column(&out);
    assert_eq!(labels[..2], ["sport", "cooking"], "{out}");
    assert_eq!(labels.len(), 3, "an empty text is predicted too: {out}");
    // Word pieces attributed through the encoder: integrated gradients with respect to its
    // word embeddings add up to what the text's vector changed, and cover the text.
    let o = kiln_cached(
        &[
            "explain",
            "topics.kiln",
            "new.csv",
            "--rows",
            "0-1",
            "--report",
            "why.html",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let explained: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let through: Vec<&serde_json::Value> = explained["explanation"]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["method"] == "encoder")
        .collect();
    assert_eq!(through.len(), 2, "{explained}");
    for (t, text) in through.iter().zip([
        "the goalie blocked every shot",
        "fold the cream into the melted chocolate",
    ]) {
        let spans = t["spans"].as_array().unwrap();
        let joined: String = spans.iter().map(|s| s[0].as_str().unwrap()).collect();
        assert_eq!(joined, text);
        let weighed = spans.iter().filter(|s| !s[1].is_null()).count();
        assert!(weighed >= 5, "{t}");
        for k in 0..2 {
            let total: f64 = t["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|term| term[1][k].as_f64().unwrap())
                .sum();
            let gap =
                t["prediction"][k].as_f64().unwrap() - t["without_words"][k].as_f64().unwrap();
            assert!(
                (total - gap).abs() < 0.02 + 0.1 * gap.abs(),
                "attributions sum to {total} for a change of {gap}: {t}"
            );
        }
    }
    let report = std::fs::read_to_string(d.join("why.html")).unwrap();
    assert!(report.contains("through the pretrained encoder"));
    // Trained again, now reading the vectors from the cache: the same model.
    let o = kiln_cached(
        &[
            "train",
            "topics.csv",
            "--target",
            "topic",
            "--pretrained",
            &model,
            "--out",
            "again.kiln",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kiln_cached(&["predict", "again.kiln", "new.csv"], d);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        out,
        "same predictions from cached vectors"
    );
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().len(),
        83 * record,
        "the three new texts were added once"
    );

    // A checkpoint whose weights changed is refused, not silently used.
    let copy = d.join("changed");
    std::fs::create_dir(&copy).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(std::path::Path::new(&model).join(f), copy.join(f)).unwrap();
    }
    let o = kiln_cached(
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
    let o = kiln_cached(&["predict", "c.kiln", "new.csv"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SHA-256") && err.contains("original checkpoint"),
        "{err}"
    );
}

/// The float tensors of a safetensors file's bytes, by name.
fn tensors(bytes: &[u8]) -> std::collections::HashMap<String, Vec<f32>> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter(|(_, v)| v.dtype() == safetensors::Dtype::F32)
        .map(|(name, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

/// The weights of a Kiln bundle (magic, version, manifest length and manifest, then the
/// safetensors weights with their length), by name.
fn bundle_weights(path: &std::path::Path) -> std::collections::HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let len = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let weights_at = 12 + 8 + len(12);
    let weights = &bytes[weights_at + 8..weights_at + 8 + len(weights_at)];
    tensors(weights)
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn finetuning_trains_the_top_layers_of_the_pretrained_encoder_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("topics.csv"), topics_csv(false)).unwrap();
    let model = checkpoint();
    let o = kiln_cached(
        &[
            "train",
            "topics.csv",
            "--target",
            "topic",
            "--pretrained",
            &model,
            "--finetune",
            "--epochs",
            "15",
            "--json",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        run["test_metrics"]["accuracy"].as_f64().unwrap() > 0.9,
        "{run}"
    );
    let o = kiln_cached(&["inspect", "topics.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reader = &manifest["network"]["text"]["spans"][0]["reader"];
    assert_eq!(reader["kind"], "encoder", "{}", manifest["network"]);
    assert_eq!(reader["trained_layers"], 2);
    let tokens = &manifest["preprocessor"]["features"][0]["encoder"]["tokens"];
    assert_eq!(tokens["vocabulary"]["kind"], "checkpoint", "{tokens}");

    // The bundle carries the encoder: the embeddings and the four lower layers as the
    // checkpoint has them, the top two trained.
    let trained = bundle_weights(&d.join("topics.kiln"));
    let original =
        tensors(&std::fs::read(std::path::Path::new(&model).join("model.safetensors")).unwrap());
    let find = |suffix: &str| {
        let hits: Vec<&Vec<f32>> = trained
            .iter()
            .filter(|(n, _)| n.ends_with(suffix))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{suffix}: {:?}",
            trained.keys().collect::<Vec<_>>()
        );
        hits[0].clone()
    };
    assert_eq!(
        &find("word.weight"),
        &original["embeddings.word_embeddings.weight"],
        "frozen embeddings"
    );
    for layer in 0..6 {
        let now = find(&format!("layers.{layer}.output_norm.gamma"));
        let before = &original[&format!("encoder.layer.{layer}.output.LayerNorm.weight")];
        assert_eq!(&now != before, layer >= 4, "layer {layer}");
    }

    // New texts, sharing no topic words with the training ones, by their meaning.
    std::fs::write(
        d.join("new.csv"),
        "text\n\"the goalie blocked every shot\"\n\"fold the cream into the melted chocolate\"\n",
    )
    .unwrap();
    let o = kiln_cached(&["predict", "topics.kiln", "new.csv"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(first_column(&out), ["sport", "cooking"], "{out}");
    // Explained word piece by word piece: the spans cover the text, every word piece has
    // its removal's effect, and the special tokens none.
    let o = kiln_cached(&["explain", "topics.kiln", "new.csv", "--json"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = &e["explanation"]["tokens"][0];
    let spans = first["spans"].as_array().unwrap();
    let text: String = spans.iter().map(|s| s[0].as_str().unwrap()).collect();
    assert_eq!(text, "the goalie blocked every shot", "{first}");
    let weighed = spans.iter().filter(|s| !s[1].is_null()).count();
    assert!(weighed >= 5, "every word (piece) weighed: {first}");
}
