"""Tokens for BM25: Unicode word runs, case-folded, with Indonesian and English stopwords removed.

Question words (apa, siapa, kapan, what, who …) carry no topic, so they are stopwords too:
they would otherwise reward passages that merely ask questions.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)

INDONESIAN_STOPWORDS = frozenset(
    """
    ada adalah agar akan akan aku anda antara apa apakah atas atau bagaimana bagi bahwa baik
    banyak beberapa begitu belum berapa bersama bisa boleh bukan dalam dan dapat dari demikian
    dengan di dia dimana ini itu jadi jika juga kami kamu kapan karena ke kepada ketika kita
    lagi lain lalu maka mana masih melalui mengapa menjadi mereka meski namun oleh pada para
    pun saat saja sampai sang sangat saya se sebagai sebelum sebuah secara sedang sehingga
    sejak selain seperti serta setelah siapa suatu sudah tak tanpa telah tentang tersebut tetapi
    tidak untuk walau ya yaitu yakni yang nya kah lah pula hal kenapa mengapakah bilamana
    berapakah siapakah manakah bagaimanakah dimanakah kapankah
    """.split()
)

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    according passage s t don
    """.split()
)

STOPWORDS = INDONESIAN_STOPWORDS | ENGLISH_STOPWORDS


TOKENIZER_VERSION = 1
"""Bump when ``tokenize`` could give other terms for the same text (the stopword lists are
hashed into the saved index's fingerprint on their own): a saved index holds its postings."""


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """A word as BM25 and the grounding compare it: case-folded, accents stripped."""
    # Strip accents so "café" meets "cafe"; casefold handles ß and friends.
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text`` in order (duplicates kept: term frequency matters). Written as one
    comprehension over ``findall`` because the whole library is tokenized at start-up."""
    return [t for t in map(fold, _WORD.findall(text)) if t not in STOPWORDS and t != "_"]


_SURFACE_WORD = re.compile(r"\w[\w'’-]*")


def specific_words(text: str) -> list[str]:
    """The names and figures ``text`` asks about, as written: runs of capitalized words past its
    first word ("Kim Yo-jong", "Piala Dunia") and words holding a digit ("2022").

    They are what an abstention can most honestly blame on the library: a year, and most names,
    are written alike in every language, while "nothing mentions 'earthquake'" would be false of
    a library whose Indonesian article says "gempa", and "nothing mentions 'say'" of one that
    says "said". Single letters ("U" of "U.S.") are left out."""
    found: list[str] = []
    in_run = False  # the previous word was capitalized and joins the next one
    previous_end = 0
    for number, match in enumerate(_SURFACE_WORD.finditer(text)):
        word, gap = match.group(0), text[previous_end : match.start()]
        if len(word) == 1:  # an initial: "U.S.", "J. Smith"
            in_run, previous_end = False, match.end()
            continue
        starts_sentence = number == 0 or any(mark in gap for mark in ".?!")
        if word[0].isupper() and not starts_sentence:
            if in_run and not gap.strip():
                found[-1] += " " + word
            else:
                found.append(word)
            in_run = True
        else:
            in_run = False
            if any(ch.isdigit() for ch in word):
                found.append(word)
        previous_end = match.end()
    return list(dict.fromkeys(found))
