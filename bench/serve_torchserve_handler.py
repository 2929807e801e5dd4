"""TorchServe handler of the serving benchmark: the Kiln bundle rebuilt in torch (serve_torch.py).

Archived by bench/serve.sh with torch-model-archiver together with serve_torch.py (extra file)
and the checkpoint written by `serve_torch.py export` (serialized file). Requests are Open
Inference Protocol v2 JSON bodies, `{"inputs":[{"name":"input","shape":[N,F],"datatype":"FP32",
"data":[...]}]}`; TorchServe's server-side batching hands the handler up to batchSize of them
at once, which run as one forward pass; each gets an OIP v2 response with "label" and
"probabilities", as `kiln serve` answers.

KILN_TORCH_THREADS (default 1): torch's intra-op threads in each worker.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import torch


class KilnTorchHandler:
    def __init__(self) -> None:
        self.model = None
        self.initialized = False

    def initialize(self, context) -> None:
        model_dir = context.system_properties.get("model_dir")
        if model_dir not in sys.path:
            sys.path.insert(0, model_dir)
        from serve_torch import classes_of, load_checkpoint  # noqa: E402 - an extra file of the .mar

        torch.set_num_threads(int(os.environ.get("KILN_TORCH_THREADS", "1")))
        serialized = context.manifest["model"]["serializedFile"]
        self.model = load_checkpoint(os.path.join(model_dir, serialized))
        self.classes = classes_of(self.model)
        self.name = context.manifest["model"].get("modelName", "model")
        self.initialized = True
        logging.getLogger(__name__).info("kiln torch model loaded: %d torch thread(s), classes %s",
                                         torch.get_num_threads(), self.classes)

    def handle(self, data, context):
        from serve_torch import response_of, rows_of_request

        n_features = self.model.n_features
        parts, sizes, failed = [], [], {}
        for i, req in enumerate(data):
            body = req.get("body") if req.get("body") is not None else req.get("data")
            try:
                x = rows_of_request(body, n_features)
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
                failed[i] = str(e)
                sizes.append(0)
                continue
            parts.append(x)
            sizes.append(x.shape[0])
        out = []
        if parts:
            with torch.inference_mode():
                probs = self.model(torch.cat(parts))
            chunks = iter(torch.split(probs, [s for i, s in enumerate(sizes) if i not in failed]))
        for i, req in enumerate(data):
            if i in failed:
                context.set_response_status(400, "bad request", idx=i)
                out.append({"error": failed[i]})
            else:
                body = req.get("body") if req.get("body") is not None else req.get("data")
                rid = body.get("id") if isinstance(body, dict) else None
                out.append(response_of(self.name, next(chunks), self.classes, rid))
        return out


_service = KilnTorchHandler()


def handle(data, context):
    """TorchServe's module-level entry point."""
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
