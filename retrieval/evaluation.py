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
    answer_doc_ids: tuple[str, ...] = ()  # other articles labelled as holding a gold answer

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
            answer_doc_ids=_strings(record.get("answer_doc_ids")),
        )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


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
    answer_in_first: float = 0.0  # span questions: gold answer inside the first quote
    quotes: float = 0.0  # mean quotes per answer given

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
            f"{self.answer_in_first:.2f}" if self.span_n else "–",
            f"{self.quotes:.1f}",
            f"{self.abstained:.2f}",
        ]


HEADER = [
    "group",
    "n",
    "R@1",
    "R@5",
    "R@10",
    "MRR@10",
    "cited gold",
    "answer in cited",
    "answer in 1st quote",
    "quotes",
    "abstained",
]


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
    first = (
        sum(1 for q, a in spans if answer_in_citations(q.answers, a, first_only=True)) / len(spans)
        if spans
        else 0.0
    )
    abstained = sum(1 for _, a in pairs if a.abstained) / n
    answered = [a for _, a in pairs if not a.abstained]
    quotes = sum(len(a.citations) for a in answered) / len(answered) if answered else 0.0
    return GroupScores(
        group,
        n,
        recall(1),
        recall(5),
        recall(10),
        mrr,
        cited_gold,
        len(spans),
        inside,
        abstained,
        first,
        quotes,
    )


def answer_in_citations(answers: Sequence[str], answer: Answer, *, first_only: bool = False) -> bool:
    """Whether a gold answer string is inside the quotes (the first quote alone, if asked)."""
    cited = " ".join(c.text for c in answer.citations[: 1 if first_only else None]).casefold()
    return any(a.casefold().strip() and a.casefold().strip() in cited for a in answers)


def markdown_table(rows: Sequence[GroupScores]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in rows]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class UserView:
    """What users of one scenario saw, over one group of questions (``retrieval/scenarios.py``).

    Declining rates are over answerable and absent questions; the quote measures over the
    answerable questions the bot answered (``span_*`` over those with a gold answer string).
    ``*_warned``: of the answers given, the share with an ``Answer.caveat`` before the quotes
    (what the library lacks, or that it may not answer the question), over absent and
    answerable questions apart."""

    scenario: str
    group: str
    answerable: int
    absent: int
    absent_declined: float
    answerable_declined: float
    from_gold: float  # answered with a quote from the gold article (of all answerable)
    span_answered: int
    span_first: float  # a gold answer inside the first quote
    span_any: float  # a gold answer inside some quote
    quotes: float  # mean quotes per answer given
    absent_answered: int = 0
    absent_warned: float = 0.0
    answerable_answered: int = 0
    answerable_warned: float = 0.0

    HEADER = (
        "scenario",
        "group",
        "answerable",
        "absent",
        "absent declined",
        "answerable declined",
        "answered from gold",
        "span in 1st quote",
        "span in any quote",
        "quotes per answer",
        "warned: absent / answerable answered",
    )

    def row(self) -> list[str]:
        def rate(value: float, n: int) -> str:
            return f"{value:.2f}" if n else "–"

        return [
            self.scenario,
            self.group,
            str(self.answerable),
            str(self.absent),
            rate(self.absent_declined, self.absent),
            rate(self.answerable_declined, self.answerable),
            rate(self.from_gold, self.answerable),
            rate(self.span_first, self.span_answered),
            rate(self.span_any, self.span_answered),
            rate(self.quotes, self.answerable),
            rate(self.absent_warned, self.absent_answered)
            + " / "
            + rate(self.answerable_warned, self.answerable_answered),
        ]


def user_view(
    scenario: str, group: str, results: Sequence[tuple[LabelledQuestion, bool, Answer]]
) -> UserView:
    """Score (question, answerable, answer) triples of one scenario and group."""
    answerable = [(q, a) for q, ok, a in results if ok]
    absent = [a for _, ok, a in results if not ok]
    answered = [(q, a) for q, a in answerable if not a.abstained]
    absent_answered = [a for a in absent if not a.abstained]
    spans = [(q, a) for q, a in answered if q.is_span and q.answers]

    def share(flags: Iterable[bool], n: int) -> float:
        return sum(flags) / n if n else 0.0

    return UserView(
        scenario,
        group,
        len(answerable),
        len(absent),
        share((a.abstained for a in absent), len(absent)),
        share((a.abstained for _, a in answerable), len(answerable)),
        share(
            (any(c.article.ref == q.gold_article for c in a.citations) for q, a in answerable),
            len(answerable),
        ),
        len(spans),
        share((answer_in_citations(q.answers, a, first_only=True) for q, a in spans), len(spans)),
        share((answer_in_citations(q.answers, a) for q, a in spans), len(spans)),
        sum(len(a.citations) for _, a in answered) / len(answered) if answered else 0.0,
        len(absent_answered),
        share((a.caveat is not None for a in absent_answered), len(absent_answered)),
        len(answered),
        share((a.caveat is not None for _, a in answered), len(answered)),
    )


def user_view_table(rows: Sequence[UserView]) -> str:
    lines = ["| " + " | ".join(UserView.HEADER) + " |", "|" + "---|" * len(UserView.HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in rows]
    return "\n".join(lines)
