"""The serving benchmark's minimal FastAPI + PyTorch server: the Kiln bundle rebuilt in torch.

    KILN_TORCH_CHECKPOINT=model.pt uvicorn serve_fastapi:app --app-dir bench --workers W

POST /v2/models/{KILN_TORCH_MODEL_NAME}/infer with an Open Inference Protocol v2 body of one
input of shape [N, F] answers "label" and "probabilities", as `kiln serve` does; one forward
pass per request under torch.inference_mode(), on the event loop (the work is far shorter than
a thread hand-off). GET /v2/health/ready answers 200 once the model is loaded.

Environment: KILN_TORCH_CHECKPOINT (the checkpoint of `serve_torch.py export`),
KILN_TORCH_MODEL_NAME (default "breast"), KILN_TORCH_THREADS (torch intra-op threads per
worker, default 1).
"""

from __future__ import annotations

import json
import os
import sys

import torch
from fastapi import FastAPI, HTTPException, Request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_torch import classes_of, load_checkpoint, response_of, rows_of_request  # noqa: E402

torch.set_num_threads(int(os.environ.get("KILN_TORCH_THREADS", "1")))
NAME = os.environ.get("KILN_TORCH_MODEL_NAME", "breast")
MODEL = load_checkpoint(os.environ["KILN_TORCH_CHECKPOINT"])
CLASSES = classes_of(MODEL)

app = FastAPI()


@app.get("/v2/health/ready")
async def ready() -> dict:
    return {"ready": True}


@app.post(f"/v2/models/{NAME}/infer")
async def infer(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
        x = rows_of_request(body, MODEL.n_features)
    except (ValueError, KeyError, TypeError) as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    with torch.inference_mode():
        probs = MODEL(x)
    return response_of(NAME, probs, CLASSES, body.get("id"))
