"""`make bench` draws its figures: throughput of each phase (as a share of the yardstick
measured on the same machine in the same run) and its latency, one SVG beside the JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def draw(result: dict[str, Any], path: Path) -> None:
    figures = result["figures"]
    names = list(figures)
    rates = [figures[n].get("heartbeats_per_s") or figures[n]["requests_per_s"] for n in names]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    y = range(len(names))
    bars = left.barh(list(y), rates, color="#0969da")
    labels = [_share(figures[n], r) for n, r in zip(names, rates, strict=True)]
    left.bar_label(bars, labels=labels, fontsize=8)
    left.set_yticks(list(y), names)
    left.invert_yaxis()
    left.set_xlabel("heartbeats (or requests) per second")
    left.set_title("Throughput, and its share of the yardstick (same machine, same run)")
    left.margins(x=0.45)
    height = 0.38
    p50 = [figures[n]["p50"] for n in names]
    p99 = [figures[n]["p99"] for n in names]
    right.barh([i - height / 2 for i in y], p50, height, label="p50", color="#8250df")
    right.barh([i + height / 2 for i in y], p99, height, label="p99", color="#bf8700")
    right.set_yticks(list(y), names)
    right.invert_yaxis()
    right.set_xlabel("milliseconds (wrk at saturation)")
    right.set_title("Latency")
    right.legend()
    setup = result["setup"]
    figure.suptitle(
        f"make bench, {result['when']}: {setup['web_workers']} web workers,"
        f" {setup['connections']} connections, {result['machine']['cpus']} CPUs",
        fontsize=9,
    )
    figure.savefig(path, format="svg")
    plt.close(figure)


def _share(figures: dict[str, float], rate: float) -> str:
    if "x_yardstick" in figures:
        return f"{rate:,.0f}/s ({figures['x_yardstick']:.2f} of the yardstick)"
    if "x_healthz" in figures:
        return f"{rate:,.0f}/s ({figures['x_healthz']:.2f} of healthz)"
    return f"{rate:,.0f}/s"
