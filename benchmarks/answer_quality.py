"""Answer quality: do the bot's searches find the pages that answer users' questions, and does the
bot fall back when no page does?

Question sets (benchmarks/quality/*.yaml): Git's own manual from Debian's git-doc package (HTML,
written by the Git project, fetched and unpacked when the benchmark runs) and this repository's
docs/. Questions are phrased as users ask them (how-to, why, troubleshooting, short keywords);
each answerable one is labelled with the files that answer it, the section and a phrase of the
answer, all checked against the files first. Unanswerable ones have no page.

Each retrieval system runs in its own process, side by side in one run:
- `before`: the bot's search as it was at commit BASELINE (its chunker and index, extracted from
  git history with `git archive`), which quotes passages whenever any word matches;
- `keyword`, `semantic`, `hybrid`: today's `spec.retrieval.mode` values;
- `hybrid-chunks`: hybrid ranked by its fused chunks alone, without document scores (search.py),
  as it was before they were added: what they change, side by side;
- with `--models`, `semantic@NAME` and `hybrid@NAME`: the same with another embedding model.
Figures (file level, the first passage of a file ranks the file): Hit@1, Hit@3, MRR@10, nDCG@10
(binary relevance); section hit@3 (a top-3 passage of a labelled file under the labelled heading);
the share of unanswerable questions that get the fallback and of answerable ones that wrongly get
it; query latency p50/p99 (the query embedding included); index build and embedding time.

    python -m benchmarks.answer_quality                 # both sets, all systems
    python -m benchmarks.answer_quality --smoke         # this repository's docs only (CI)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.loadgen import percentiles_ms
from benchmarks.processes import ROOT
from benchmarks.quality_corpus import Question, QuestionSet, check_labels, load_questions, package_corpus
from chatbot_server.embeddings import DEFAULT_MODEL, MODELS

# main when this benchmark was written: the keyword search every figure is compared with.
BASELINE = "9e77106"
SYSTEMS = ("before", "keyword", "semantic", "hybrid-chunks", "hybrid")
CANDIDATE_MODES = ("semantic", "hybrid")  # measured with each candidate embedding model (--models)
PASSAGES = 40  # searched per question: enough to rank 10 distinct files
DEPTH = 10


def corpus_for(question_set: QuestionSet) -> Path:
    return package_corpus(question_set) if question_set.package else ROOT / question_set.root


def baseline_tree(workdir: Path) -> Path:
    """The bot's package as it was at BASELINE, extracted into workdir; its import path."""
    archive = subprocess.run(
        ["git", "archive", BASELINE, "bot_image/chatbot_server"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        sys.exit(
            f"the baseline commit {BASELINE} is not in this clone ({archive.stderr.decode().strip()}); "
            "fetch the history (git fetch --unshallow) or run with --systems keyword,semantic,hybrid"
        )
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
    return workdir / "bot_image"


def _has_baseline() -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{BASELINE}^{{commit}}"], cwd=ROOT, capture_output=True)
    return found.returncode == 0


def run_system(system: str, corpus: Path, questions: list[Question], python_path: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump({"system": system, "corpus": str(corpus), "questions": [q.text for q in questions]}, spec)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(python_path), str(ROOT)])}
    # As the bot sets it (chatbot_server/__init__.py), before this worker's own imports load NumPy.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = [sys.executable, "-m", "benchmarks.answer_quality_worker", spec.name]
    if system != "before":
        command.append("--today")
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    Path(spec.name).unlink()
    if completed.returncode != 0:
        sys.exit(f"{system} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def score(questions: list[Question], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one system on one question set."""
    hit1 = hit3 = reciprocal = ndcg = section3 = 0.0
    answerable = unanswerable = wrong_fallbacks = right_fallbacks = 0
    by_kind: dict[str, list[float]] = {}
    misses = []
    for question, answer in zip(questions, answers, strict=True):
        if not question.answerable:
            unanswerable += 1
            right_fallbacks += answer["fallback"]
            continue
        answerable += 1
        wrong_fallbacks += answer["fallback"]
        relevant = set(question.files)
        ranked = answer["files"][:DEPTH]
        hits = [path in relevant for path in ranked]
        hit1 += bool(hits[:1] and hits[0])
        hit3 += any(hits[:3])
        first = next((rank for rank, hit in enumerate(hits, 1) if hit), None)
        reciprocal += 1 / first if first else 0.0
        dcg = sum(1 / math.log2(rank + 1) for rank, hit in enumerate(hits, 1) if hit)
        ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), DEPTH) + 1))
        ndcg += dcg / ideal
        section = question.section.lower()
        section3 += any(
            path in relevant and section in title.lower() for path, title in answer["passages"][:3]
        )
        by_kind.setdefault(question.kind, []).append(float(any(hits[:3])))
        if not any(hits[:3]):
            misses.append({"question": question.text, "expected": question.files[0], "got": ranked[:3]})
    n = max(answerable, 1)
    return {
        "answerable": answerable,
        "unanswerable": unanswerable,
        "hit@1": hit1 / n,
        "hit@3": hit3 / n,
        "mrr@10": reciprocal / n,
        "ndcg@10": ndcg / n,
        "section_hit@3": section3 / n,
        "hit@3_by_kind": {kind: sum(values) / len(values) for kind, values in sorted(by_kind.items())},
        "unanswerable_fallback": right_fallbacks / max(unanswerable, 1),
        "answerable_fallback": wrong_fallbacks / n,
        "misses@3": misses,
    }


