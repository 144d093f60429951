"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import Settings

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SEED = REPO / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cli.main(argv)`` in this process: its exit status, stdout and stderr (stdout is strict
    UTF-8 under capsys, as a real process's is)."""
    import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: a SQLite file under tmp_path, no .env, explicit overrides."""
    values: dict[str, object] = {"NEWSBOT_DB": tmp_path / "newsbot.sqlite3"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# English and Indonesian questions and news sentences, odd spacing and accents: the texts on
# which every encoder must give the reference's vectors (tests/test_bundled_model.py,
# tests/test_encoder_backend.py).
PARITY_TEXTS = [
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

# The keys of ``Answer.as_json`` (``ask --json``), also of a question that could not be asked.
ANSWER_KEYS = {"question", "abstained", "reason", "missing", "tentative", "answer", "articles", "took_ms"}
