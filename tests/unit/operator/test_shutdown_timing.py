"""A bot pod's shutdown: the Deployment's timings leave the bot time to drain its open streams."""

from typing import Any

import pytest
import yaml

from chatbot_operator import builders
from chatbot_operator.builders import Owner
from chatbot_server import __main__ as bot_main

OWNER = Owner(name="docs-assistant", namespace="docs", uid="0b7e-uid")


def pod_spec() -> dict[str, Any]:
    with open("examples/chatbot.yaml") as file:
        spec = yaml.safe_load(file)["spec"]
    manifest = builders.build_deployment(
        OWNER, spec, image="bot:1", settings_hash="h", corpus_commit="c" * 40, llm_key=None
    )
    pod: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return pod


def bot_drain_seconds(monkeypatch: pytest.MonkeyPatch) -> float:
    """The graceful-shutdown timeout the bot's entry point really gives uvicorn."""
    given: dict[str, Any] = {}
    monkeypatch.setattr(bot_main.uvicorn, "run", lambda app, **options: given.update(options))
    monkeypatch.setattr(bot_main.signal, "signal", lambda *_: None)
    bot_main.main(["--config", "/dev/null", "--corpus", "/nonexistent"])
    seconds: float = given["timeout_graceful_shutdown"]
    return seconds


def test_the_grace_period_covers_the_pre_stop_wait_and_the_bots_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pod = pod_spec()
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = bot_drain_seconds(monkeypatch)
    assert pre_stop >= 1  # endpoints need a moment to stop routing to the pod before it stops accepting
    assert drain >= 5
    # The kubelet's SIGKILL comes terminationGracePeriodSeconds after the preStop hook starts.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 5
