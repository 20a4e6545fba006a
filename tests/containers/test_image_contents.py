"""What each image holds: its own dependencies and nothing else, no build tools, no caches.

Image size is paid on every node that pulls an image; these are the things that crept in before
(docs/images.md, "What the images hold")."""

from __future__ import annotations

import json

import pytest

from tests.containers.pod import docker

# Top-level modules only one of the images may hold.
BOT_ONLY = ("chatbot_server", "fastapi", "uvicorn", "openai", "tiktoken", "tantivy", "pydantic_settings")
OPERATOR_ONLY = ("chatbot_operator", "kopf", "kubernetes", "azure.identity", "azure.appconfiguration", "msal")
# Present in a build stage, never in a runtime image.
BUILD_TOOLS = ("strip", "gcc", "cc", "make", "ld")

_PROBE = """
import importlib.util, json, os, shutil, sys
modules, tools = sys.argv[1].split(","), sys.argv[2].split(",")
def has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False
print(json.dumps({
    "python": sys.executable,
    "modules": [m for m in modules if has(m)],
    "tools": [t for t in tools if shutil.which(t)],
    "pip_in_venv": os.path.exists(os.path.join(sys.prefix, "bin", "pip")),
    "leftovers": [p for p in ("/wheels", "/src", "/root/.cache", "/tmp/pip") if os.path.exists(p)],
}))
"""


def probe(image: str, modules: tuple[str, ...]) -> dict[str, object]:
    result = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", image,
        "-c", _PROBE, ",".join(modules), ",".join(BUILD_TOOLS),
    )  # fmt: skip
    found: dict[str, object] = json.loads(result.stdout)
    return found


@pytest.mark.parametrize(
    ("image_fixture", "foreign"), [("bot_image", OPERATOR_ONLY), ("operator_image", BOT_ONLY)]
)
def test_an_image_holds_neither_the_other_images_dependencies_nor_build_tools_nor_caches(
    image_fixture: str, foreign: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    image: str = request.getfixturevalue(image_fixture)
    found = probe(image, foreign)
    assert found["modules"] == []
    assert found["tools"] == []
    assert found["leftovers"] == []
    # The application's virtualenv has no installer: nothing installs at run time.
    assert found["python"] == "/opt/chatbot/venv/bin/python"
    assert found["pip_in_venv"] is False


@pytest.mark.parametrize(
    ("image_fixture", "own"), [("bot_image", BOT_ONLY), ("operator_image", OPERATOR_ONLY)]
)
def test_an_image_holds_its_own_dependencies(
    image_fixture: str, own: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    # The probe above can fail: the same lookup finds each image's own modules.
    image: str = request.getfixturevalue(image_fixture)
    assert probe(image, own)["modules"] == list(own)
