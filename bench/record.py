"""Where `make bench` keeps what it measured: `bench/results/<date>.json`, one section per part
(http, store, sync), the newest run of each part that day; `latest.json` is a copy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(section: str, figures: dict[str, Any], *, merge: bool = False) -> Path:
    """Write a section (with `merge`, add these figures to what it holds)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y-%m-%d', time.gmtime())}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    kept = result.get(section, {}) if merge else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result[section] = {**kept, "when": now, **figures}
    text = json.dumps(result, indent=2)
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path
