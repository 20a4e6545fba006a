"""The chart of docs/benchmarks.md: latency each target adds to a direct call, against concurrency.

Reads the bot benchmark's JSON and draws, for each target other than the direct call, the added
p50 (solid) and p99 (dashed) on log-log axes, with the issue's targets as horizontal lines.

    python -m benchmarks.chart     # benchmarks/results/bot-overhead.json -> docs/benchmarks/bot-overhead.png
    python -m benchmarks.chart --results /tmp/bot.json --out /tmp/bot.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from benchmarks.processes import ROOT
from benchmarks.report import RESULTS_DIR

COLOURS = {"bot": "tab:blue", "bot+retrieval": "tab:green", "floor": "tab:gray", "litellm": "tab:red"}


def render(result: dict[str, Any], out: Path) -> None:
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for name, by_level in result["added"].items():
        # Levels where no request finished within a measurement have no latency to draw.
        levels = sorted(int(level) for level in by_level if result["requests"][name][level]["rps"] > 0)
        if not levels:
            continue
        # An earlier commit of the bot (--compare-ref) in its own colour, apart from the floor's grey.
        colour = COLOURS.get(name, "tab:purple" if name.startswith("bot@") else "tab:brown")
        for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
            # Added latency can come out slightly negative at low load (noise); a log axis needs > 0.
            values = [max(by_level[str(level)][key], 0.01) for level in levels]
            axes.plot(levels, values, style, marker="o", color=colour, label=f"{name} {key[:3]}")
    axes.axhline(0.5, color="black", linewidth=0.8, linestyle=":", label="target: p50 0.5 ms")
    axes.axhline(3.0, color="black", linewidth=0.8, linestyle="-.", label="target: p99 3 ms")
    axes.set_xscale("log", base=2)
    levels = sorted({int(level) for by_level in result["added"].values() for level in by_level})
    axes.set_xticks(levels, [str(level) for level in levels])
    axes.set_yscale("log")
    axes.set_xlabel("concurrent connections")
    axes.set_ylabel("latency added to a direct call (ms)")
    machine = result["machine"]
    axes.set_title(
        f"Latency added by the bot (non-streamed completions)\n{machine['nproc']} CPUs, {machine['cpu']}, "
        f"load {machine['load_average'][0]}",
        fontsize=10,
    )
    axes.grid(True, which="both", linewidth=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chart", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "bot-overhead.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "bot-overhead.png")
    args = parser.parse_args(argv)
    render(json.loads(args.results.read_text()), args.out)
    print(f"chart written to {args.out}")


if __name__ == "__main__":
    main()
