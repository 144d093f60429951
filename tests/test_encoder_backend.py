"""The OpenVINO backend gives the vectors torch float32 gives, so indexes work with either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests_support import PARITY_TEXTS, REPO

from retrieval.encoder import (
    DEFAULT_BACKEND,
    OpenVINOEncoder,
    SentenceTransformerEncoder,
    ensure_openvino_export,
    load_encoder,
)

# English and Indonesian, questions and news sentences, one ~800-character chunk, one text past
# the 512-token window (truncation must match), odd whitespace and an empty string.
CHUNK = (
    "Presiden China Xi Jinping diketahui mengirim sebuah surat kepada pemimpin Korea Utara Kim Jong Un. "
    "Surat itu berisikan ajakan kerjasama untuk menciptakan keamanan, stabilitas, dan kesejahteraan. "
    "Kim Jong Un bersama putrinya tengah mengawasi peluncuran rudal balistik, Jumat (18/11/2022). "
    "China menyumbang lebih dari 90 persen perdagangan bilateralnya untuk Pyongyang. "
    "Dubes China di Seoul Xing Haiming serta Dubes Rusia Andrey Kulik hadir dalam pertemuan itu. "
    "KTT G20 Bali yang digelar pada 15 November lalu mempertemukan Xi dengan Presiden Korea Selatan. "
    "Mengapa Korea Selatan meminta bantuan China? Seoul ingin Beijing menekan Pyongyang."
)
TEXTS = [
    *PARITY_TEXTS,
    "",
    CHUNK,
    CHUNK[:400],
    " ".join([CHUNK] * 4),  # ~3,200 characters: cut at 512 tokens by both backends
]
MIN_COSINE = 0.999  # measured: >= 0.99997 with bfloat16 on a CPU that has it, 1.0 in float32


@pytest.fixture(scope="module")
def torch_encoder(model_cache: Path) -> SentenceTransformerEncoder:
    encoder = load_encoder("bundled", model_cache, backend="torch")
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


@pytest.fixture(scope="module")
def openvino_encoder(model_cache: Path) -> OpenVINOEncoder:
    encoder = load_encoder("bundled", model_cache, backend="openvino")
    assert isinstance(encoder, OpenVINOEncoder)
    return encoder


def test_default_backend_is_openvino() -> None:
    assert DEFAULT_BACKEND == "openvino"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["queries", "passages"])
def test_vectors_match_torch_float32(
    kind: str, torch_encoder: SentenceTransformerEncoder, openvino_encoder: OpenVINOEncoder
) -> None:
    assert len(TEXTS) >= 20
    reference = getattr(torch_encoder, f"encode_{kind}")(TEXTS)
    fast = getattr(openvino_encoder, f"encode_{kind}")(TEXTS)
    assert fast.shape == reference.shape == (len(TEXTS), 384)
    assert fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(fast * reference, axis=1)
    assert cosine.min() >= MIN_COSINE, dict(zip(TEXTS, cosine.round(5), strict=True))
    # The bound tells texts apart: pairing each vector with another text's falls far below it.
    assert np.sum(fast * np.roll(reference, 1, axis=0), axis=1).max() < MIN_COSINE


@pytest.mark.slow
def test_batch_size_and_order_do_not_change_vectors(
    model_cache: Path, openvino_encoder: OpenVINOEncoder
) -> None:
    one_by_one = load_encoder("bundled", model_cache, batch_size=1).encode_passages(TEXTS)
    batched = openvino_encoder.encode_passages(TEXTS)
    assert np.sum(one_by_one * batched, axis=1).min() >= 0.9999
    reversed_order = openvino_encoder.encode_passages(TEXTS[::-1])[::-1]
    assert np.sum(reversed_order * batched, axis=1).min() >= 0.9999


@pytest.mark.slow  # loads the torch reference (about 7 s) once the two above are deselected
def test_identity_is_the_same_so_existing_indexes_open(
    torch_encoder: SentenceTransformerEncoder, openvino_encoder: OpenVINOEncoder
) -> None:
    assert openvino_encoder.identity == torch_encoder.identity
    assert openvino_encoder.identity.name == "bundled:multilingual-e5-small"


def test_empty_input(openvino_encoder: OpenVINOEncoder) -> None:
    assert openvino_encoder.encode_queries([]).shape == (0, 384)


def test_export_is_reused_not_redone(model_cache: Path, openvino_encoder: OpenVINOEncoder) -> None:
    exports = sorted(model_cache.glob("*-openvino-v*"))
    assert exports, "load_encoder should have exported into the model cache"
    before = {p.name: p.stat().st_mtime_ns for p in exports[0].iterdir()}
    assert ensure_openvino_export(Path("/nonexistent/model"), exports[0]) == exports[0]
    assert {p.name: p.stat().st_mtime_ns for p in exports[0].iterdir()} == before
    assert not list(model_cache.glob(".exporting-*")), "a staging folder was left behind"


def test_openvino_telemetry_is_off(openvino_encoder: OpenVINOEncoder) -> None:
    # `import openvino` would otherwise send a usage event from a forked process.
    assert "openvino_telemetry" in sys.modules and sys.modules["openvino_telemetry"] is None


def test_unknown_backend_is_refused(model_cache: Path) -> None:
    with pytest.raises(ValueError, match="unknown encoder backend"):
        load_encoder("bundled", model_cache, backend="onnx")


def test_serving_with_openvino_never_imports_torch_or_transformers(model_cache: Path) -> None:
    """Half a cold start was importing them; an existing export needs neither."""
    load_encoder("bundled", model_cache)  # make sure the export exists (it may import them)
    probe = (
        "import sys; from pathlib import Path; from retrieval.encoder import load_encoder; "
        f"load_encoder('bundled', Path({str(model_cache)!r})).encode_queries(['apa isi surat Xi']); "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.strip() == "[]", done.stderr
