"""The answer-quality benchmark's corpora and questions: a Debian docs package unpacked at run time,
and labels checked against the files before anything is measured.

A package is fetched with `apt-get download` (no root, no dpkg lock: nothing is installed) into
the cache directory and unpacked with `dpkg-deb -x`; the pages named by the question file's
`include` patterns are copied into a corpus directory, keeping their relative paths. Nothing of it
is committed.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chatbot_server.chunking import chunk_document, iter_documents

QUESTIONS_DIR = Path(__file__).resolve().parent / "quality"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chatbot-operator" / "quality"


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    kind: str  # how-to, why, troubleshooting, keyword, unanswerable
    files: tuple[str, ...]  # relevant files, relative to the corpus directory
    section: str  # a heading on the path of the passage that answers
    evidence: str  # a phrase of the answer, checked in the file
    # Files found to answer it after the labels were first written, each with its own section and
    # phrase, checked like the first file's: (file, section, evidence).
    pooled: tuple[tuple[str, str, str], ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.files)


@dataclass(frozen=True, slots=True)
class QuestionSet:
    name: str
    package: str | None
    root: str
    include: tuple[str, ...]
    questions: tuple[Question, ...]


def load_questions(name: str) -> QuestionSet:
    raw: dict[str, Any] = yaml.safe_load((QUESTIONS_DIR / f"{name}.yaml").read_text())
    questions = []
    for item in raw["questions"]:
        answerable = item.get("answerable", True)
        pooled = tuple((p["file"], p["section"], p["evidence"]) for p in item.get("pooled", ()))
        questions.append(
            Question(
                text=item["q"],
                kind=item["kind"],
                files=tuple(item["files"]) + tuple(p[0] for p in pooled) if answerable else (),
                section=item.get("section", ""),
                evidence=item.get("evidence", ""),
                pooled=pooled,
            )
        )
    return QuestionSet(name, raw.get("package"), raw["root"], tuple(raw["include"]), tuple(questions))


def package_corpus(question_set: QuestionSet) -> Path:
    """The corpus directory of a Debian package's pages, fetched and unpacked once per version."""
    assert question_set.package is not None
    package = question_set.package
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE_DIR.glob(f"{package}_*.deb"))
    if not debs:
        download = ["apt-get", "download", package]
        if subprocess.run(download, cwd=CACHE_DIR, capture_output=True).returncode != 0:
            # A fresh machine may have no package lists yet.
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=CACHE_DIR, check=True, capture_output=True)
        debs = sorted(CACHE_DIR.glob(f"{package}_*.deb"))
    deb = debs[-1]
    corpus = CACHE_DIR / f"{deb.stem}-corpus"
    if corpus.is_dir():
        return corpus
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as unpacked:
        subprocess.run(["dpkg-deb", "-x", str(deb), unpacked], check=True)
        root = Path(unpacked) / question_set.root
        staging = Path(unpacked) / "corpus"
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and any(fnmatch.fnmatchcase(relative, p) for p in question_set.include):
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        staging.rename(corpus)
    return corpus


def package_version(corpus: Path) -> str:
    """The Debian version a package corpus was unpacked from (from its directory name)."""
    name = corpus.name.removesuffix("-corpus")
    return name.split("_", 1)[1].replace("%3a", ":") if "_" in name else "repository"


def check_labels(question_set: QuestionSet, corpus: Path) -> list[str]:
    """What is wrong with the labels: a missing file, or an evidence phrase not in the named section."""
    wanted = {path for question in question_set.questions for path in question.files}
    sections: dict[str, list[tuple[str, str]]] = {}
    for path, text in iter_documents(corpus):
        if path in wanted:
            sections[path] = [(chunk.title, _folded(chunk.text)) for chunk in chunk_document(path, text)]
    problems = []
    for question in question_set.questions:
        for path in question.files:
            if path not in sections:
                problems.append(f"{question.text!r}: {path} is not in the corpus")
        if not question.files:
            continue
        for path, section, evidence in (
            (question.files[0], question.section, question.evidence),
            *question.pooled,
        ):
            folded, heading = _folded(evidence), section.lower()
            if not any(folded in text and heading in title.lower() for title, text in sections.get(path, [])):
                problems.append(
                    f"{question.text!r}: {evidence!r} is not under a heading holding {section!r} in {path}"
                )
    return problems


def _folded(text: str) -> str:
    return " ".join(text.lower().split())
