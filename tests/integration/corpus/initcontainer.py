"""The corpus init container, run as a local process from its manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot_operator.builders import CORPUS_CREDENTIALS_VOLUME as CREDENTIALS_VOLUME
from chatbot_operator.builders import CORPUS_VOLUME


@dataclass(frozen=True)
class InitContainerRun:
    returncode: int
    stdout: str
    stderr: str
    corpus_dir: Path
    volumes: Mapping[str, Path]
    termination_message: str | None


def run_init_container(
    container: Mapping[str, Any], workdir: Path, *, secret_data: Mapping[str, str] | None = None
) -> InitContainerRun:
    """Runs the container's own command and env as a local process.

    Each volume mount becomes a directory under `workdir` and the termination message path a
    file there; env values naming those paths are redirected, nothing else is changed. The
    credentials Secret volume gets one file per key of `secret_data`, as the kubelet writes it.
    """
    redirects: dict[str, str] = {}
    volumes: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        local = workdir / "volumes" / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        volumes[mount["name"]] = local
        redirects[mount["mountPath"]] = str(local)
    if secret_data is not None:
        for key, value in secret_data.items():
            (volumes[CREDENTIALS_VOLUME] / key).write_text(value)
    termination_log = workdir / "termination-log"
    redirects[container["terminationMessagePath"]] = str(termination_log)
    env = {item["name"]: redirects.get(item["value"], item["value"]) for item in container["env"]}
    # `python` on PATH is this test run's interpreter, as it is the image's in the pod.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    result = subprocess.run(
        container["command"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return InitContainerRun(
        returncode=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
        corpus_dir=volumes[CORPUS_VOLUME],
        volumes=volumes,
        termination_message=termination_log.read_text() if termination_log.exists() else None,
    )


def files_under(directory: Path) -> dict[str, str]:
    """Relative path -> text of every file under `directory`."""
    return {
        path.relative_to(directory).as_posix(): path.read_text(errors="replace")
        for path in sorted(directory.rglob("*"))
        if path.is_file() or path.is_symlink()
    }