def halves(questions: list[Question], answers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Ranking figures on two fixed halves of the answerable questions: the 1st, 3rd, 5th... in the
    question file's order (`odd`: what ranking parameters were tuned on) and the 2nd, 4th...
    (`even`: never looked at while tuning), so a gain that holds on questions it was not tuned on
    can be told from one fitted to them."""
    answerable = [(q, a) for q, a in zip(questions, answers, strict=True) if q.answerable]
    figures = {}
    for name, start in (("odd", 0), ("even", 1)):
        half = answerable[start::2]
        scored = score([q for q, _ in half], [a for _, a in half])
        figures[name] = {key: scored[key] for key in ("answerable", "hit@1", "hit@3", "mrr@10", "ndcg@10")}
    return figures


def calibration(
    questions: list[Question], answers: list[dict[str, Any]], floor: float | None
) -> list[dict[str, float]]:
    """Fallback shares at each relevance threshold (the best passage's relevance below it: fall back),
    the identifier rule applied at its floor (search.py) as the bot applies it."""
    rows = []
    for step in range(4, 39):  # 0.10 to 0.95: e5's similarities sit higher than the others'
        threshold = step / 40
        falls = [
            answer["relevance"] < threshold
            and not (floor is not None and answer.get("identifier_match") and answer["relevance"] >= floor)
            for answer in answers
        ]
        right = [f for q, f in zip(questions, falls, strict=True) if not q.answerable]
        wrong = [f for q, f in zip(questions, falls, strict=True) if q.answerable]
        rows.append(
            {
                "threshold": threshold,
                "unanswerable_fallback": sum(right) / max(len(right), 1),
                "answerable_fallback": sum(wrong) / max(len(wrong), 1),
            }
        )
    return rows


def relevances(questions: list[Question], answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each question's relevance and identifier match: what the thresholds are calibrated on."""
    return [
        {
            "question": q.text,
            "answerable": q.answerable,
            "relevance": a["relevance"],
            "identifier_match": a.get("identifier_match", False),
            "fallback": a["fallback"],
        }
        for q, a in zip(questions, answers, strict=True)
    ]


def measure_set(name: str, systems: list[str], baseline_path: Path | None) -> dict[str, Any]:
    question_set = load_questions(name)
    corpus = corpus_for(question_set)
    problems = check_labels(question_set, corpus)
    if problems:
        sys.exit(f"labels of {name} do not match the files:\n  " + "\n  ".join(problems))
    questions = list(question_set.questions)
    figures: dict[str, Any] = {"corpus": str(corpus), "questions": len(questions), "systems": {}}
    for system in systems:
        path = baseline_path if system == "before" else ROOT / "bot_image"
        assert path is not None
        run = run_system(system, corpus, questions, path)
        scored = score(questions, run["answers"])
        scored["halves"] = halves(questions, run["answers"])
        # The same answers on the labels as first written, without the files pooled later.
        first = [replace(q, files=q.files[: len(q.files) - len(q.pooled)], pooled=()) for q in questions]
        scored["first_labels"] = {key: score(first, run["answers"])[key] for key in ("hit@3", "ndcg@10")}
        latency = percentiles_ms(run["latencies"])
        scored.update(
            {
                "chunks": run["chunks"],
                "documents": run["documents"],
                "index_seconds": run["index_seconds"],
                "embedding_seconds": run.get("embedding_seconds"),
                "rss_mib": run["rss_mib"],
                "query_p50_ms": latency["p50_ms"],
                "query_p99_ms": latency["p99_ms"],
            }
        )
        if system != "keyword" and any(answer["relevance"] is not None for answer in run["answers"]):
            model = MODELS[system.partition("@")[2]] if "@" in system else DEFAULT_MODEL
            scored["calibration"] = calibration(questions, run["answers"], model.identifier_threshold)
            if system == "hybrid":  # the default's, what the thresholds are calibrated on
                scored["relevances"] = relevances(questions, run["answers"])
        figures["systems"][system] = scored
    return figures


_COLUMNS = (
    "system",
    "Hit@1",
    "Hit@3",
    "MRR@10",
    "nDCG@10",
    "section@3",
    "unans. fallback",
    "ans. fallback",
    "p50 ms",
    "p99 ms",
)


def render(name: str, figures: dict[str, Any]) -> str:
    rows = []
    for system, f in figures["systems"].items():
        rows.append(
            (
                system,
                f["hit@1"],
                f["hit@3"],
                f["mrr@10"],
                f["ndcg@10"],
                f["section_hit@3"],
                f"{f['unanswerable_fallback']:.0%}",
                f"{f['answerable_fallback']:.0%}",
                f["query_p50_ms"],
                f["query_p99_ms"],
            )
        )
    head = f"{name}: {figures['questions']} questions over {figures['corpus']}"
    return head + "\n" + report.table(_COLUMNS, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.answer_quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sets", default="git-doc,repo-docs", help="question sets (benchmarks/quality/)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument(
        "--models",
        default="",
        help="other embedding models measured beside the bot's, as semantic@NAME and hybrid@NAME",
    )
    parser.add_argument("--smoke", action="store_true", help="this repository's docs only")
    parser.add_argument("--out", type=Path, default=report.RESULTS_DIR / "answer-quality.json")
    args = parser.parse_args(argv)
    sets = ["repo-docs"] if args.smoke else args.sets.split(",")
    systems = args.systems.split(",")
    if args.smoke and not _has_baseline():
        print(f"the baseline commit {BASELINE} is not in this (shallow) clone: measuring today's modes only")
        systems = [system for system in systems if system != "before"]
    models = [name for name in args.models.split(",") if name]
    if set(models) - set(MODELS):
        sys.exit(f"unknown models {sorted(set(models) - set(MODELS))}; choose from {', '.join(MODELS)}")
    systems += [f"{mode}@{model}" for model in models for mode in CANDIDATE_MODES]
    unknown = {system.split("@")[0] for system in systems} - set(SYSTEMS)
    if unknown:
        sys.exit(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "answer-quality",
        "machine": report.machine(),
        "versions": report.versions(["chatbot-operator", "tantivy", "onnxruntime", "tokenizers"]),
        "baseline": BASELINE,
        "sets": {},
    }
    with tempfile.TemporaryDirectory() as workdir:
        baseline_path = baseline_tree(Path(workdir)) if "before" in systems else None
        for name in sets:
            result["sets"][name] = measure_set(name, systems, baseline_path)
            print(render(name, result["sets"][name]), end="\n\n", flush=True)
    result["seconds"] = time.perf_counter() - started
    report.write(result, args.out)
    print(f"results written to {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
