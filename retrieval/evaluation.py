"""Retrieval and answer metrics over labelled questions (the dev set's fields), pure and small.

Groups follow the dev README: ``source lang→passage_lang`` (e.g. ``belebele en→id``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from retrieval.types import Answer


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    id: str
    question: str
    gold_article: str
    group: str
    answers: tuple[str, ...]
    is_span: bool
    source: str = "?"  # the dataset ("belebele": passages no other passage answers)

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> LabelledQuestion:
        answers = record.get("answers") or ()
        lang = record.get("lang", "?")
        passage_lang = record.get("passage_lang", lang)
        source = str(record.get("source", "?"))
        return cls(
            id=str(record["id"]),
            question=str(record["question"]),
            gold_article=str(record["article_id"]),
            group=f"{source} {lang}→{passage_lang}",
            answers=tuple(str(a) for a in answers) if isinstance(answers, (list, tuple)) else (),
            is_span=record.get("answer_type") == "span",
            source=source,
        )


@dataclass(frozen=True, slots=True)
class GroupScores:
    group: str
    n: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    cited_gold: float  # share whose cited sentences come from the gold article
    span_n: int
    answer_in_citation: float  # span questions: gold answer inside the cited sentences
    abstained: float

    def row(self) -> list[str]:
        span = f"{self.answer_in_citation:.2f}" if self.span_n else "–"
        return [
            self.group,
            str(self.n),
            f"{self.recall_at_1:.2f}",
            f"{self.recall_at_5:.2f}",
            f"{self.recall_at_10:.2f}",
            f"{self.mrr_at_10:.3f}",
            f"{self.cited_gold:.2f}",
            span,
            f"{self.abstained:.2f}",
        ]


HEADER = ["group", "n", "R@1", "R@5", "R@10", "MRR@10", "cited gold", "answer in cited", "abstained"]


def rank_of(gold: str, ranked: Sequence[str]) -> int | None:
    """1-based rank of ``gold`` in ``ranked``, or None."""
    try:
        return list(ranked).index(gold) + 1
    except ValueError:
        return None


def score(pairs: Iterable[tuple[LabelledQuestion, Answer]]) -> list[GroupScores]:
    """One row per group, in a stable order, then ``overall``."""
    by_group: dict[str, list[tuple[LabelledQuestion, Answer]]] = defaultdict(list)
    everything: list[tuple[LabelledQuestion, Answer]] = []
    for pair in pairs:
        by_group[pair[0].group].append(pair)
        everything.append(pair)
    rows = [_score_group(g, by_group[g]) for g in sorted(by_group)]
    if everything:
        rows.append(_score_group("overall", everything))
    return rows


def _score_group(group: str, pairs: list[tuple[LabelledQuestion, Answer]]) -> GroupScores:
    n = len(pairs)
    ranks = [rank_of(q.gold_article, a.articles) for q, a in pairs]

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    cited_gold = sum(1 for q, a in pairs if any(c.article.ref == q.gold_article for c in a.citations)) / n
    spans = [(q, a) for q, a in pairs if q.is_span and q.answers]
    inside = sum(1 for q, a in spans if answer_in_citations(q.answers, a)) / len(spans) if spans else 0.0
    abstained = sum(1 for _, a in pairs if a.abstained) / n
    return GroupScores(
        group, n, recall(1), recall(5), recall(10), mrr, cited_gold, len(spans), inside, abstained
    )


def answer_in_citations(answers: Sequence[str], answer: Answer) -> bool:
    cited = " ".join(c.text for c in answer.citations).casefold()
    return any(a.casefold().strip() and a.casefold().strip() in cited for a in answers)


def markdown_table(rows: Sequence[GroupScores]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in rows]
    return "\n".join(lines)


def abstention_split(records: Sequence[Mapping[str, object]], seed: int = 0) -> set[str]:
    """Gold articles to remove so that a fixed random half of the Belebele questions (and their
    other-language twins, joined by ``pair_id``) have no answer in the library."""
    import random

    def unit(r: Mapping[str, object]) -> str:  # twins share a pair_id; en→en questions have none
        return str(r.get("pair_id") or r["id"])

    units = sorted({unit(r) for r in records if r.get("source") == "belebele"})
    chosen = set(random.Random(seed).sample(units, len(units) // 2))
    return {str(r["article_id"]) for r in records if r.get("source") == "belebele" and unit(r) in chosen}


@dataclass(frozen=True, slots=True)
class AbstentionScores:
    unanswerable: int
    abstained_unanswerable: float
    answerable: int
    abstained_answerable: float

    def markdown(self) -> str:
        return (
            "| questions | n | abstained |\n|---|---|---|\n"
            f"| gold article removed | {self.unanswerable} | {self.abstained_unanswerable:.2f} |\n"
            f"| gold article present | {self.answerable} | {self.abstained_answerable:.2f} |"
        )


def abstention_scores(unanswerable: Sequence[Answer], answerable: Sequence[Answer]) -> AbstentionScores:
    def rate(answers: Sequence[Answer]) -> float:
        return sum(a.abstained for a in answers) / len(answers) if answers else 0.0

    return AbstentionScores(len(unanswerable), rate(unanswerable), len(answerable), rate(answerable))
