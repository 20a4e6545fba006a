"""Revision history: what each served revision of a ChatBot was, and how to return to it. Pure.

A revision is what one rollout served: the settings revision (the hash that rolls the pods) and
the corpus commit. When a rollout completes, the revision it served is recorded in
status.revisions (at most MAX_REVISIONS, newest last): its number, the ChatBot's generation, the
model, a digest and the first line of the system prompt, the settings and App Configuration
revisions, the corpus commit, when it started and stopped serving, and the golden-question outcome.

Each recorded revision also gets a restore document: a JSON patch for `kubectl patch --type json`
that puts back exactly what it served: the system prompt (inlined, even if it came from a
ConfigMap), the model, generation, LLM, retrieval, FAQ and fallback settings, and the corpus
pinned to the served commit (even if the branch has moved since). The documents live in the
ChatBot's `<name>-revisions` ConfigMap (status stays small), one key per revision;
docs/chatbot-reference.md#rollback shows the one command that applies one.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chatbot_operator import naming
from chatbot_operator.builders import Owner, build_metadata

MAX_REVISIONS: Final = 10
# What a revision served, restored wholesale by a rollback: every spec field the bot's answers
# depend on. Absent in the revision: removed (a null value, which the API server prunes). Not the
# golden questions: a rollback is a rollout like any other, gated by today's questions.
RESTORED_FIELDS: Final = (
    "systemPrompt",
    "systemPromptFrom",
    "model",
    "greeting",
    "maxContextTokens",
    "generation",
    "llm",
    "retrieval",
    "faq",
    "fallbackMessage",
    "corpus",
)
# The CRD's limit on spec.systemPrompt: a longer prompt (from a ConfigMap) cannot be inlined.
MAX_INLINE_PROMPT: Final = 32768
PASSED: Final = "Passed"
NO_GOLDEN_QUESTIONS: Final = "NoGoldenQuestions"


@dataclass(frozen=True)
class Candidate:
    """The revision the last reconcile planned: recorded once a rollout has served it."""

    settings_revision: str
    corpus_commit: str | None
    generation: int
    model: str
    prompt_digest: str
    prompt_first_line: str
    app_configuration_revision: str | None
    golden_questions: int
    restore: str  # the JSON patch, serialized

    def same_revision(self, entry: Mapping[str, Any]) -> bool:
        return (entry.get("settingsRevision"), entry.get("corpusCommit")) == (
            self.settings_revision,
            self.corpus_commit,
        )


def build_candidate(
    spec: Mapping[str, Any],
    *,
    generation: int,
    settings_revision: str,
    model: str,
    system_prompt: str,
    corpus_commit: str | None,
    app_configuration_revision: str | None,
) -> Candidate:
    lines = system_prompt.strip().splitlines()
    first_line = lines[0] if lines else ""
    return Candidate(
        settings_revision=settings_revision,
        corpus_commit=corpus_commit,
        generation=generation,
        model=model,
        prompt_digest="sha256:" + hashlib.sha256(system_prompt.encode()).hexdigest()[:16],
        prompt_first_line=first_line if len(first_line) <= 120 else first_line[:119] + "…",
        app_configuration_revision=app_configuration_revision,
        golden_questions=len(spec.get("goldenQuestions") or []),
        restore=json.dumps(build_restore_patch(spec, system_prompt, corpus_commit), sort_keys=True),
    )


def build_restore_patch(
    spec: Mapping[str, Any], system_prompt: str, corpus_commit: str | None
) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902) that sets every restored field to what this revision served.

    `add` replaces a field wholesale (nested keys added since go too); a null value for a field the
    revision did not have is pruned by the API server, so the field is removed.
    """
    served: dict[str, Any] = {field: spec.get(field) for field in RESTORED_FIELDS}
    if len(system_prompt) <= MAX_INLINE_PROMPT:
        served["systemPrompt"], served["systemPromptFrom"] = system_prompt, None
    if served["corpus"] and corpus_commit:
        served["corpus"] = {**served["corpus"], "ref": corpus_commit}
    return [{"op": "add", "path": f"/spec/{field}", "value": value} for field, value in served.items()]


def record_served(
    history: Sequence[Mapping[str, Any]], candidate: Candidate, now: str
) -> list[dict[str, Any]] | None:
    """The history with `candidate` recorded as serving since `now`, the previous one as
    serving until then; None when it is already the newest entry (nothing to write)."""
    if history and candidate.same_revision(history[-1]):
        return None
    entries = [dict(entry) for entry in history]
    if entries:
        entries[-1].setdefault("servingUntil", now)
    number = int(entries[-1].get("revision", 0)) + 1 if entries else 1
    entry: dict[str, Any] = {
        "revision": number,
        "generation": candidate.generation,
        "model": candidate.model,
        "promptDigest": candidate.prompt_digest,
        "promptFirstLine": candidate.prompt_first_line,
        "settingsRevision": candidate.settings_revision,
        "servingFrom": now,
        "goldenQuestions": PASSED if candidate.golden_questions else NO_GOLDEN_QUESTIONS,
    }
    if candidate.corpus_commit:
        entry["corpusCommit"] = candidate.corpus_commit
    if candidate.app_configuration_revision:
        entry["appConfigurationRevision"] = candidate.app_configuration_revision
    entries.append(entry)
    return entries[-MAX_REVISIONS:]


def restore_key(revision: int) -> str:
    return f"revision-{revision}"


def build_revisions_data(
    history: Sequence[Mapping[str, Any]], stored: Mapping[str, str], candidate: Candidate
) -> dict[str, str]:
    """The ConfigMap's data: the restore document of each revision still in the history (the newest
    being `candidate`'s); older ones drop out with their entries."""
    newest = int(history[-1]["revision"])
    data = {
        restore_key(int(entry["revision"])): stored.get(restore_key(int(entry["revision"])))
        for entry in history
    }
    data[restore_key(newest)] = candidate.restore  # fmt: skip
    return {key: value for key, value in data.items() if value is not None}


def build_revisions_config_map(owner: Owner, data: Mapping[str, str]) -> dict[str, Any]:
    """The ChatBot's `<name>-revisions` ConfigMap: the restore documents, one key per revision."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": build_metadata(owner, naming.revisions_config_map_name(owner.name)),
        "data": dict(data),
    }


def is_serving(status: Mapping[str, Any]) -> bool:
    """Whether a status says a rollout completed: every replica runs the revision it describes."""
    by_type = {c.get("type"): c for c in status.get("conditions") or []}
    available, progressing = by_type.get("Available") or {}, by_type.get("Progressing") or {}
    return available.get("status") == "True" and progressing.get("reason") == "RolloutComplete"


def newly_served(status: Mapping[str, Any], candidate: Candidate | None) -> bool:
    """Whether `status` shows `candidate` (the last plan) serving: a revision to record."""
    if candidate is None or not is_serving(status):
        return False
    served = ((status.get("config") or {}).get("revision"), (status.get("corpus") or {}).get("commit"))
    return served == (candidate.settings_revision, candidate.corpus_commit)
