"""The sentence-encoder benchmark's PyTorch side (run by bench/text.sh): embeds the texts of a
JSON array with sentence-transformers (batch 32, 2 threads; one warm-up pass over the first
batch, then one timed pass over all) and prints {"sentences", "seconds", "per_s"}.

    python bench/text_torch.py CHECKPOINT_DIR TEXTS.json
"""

import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    checkpoint, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    with open(path) as f:
        texts = json.load(f)
    model = SentenceTransformer(checkpoint, device="cpu")
    model.encode(texts[:32], batch_size=32)
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=32)
    seconds = time.perf_counter() - started
    assert vectors.shape == (len(texts), 384)
    print(json.dumps({"sentences": len(texts), "seconds": seconds, "per_s": len(texts) / seconds}))


if __name__ == "__main__":
    main()
