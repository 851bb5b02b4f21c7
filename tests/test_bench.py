"""`make bench` draws what it measured."""

from __future__ import annotations

from pathlib import Path

from bench import chart


def test_the_chart_shows_each_endpoint_and_its_share_of_healthz(tmp_path: Path) -> None:
    figures = {
        "healthz": {"requests_per_s": 20_000.0, "p50": 1.5, "p99": 6.0},
        "ingest": {"requests_per_s": 4_000.0, "p50": 12.0, "p99": 80.0},
        "resume": {"requests_per_s": 6_000.0, "p50": 8.0, "p99": 50.0},
    }
    result = {
        "when": "2026-11-28T13:00:00Z",
        "machine": {"cpus": 2},
        "setup": {"web_workers": 2, "connections": 50},
        "figures": figures,
    }
    out = tmp_path / "bench.svg"
    chart.draw(result, out)
    svg = out.read_text()
    assert svg.startswith("<?xml")
    for text in ("healthz", "ingest", "resume", "0.20 of healthz", "0.30 of healthz"):
        assert text in svg, text
