"""Everything the end-to-end suite produces, kept for one search: does any secret show up?

For the whole session, `kubectl get --watch` records every version of every Secret, ChatBot,
Event and ConfigMap in the cluster (objects of deleted test namespaces included), and the Cluster
helper appends the output of every kubectl and helm command to a transcript. At the end,
`find_leaks` takes the secret values from the recorded Opaque Secrets (and the `Secret=` part of
App Configuration connection strings) and searches for them in: the ChatBots (spec and status,
so condition messages), the Events, the ConfigMaps, the transcript (error messages included),
the operator logs and the control plane's component logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.cluster import Cluster

RECORDED_KINDS = ("secrets", "chatbots", "events", "configmaps")
# Shorter values (flags, "true", small numbers) would be found everywhere by chance.
MIN_SECRET_LENGTH = 12
# Types that hold credentials of the platform (tokens, Helm releases), not values our tests chose.
IGNORED_SECRET_TYPES = {"kubernetes.io/service-account-token", "helm.sh/release.v1"}
_CONNECTION_STRING_SECRET = re.compile(r"(?:^|;)Secret=([^;]+)")


@dataclass
class ClusterRecorder:
    cluster: Cluster
    directory: Path
    _stop: threading.Event = field(default_factory=threading.Event)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def path(self, kind: str) -> Path:
        return self.directory / f"{kind}.json-stream"

    @property
    def transcript(self) -> Path:
        return self.directory / "commands.txt"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind in RECORDED_KINDS:
            thread = threading.Thread(target=self._watch, args=(kind,), name=f"record-{kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _watch(self, kind: str) -> None:
        # The API server ends every watch after 30-60 minutes; kubectl then exits and is started
        # again, listing every object once more, so nothing alive is missed.
        with self.path(kind).open("ab") as out:
            while not self._stop.is_set():
                process = subprocess.Popen(
                    [str(self.cluster.bin_dir / "kubectl"), "get", kind, "-A", "--watch", "-o", "json"],
                    stdout=out,
                    stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL,
                    env=self.cluster.env,
                )
                with self._lock:
                    self._processes[kind] = process
                while process.poll() is None and not self._stop.wait(1.0):
                    pass
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=10)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def objects(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every recorded version of objects of `kind`, in order."""
        path = self.path(kind)
        text = path.read_text(errors="replace") if path.exists() else ""
        decoder = json.JSONDecoder()
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                return
            try:
                obj, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return  # a write cut short when kubectl was stopped
            if isinstance(obj, dict):
                yield obj


@contextlib.contextmanager
def recording(cluster: Cluster, directory: Path) -> Iterator[ClusterRecorder]:
    recorder = ClusterRecorder(cluster, directory)
    cluster.transcript = recorder.transcript
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()
        cluster.transcript = None


def secret_values(secrets: Iterable[dict[str, Any]]) -> set[str]:
    """The values our tests put into Secrets, decoded; connection strings also by their key part."""
    values: set[str] = set()
    for secret in secrets:
        if secret.get("type", "Opaque") in IGNORED_SECRET_TYPES:
            continue
        for encoded in (secret.get("data") or {}).values():
            try:
                value = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            for candidate in [value, *value.splitlines(), *_CONNECTION_STRING_SECRET.findall(value)]:
                candidate = candidate.strip()
                if len(candidate) >= MIN_SECRET_LENGTH:
                    values.add(candidate)
    return values


@dataclass(frozen=True)
class Leak:
    where: str
    line: int
    secret_hint: str  # the first characters only: the report must not leak it either

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: a secret starting {self.secret_hint!r}"


def find_leaks(values: set[str], places: dict[str, str]) -> list[Leak]:
    leaks = []
    for where, text in places.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for value in values:
                if value in line:
                    leaks.append(Leak(where, number, value[:4] + "..."))
    return leaks


def searched_places(recorder: ClusterRecorder, log_files: Iterable[Path]) -> dict[str, str]:
    """Name -> text of everything the suite produced, except the Secrets themselves."""
    places: dict[str, str] = {}
    for kind in RECORDED_KINDS:
        if kind != "secrets":
            places[f"recorded {kind}"] = recorder.path(kind).read_text(errors="replace")
    if recorder.transcript.exists():
        places["kubectl and helm output"] = recorder.transcript.read_text(errors="replace")
    for path in log_files:
        places[str(path)] = path.read_text(errors="replace")
    return places
