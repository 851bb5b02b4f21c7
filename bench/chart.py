"""`make bench` draws its figures: throughput (as a share of `/healthz` on the same server, in
the same run) and latency of each endpoint, one SVG beside the JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def draw(result: dict[str, Any], path: Path) -> None:
    figures = result["figures"]
    names = list(figures)
    rates = [figures[n]["requests_per_s"] for n in names]
    base = figures["healthz"]["requests_per_s"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    bars = left.bar(names, rates, color=["#888888", "#0969da", "#1a7f37"][: len(names)])
    left.bar_label(
        bars, labels=[f"{r:,.0f}/s\n({r / base:.2f} of healthz)" for r in rates], fontsize=8
    )
    left.set_ylabel("requests per second")
    left.set_title("Throughput (and its share of /healthz, same server)")
    left.margins(y=0.25)
    x = range(len(names))
    width = 0.38
    p50 = [figures[n]["p50"] for n in names]
    p99 = [figures[n]["p99"] for n in names]
    right.bar([i - width / 2 for i in x], p50, width, label="p50", color="#8250df")
    right.bar([i + width / 2 for i in x], p99, width, label="p99", color="#bf8700")
    right.set_xticks(list(x), names)
    right.set_ylabel("milliseconds")
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
