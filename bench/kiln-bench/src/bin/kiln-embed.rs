//! Kiln's side of the sentence-encoder benchmark (bench/text.sh): embeds the texts of a JSON
//! array with a checkpoint's encoder in batches of 32 (one warm-up pass over the first batch,
//! then one timed pass over all) and prints `{"sentences", "seconds", "per_s", "tokens"}`.
//!
//!     kiln-embed CHECKPOINT_DIR TEXTS.json

use kiln_text::SentenceEncoder;
use std::time::Instant;

// The allocator the `kiln` command uses, so the benchmark measures what users run.
use kiln_alloc as _;

fn main() {
    kiln_alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: kiln-embed CHECKPOINT_DIR TEXTS.json");
        std::process::exit(2);
    }
    let encoder = SentenceEncoder::load(std::path::Path::new(&args[1])).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let text = std::fs::read_to_string(&args[2]).unwrap_or_else(|e| {
        eprintln!("error: cannot read '{}': {e}", args[2]);
        std::process::exit(1)
    });
    let texts: Vec<String> = serde_json::from_str(&text).unwrap_or_else(|e| {
        eprintln!("error: '{}' is not a JSON array of strings: {e}", args[2]);
        std::process::exit(1)
    });
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = encoder
        .tokenize(&refs)
        .map(|ids| ids.iter().map(Vec::len).sum())
        .unwrap_or(0);
    let warm = &refs[..refs.len().min(32)];
    encoder.embed(warm).expect("warm-up pass");
    let started = Instant::now();
    let vectors = encoder.embed(&refs).expect("timed pass");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), refs.len() * encoder.dim());
    println!(
        "{}",
        serde_json::json!({
            "sentences": refs.len(),
            "seconds": seconds,
            "per_s": refs.len() as f64 / seconds,
            "tokens": tokens,
        })
    );
}
