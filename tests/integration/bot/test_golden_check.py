"""`python -m chatbot_server.golden_check`, run as the init container runs it: a real process with
the pod's environment and settings file, asking a real bot pipeline (offline, or the fake LLM)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.integration.bot.conftest import FAQ
from tests.support.bot_server import BotServer
from tests.support.embedding_model import fetch_model
from tests.support.fake_llm import FakeLLM

import chatbot_contract as contract
from chatbot_operator.bot_settings import render_bot_settings

CHECK_TIMEOUT_SECONDS = 60
REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "examples" / "chatbot.yaml"
GOLDEN = [
    {"question": "What are your support hours?", "expect": {"faq_answer": True}},
    {
        "question": "How do I install the client?",
        "expect": {"source": "guides/install.md", "contains": ["pip install"]},
    },
    {"question": "What is the CEO's home address?", "expect": {"fallback": True}},
]


@dataclass
class CheckResult:
    exit_code: int
    termination_message: str
    stderr: str


def run_check(tmp_path: Path, corpus: Path, settings: dict[str, Any]) -> CheckResult:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"name": "docs-assistant", **settings}))
    termination_log = tmp_path / "termination-log"
    termination_log.write_text("")
    env = {key: value for key, value in os.environ.items() if not key.startswith(contract.ENV_PREFIX)}
    env.update(
        {
            contract.CONFIG_FILE_ENV: str(config),
            contract.CORPUS_DIR_ENV: str(corpus),
            contract.API_KEYS_DIR_ENV: "",
            contract.GOLDEN_TERMINATION_LOG_ENV: str(termination_log),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "chatbot_server.golden_check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
        check=False,
    )
    return CheckResult(done.returncode, termination_log.read_text(), done.stderr)


def test_an_offline_bot_passes_its_golden_questions_then_a_faq_edit_fails_one(
    tmp_path: Path, corpus: Path
) -> None:
    settings = {"faq": FAQ, "golden_questions": GOLDEN}
    passed = run_check(tmp_path, corpus, settings)
    assert (passed.exit_code, passed.termination_message) == (0, ""), passed.stderr

    edited = [{**FAQ[0], "answer": "Whenever we feel like it."}, FAQ[1]]
    golden = [{**GOLDEN[0], "expect": {"contains": ["9am"]}}, *GOLDEN[1:]]
    failed = run_check(tmp_path, corpus, {"faq": edited, "golden_questions": golden})
    assert failed.exit_code == 1
    assert failed.termination_message == (
        "GoldenQuestionsFailed: golden question 'What are your support hours?' expected the text "
        "'9am'; the answer was 'Whenever we feel like it.'"
    )


def test_with_an_llm_a_bad_answer_fails_and_a_fixed_one_passes(
    tmp_path: Path, corpus: Path, fake_llm: FakeLLM
) -> None:
    golden = [
        {"question": "What are your support hours?", "expect": {"faq_answer": True}},
        {"question": "How do I install the client?", "expect": {"not_contains": ["npm"]}},
    ]
    settings = fake_llm.bot_settings(faq=FAQ, golden_questions=golden)
    fake_llm.answers = {
        "What are your support hours?": "We are there Monday to Friday, 9AM to 5PM.",
        "How do I install the client?": "Run pip install example.",
    }
    assert run_check(tmp_path, corpus, settings).exit_code == 0
    # The questions went to the model, with the bot's own prompt (the FAQ given as authoritative).
    asked = [request["messages"][-1]["content"] for request in fake_llm.requests]
    assert asked == ["What are your support hours?", "How do I install the client?"]
    assert "Authoritative answers" in fake_llm.requests[0]["messages"][0]["content"]

    fake_llm.answers["How do I install the client?"] = "Run npm install example."  # a worse model
    failed = run_check(tmp_path, corpus, settings)
    assert failed.exit_code == 1
    assert failed.termination_message.startswith(
        "GoldenQuestionsFailed: golden question 'How do I install the client?' expected no text 'npm'"
    )

    fake_llm.answers["How do I install the client?"] = "Run pip install example."  # fixed
    assert run_check(tmp_path, corpus, settings).exit_code == 0


def test_an_unreachable_llm_fails_the_check_saying_so(
    tmp_path: Path, corpus: Path, fake_llm: FakeLLM
) -> None:
    golden = [{"question": "How do I install the client?", "expect": {"contains": ["pip"]}}]
    fake_llm.play("500")
    failed = run_check(tmp_path, corpus, fake_llm.bot_settings(golden_questions=golden))
    assert failed.exit_code == 1
    assert "the LLM failed" in failed.termination_message


def test_hybrid_golden_questions_wait_for_the_vectors_and_hand_them_to_the_bot(
    tmp_path: Path, corpus: Path, start_bot: Callable[..., BotServer], caplog: pytest.LogCaptureFixture
) -> None:
    search = {
        "retrieval_mode": "hybrid",
        "embedding_model_dir": fetch_model(),
        "vectors_dir": tmp_path / "vectors",
    }
    golden = [{"question": "How do I install the client?", "expect": {"source": "guides/install.md"}}]
    # Two threads, as the operator gives a check whose container may use two cores.
    settings = {"golden_questions": golden, "embedding_threads": 2, **{k: str(v) for k, v in search.items()}}
    checked = run_check(tmp_path, corpus, settings)
    assert (checked.exit_code, checked.termination_message) == (0, ""), checked.stderr
    assert "embedding the corpus on 2 thread(s)" in checked.stderr
    # The check asked once the vectors were ready (it left them when they were computed).
    (handed,) = (tmp_path / "vectors").iterdir()
    assert handed.suffix == ".npy"

    with caplog.at_level(logging.INFO, logger="chatbot_server.state"):
        bot = start_bot(corpus_dir=corpus, **search)
        deadline = time.monotonic() + 30
        while not re.search(r"^chatbot_corpus_vectors [1-9]", httpx.get(f"{bot.url}/metrics").text, re.M):
            assert time.monotonic() < deadline, "the bot never switched to hybrid search"
            time.sleep(0.05)
    assert re.search(r"took the \d+ chunk vectors the golden check computed", caplog.text)


def test_settings_the_bot_cannot_load_are_reported_as_a_check_error(tmp_path: Path, corpus: Path) -> None:
    failed = run_check(tmp_path, corpus, {"golden_questions": [{"question": "Hi?", "expect": {}}]})
    assert failed.exit_code == 2
    assert failed.termination_message.startswith("GoldenQuestionsError: invalid settings")
    assert "golden_questions.0.expect" in failed.termination_message


def test_the_examples_golden_questions_pass_against_the_example_corpus(tmp_path: Path) -> None:
    # The example serves this repository's docs (corpus.paths): the same files, offline.
    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    corpus = tmp_path / "corpus"
    for pattern in spec["corpus"]["paths"]:
        for path in REPO_ROOT.glob(pattern):
            target = corpus / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    settings = render_bot_settings("docs-assistant", spec, spec["systemPrompt"])
    assert len(settings["golden_questions"]) == 2
    result = run_check(tmp_path, corpus, settings)
    assert (result.exit_code, result.termination_message) == (0, ""), result.stderr
