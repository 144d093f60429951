"""What ``newsbot eval`` and ``newsbot tune`` print: Markdown reports over labelled questions,
from an index and an encoder passed in (the CLI only reads files and prints)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from retrieval.answer import PassageEncoder, answer_from, prepared_question
from retrieval.corpus import CorpusIndex, QueryEvidence
from retrieval.errors import NotEnoughData
from retrieval.evaluation import LabelledQuestion, markdown_table, score, user_view_table
from retrieval.tuning import FoldChoice, Memoized, cross_validate
from retrieval.types import Answer
from retrieval.user_eval import (
    ask_all,
    cross_validate_rule,
    report,
    rule_table,
    scenarios,
)

USER_VIEW_NOTE = (
    "small: libraries of 1-16 articles (a few questions' gold articles and long news neighbours), "
    "asked those questions and as many whose answer they do not hold; removed: the whole library "
    "without every article holding the answer of half the questions; near: 8-article libraries "
    "holding the 3 articles closest to a span question's gold one but none of its answers. "
    "Warned: of the answers given, the share that first say what no article mentions or that "
    "the library may not answer the question."
)


class Encoder(Protocol):
    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


def pair_ids(records: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """Belebele twins: question id -> the pair id it shares with its other-language twin."""
    return {str(r["id"]): str(r["pair_id"]) for r in records if r.get("pair_id")}


def whole_library_items(
    index: CorpusIndex, questions: Sequence[LabelledQuestion], encoder: Encoder
) -> list[tuple[LabelledQuestion, QueryEvidence]]:
    """Each question's evidence over the whole library, asked as the bot asks it."""
    texts = [prepared_question(index, q.question) for q in questions]
    vectors = encoder.encode_queries(texts)
    return [
        (q, index.evidence(text, vector, asked=q.question))
        for q, text, vector in zip(questions, texts, vectors, strict=True)
    ]


def evaluation_report(
    index: CorpusIndex,
    encoder: Encoder,
    records: Sequence[Mapping[str, object]],
    *,
    compare: bool,
    seed: int = 0,
    served: Sequence[Answer] | None = None,
) -> str:
    """Every question against the whole library (with ``compare``, also BM25 alone and dense
    alone on the same index), then what users see in the scenarios' libraries. ``served``: the
    answers the library gave as it answers users, where that is not this index (Milvus's
    candidates): scored beside it, with how often the two agree, so that a report in Milvus mode
    measures what its users get and not only the ``retrieval/`` code."""
    questions = [LabelledQuestion.from_record(r) for r in records]
    items = whole_library_items(index, questions, encoder)
    encode_passages: PassageEncoder = Memoized(encoder.encode_passages)  # variants re-read alike
    sections = []
    variants = (
        [("bm25", "BM25 alone"), ("dense", "dense alone"), (index.config.fusion, "newsbot")]
        if compare
        else [(index.config.fusion, "newsbot")]
    )
    for fusion, label in variants:
        variant = (
            index
            if fusion == index.config.fusion
            else index.with_config(replace(index.config, fusion=fusion))
        )
        answers = [
            answer_from(variant, ev, encode_passages=encode_passages)  # the evidence, computed once
            for _, ev in items
        ]
        sections.append(
            f"### {label} ({fusion}), the whole library\n\n"
            + markdown_table(score(zip(questions, answers, strict=True)))
        )
    if served is not None:
        sections.append(_served_section(questions, answers, served))
    outcomes = ask_all(
        index,
        scenarios(index, questions, seed=seed),
        Memoized(encoder.encode_queries),
        encode_passages,
    )
    seen = user_view_table(report(outcomes, index.config.abstention))
    sections.append(f"### what users see (seed {seed})\n\n{USER_VIEW_NOTE}\n\n{seen}")
    return "\n\n".join(sections)


def _served_section(
    questions: Sequence[LabelledQuestion], in_memory: Sequence[Answer], served: Sequence[Answer]
) -> str:
    """The served answers' table, and how many of them decide and quote as the whole index does."""
    pairs = list(zip(in_memory, served, strict=True))
    same_decision = sum(a.abstained == b.abstained for a, b in pairs)
    same_first = sum(_first_quote(a) == _first_quote(b) for a, b in pairs)
    return (
        "### newsbot as served (the candidates its store finds for each question), the whole library\n\n"
        + markdown_table(score(zip(questions, served, strict=True)))
        + f"\n\nAgainst the whole index above: the same decision (answer or decline) for {same_decision}"
        f" of {len(pairs)} questions, the same first quote for {same_first}."
    )


def _first_quote(answer: Answer) -> tuple[str, int] | None:
    first = answer.citations[0] if answer.citations and not answer.abstained else None
    return (first.article.ref, first.sentence_index) if first else None


def tuning_report(
    index: CorpusIndex,
    encoder: Encoder,
    records: Sequence[Mapping[str, object]],
    *,
    folds: int,
    seeds: Sequence[int] = (0, 1, 2),
) -> str:
    """Cross-validated choice of the tunables (the values each fold chose, the out-of-fold
    scores, the values chosen on every question), then the abstention rule fitted inside folds
    on the scenarios' libraries under those values, judged out of fold."""
    questions = [LabelledQuestion.from_record(r) for r in records]
    items = whole_library_items(index, questions, encoder)
    encode_passages = Memoized(encoder.encode_passages)

    def show(choice: FoldChoice) -> None:
        values = ", ".join(f"{k}={v}" for k, v in choice.values.items())
        print(f"fold {choice.fold} ({choice.questions} questions held out): {values}", file=sys.stderr)

    result = cross_validate(
        index, items, pair_ids(records), folds=folds, on_fold=show, encode_passages=encode_passages
    )
    names = list(result.chosen)
    header = "| fold | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1)
    rows = [f"| {c.fold} | " + " | ".join(str(c.values[n]) for n in names) + " |" for c in result.folds]
    rows.append("| **all** | " + " | ".join(f"**{result.chosen[n]}**" for n in names) + " |")
    sections = [
        f"### values chosen per fold ({folds} folds; twins kept together)\n\n" + "\n".join([header, *rows]),
        "### out-of-fold scores, the whole library\n\n" + markdown_table(result.out_of_fold),
    ]
    chosen = replace(index.config, **result.chosen)  # type: ignore[arg-type]
    queries = Memoized(encoder.encode_queries)
    outcomes = []
    for seed in seeds:
        print(f"asking the scenarios' questions (seed {seed})", file=sys.stderr)
        outcomes += ask_all(index, scenarios(index, questions, seed=seed), queries, encode_passages, chosen)
    try:
        validation = cross_validate_rule(outcomes, chosen.abstention, folds=folds)
    except NotEnoughData as error:
        sections.append(f"### abstention\n\nNot measured, the rule is not refitted: {error}.")
        return "\n\n".join(sections)
    seeds_shown = ", ".join(str(s) for s in seeds)
    sections += [
        f"### abstention rule fitted per fold and on every question (scenario seeds {seeds_shown})\n\n"
        + rule_table(validation),
        f"### what users see, the rule out of fold (scenario seeds {seeds_shown})\n\n{USER_VIEW_NOTE}\n\n"
        + user_view_table(validation.out_of_fold),
    ]
    return "\n\n".join(sections)
