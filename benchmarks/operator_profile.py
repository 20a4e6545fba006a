"""py-spy on the running operator: every thread sampled from outside (Kopf runs sync handlers in
a thread pool, which in-process profilers that follow one thread miss), summed per function."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 50  # per second: enough over a run of tens of seconds, light on a shared machine


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


def summarize(collapsed: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The functions with the most samples, inclusive (on the stack) and self (on top), in percent
    of all samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if total == 0:
        return {"inclusive": [], "self": []}

    def percent(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {"inclusive": percent(inclusive), "self": percent(own)}
