"""py-spy on the running operator: every thread sampled from outside (Kopf runs sync handlers in
a thread pool, which in-process profilers that follow one thread miss), summed per function."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 50  # per second: enough over a run of tens of seconds, light on a shared machine
# Leaf frames of a thread that waits (on the API server, on its queue): left out of the busy
# profile, which is what the operator itself costs.
WAITING = (
    "SSLSocket.read", "SSLSocket.recv", "SSLObject.read", "Selector.select", "do_poll",
    "Condition.wait", "(threading.py", "_worker (concurrent/futures/thread.py:81)",
)  # fmt: skip


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    return found


@dataclass
class Profile:
    """py-spy recording one process into collapsed stacks ("frame;frame;... count" lines)."""

    pid: int
    output: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Profile:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(SAMPLE_RATE),
             "--output", str(self.output), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        """Stops sampling; py-spy writes its file on SIGINT."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            _, stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {stderr.decode(errors='replace')[-2000:]}")


def summarize(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """The functions with the most busy samples (not waiting), inclusive (on the stack) and self
    (on top), in percent of all busy samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = waited = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        waited += count
        if any(marker in frames[-1] for marker in WAITING):
            continue
        waited -= count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        total += count
    if total == 0:
        return {"busy_samples": 0, "waiting_samples": waited, "inclusive": [], "self": []}

    def percent(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {
        "busy_samples": total,
        "waiting_samples": waited,
        "inclusive": percent(inclusive),
        "self": percent(own),
    }


if __name__ == "__main__":
    print(
        json.dumps(summarize(Path(sys.argv[1]), top=int(sys.argv[2]) if len(sys.argv) > 2 else 25), indent=1)
    )
