"""What the operator benchmark measures besides time: the operator's API writes and its memory.

Writes are counted by the API server, from its audit log (hack/cluster.sh logs every write with
the user who made it): Kopf's own patches and Events count as much as ours. On a cluster without
that log, the operator's own counter (chatbot_operator_api_writes_total) is the fallback; it
misses Kopf's writes, and the results say which source was used.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Recorded only where the audit policy logs reads (hack/cluster.sh does, for service accounts).
READ_VERBS = frozenset({"get", "list"})
MIB = 1024 * 1024


@dataclass
class AuditLog:
    """The API server's JSON audit log, read from a position on.

    The API server rotates it at 100 MB (audit.log is renamed audit-<time>.log), which a 1,000-bot
    run passes: a position is the file's inode and an offset, and reading follows the rotation.
    """

    path: Path

    def offset(self) -> tuple[int, int]:
        if not self.path.exists():
            return (0, 0)
        stat = self.path.stat()
        return (stat.st_ino, stat.st_size)

    def _read_since(self, position: tuple[int, int]) -> bytes:
        inode, offset = position
        files = sorted(
            self.path.parent.glob(f"{self.path.stem}*{self.path.suffix}"), key=lambda f: f.stat().st_mtime
        )
        start = next((i for i, f in enumerate(files) if f.stat().st_ino == inode), None)
        if start is None:  # not there yet, or rotated away: the current file is all there is
            files, start, offset = [self.path], 0, 0
        chunks = []
        for i, file in enumerate(files[start:]):
            with file.open("rb") as log:
                log.seek(offset if i == 0 else 0)
                chunks.append(log.read())
        return b"".join(chunks)

    def writes_since(
        self, position: tuple[int, int], username: str, namespace: str, verbs: frozenset[str] = WRITE_VERBS
    ) -> Counter[str]:
        """Requests (writes by default) by `username` in `namespace` after `position`, by
        "verb resource[/subresource]"."""
        counts: Counter[str] = Counter()
        data = self._read_since(position)
        # The last line may still be being written; it is counted on the next read.
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            event = json.loads(line)
            ref = event.get("objectRef", {})
            if (
                event.get("verb") not in verbs
                or event.get("user", {}).get("username") != username
                or ref.get("namespace") != namespace
            ):
                continue
            resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if "subresource" in ref else "")
            counts[f"{event['verb']} {resource}"] += 1
        return counts


def read_metrics(port: int) -> dict[str, float]:
    """The operator's Prometheus samples, summed over labels, by sample name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


@dataclass(frozen=True)
class Memory:
    rss_mib: float
    peak_rss_mib: float


def read_memory(pid: int) -> Memory:
    """Resident memory now and its peak (VmHWM) since the process started, from /proc."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return Memory(round(fields["VmRSS"] / MIB, 1), round(fields["VmHWM"] / MIB, 1))


def wait_quiet(count_writes: Callable[[], int], quiet: float, timeout: float) -> int:
    """Waits until `count_writes()` has not changed for `quiet` seconds; returns the final count."""
    deadline = time.monotonic() + timeout
    last = count_writes()
    changed_at = time.monotonic()
    while time.monotonic() - changed_at < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator kept writing for {timeout:.0f}s ({last} writes so far)")
        time.sleep(0.5)
        current = count_writes()
        if current != last:
            last, changed_at = current, time.monotonic()
    return last


def read_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_control_plane_pids(cluster_dir: Path) -> dict[str, int]:
    """The PIDs hack/cluster.sh recorded ("<pid> <name> <binary>" lines), by component name."""
    pids_file = cluster_dir / "pids"
    if not pids_file.exists():
        return {}
    return {
        line.split()[1]: int(line.split()[0]) for line in pids_file.read_text().splitlines() if line.strip()
    }


@dataclass
class CpuMeter:
    """CPU seconds used by some processes between start() and read()."""

    pids: dict[str, int]
    _start: dict[str, float] | None = None

    def start(self) -> CpuMeter:
        self._start = {name: read_cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def read(self) -> dict[str, float]:
        assert self._start is not None
        return {name: round(read_cpu_seconds(pid) - self._start[name], 1) for name, pid in self.pids.items()}
