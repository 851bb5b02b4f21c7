"""`make bench`: start the stack as `make run` does (two uvicorn workers, a Celery worker with
beat, embedded Redis, SQLite), drive it with wrk from this machine, and write the figures.

Machines here are shared and noisy, so every figure is read against `/healthz` measured on
the same server in the same run (alternating rounds, medians): the ratios are the result. The
yardstick (bench/yardstick.py: a bare ASGI callable doing the same Redis work, served the same
way on the same Redis) is measured in the same rounds; ingest and resume are read against it too.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import chart
from tests.stack import GENEROUS_LIMITS, Stack, free_port, procfile_command, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
PROFILES = 20

# wrk script: every request is a new heartbeat (later time, further position) for one of
# PROFILES x 50 titles, as many devices watching at once would send.
INGEST_LUA = """
local counter = 0
local base = os.time() * 1000
local token = os.getenv("BENCH_TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
request = function()
  counter = counter + 1
  local body = string.format(
    '{"profile_id":"bench-%d","movie_id":"t%d","video_timestamp_ms":%d,' ..
    '"client_request_time":%d,"device_id":"dev","event_type":"HEARTBEAT"}',
    counter % PROFILES, counter % 50, counter * 10, base + counter)
  return wrk.format(nil, nil, nil, body)
end
""".replace("PROFILES", str(PROFILES))

READ_LUA = """
local counter = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/api/v1/profiles/bench-%d/positions/t%d",
    counter % PROFILES, counter % 50))
end
""".replace("PROFILES", str(PROFILES))


def wrk(url: str, script: Path | None, token: str) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(
        argv, capture_output=True, text=True, check=True, env={**os.environ, "BENCH_TOKEN": token}
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    return {
        "requests_per_s": rate,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "p50": _millis(latency.get("50", "0ms")),
        "p99": _millis(latency.get("99", "0ms")),
    }


def _millis(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_yardstick(stack: Stack) -> tuple[subprocess.Popen[bytes], str]:
    """The yardstick under the web process's own command line (Procfile), on a port of its own."""
    port = free_port()
    env = {**stack.env, "HOST": "127.0.0.1", "PLAYSTATE_PORT": str(port), "WEB_CONCURRENCY": "2"}
    argv = [
        "bench.yardstick:app" if arg == "config.asgi:application" else arg
        for arg in procfile_command("web", env)
    ]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**env, "YARDSTICK_REDIS_URL": stack.redis.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process=process)
    return process, f"http://127.0.0.1:{port}"


def main() -> int:
    if shutil.which("wrk") is None:
        print("make bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="playstate-bench-") as tmp:
        stack = Stack(Path(tmp), web_workers=2, extra_env=GENEROUS_LIMITS)
        stack.start()
        yardstick, yard_url = start_yardstick(stack)
        try:
            profiles = [arg for i in range(PROFILES) for arg in ("--profile", f"bench-{i}")]
            token = stack.manage("issue_token", "bench", *profiles).strip()
            scripts = Path(tmp)
            (scripts / "ingest.lua").write_text(INGEST_LUA)
            (scripts / "read.lua").write_text(READ_LUA)
            phases = {
                "healthz": (f"{stack.url}/healthz", None),
                "ingest": (f"{stack.url}/api/v1/heartbeats", scripts / "ingest.lua"),
                "resume": (stack.url, scripts / "read.lua"),
                "yardstick ingest": (f"{yard_url}/api/v1/heartbeats", scripts / "ingest.lua"),
                "yardstick resume": (yard_url, scripts / "read.lua"),
            }
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in phases}
            # One step per wrk run, on a terminal (stderr); nothing otherwise.
            with tqdm(total=ROUNDS * len(phases), unit=" runs", disable=None) as progress:
                for round_ in range(ROUNDS):
                    for name, (url, script) in phases.items():
                        progress.set_description(f"round {round_ + 1}/{ROUNDS}: {name}")
                        rounds[name].append(wrk(url, script, token))
                        progress.update()
            time.sleep(3)  # let the worker drain what is pending before reading the counters
            with urllib.request.urlopen(f"{stack.url}/metrics") as response:
                metrics = response.read().decode()
        finally:
            yardstick.terminate()
            yardstick.wait(10)
            stack.stop()
    figures = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    base = figures["healthz"]["requests_per_s"]
    for name in ("ingest", "resume"):
        rate = figures[name]["requests_per_s"]
        figures[name]["ratio_to_healthz"] = round(rate / base, 3)
        yard = figures[f"yardstick {name}"]["requests_per_s"]
        figures[name]["ratio_to_yardstick"] = round(rate / yard, 3)
    counters = dict(re.findall(r"^(playstate_\w+_total) ([\d.e+]+)$", metrics, re.MULTILINE))
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "web_workers": 2,
            "connections": CONNECTIONS,
            "seconds": SECONDS,
            "rounds": ROUNDS,
        },
        "figures": figures,
        "counters": {k: float(v) for k, v in counters.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{result['when'].replace(':', '')}.json"
    out.write_text(json.dumps(result, indent=2))
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2))
    chart.draw(result, out.with_suffix(".svg"))
    shutil.copyfile(out.with_suffix(".svg"), RESULTS / "latest.svg")
    columns = ("req/s", "x healthz", "x yardstick", "p50 ms", "p99 ms", "non-2xx")
    print(f"{'endpoint':<17} " + " ".join(f"{c:>11}" for c in columns))
    for name, f in figures.items():
        ratio = f.get("ratio_to_healthz", f["requests_per_s"] / base)
        share = f"{f['ratio_to_yardstick']:.2f}" if "ratio_to_yardstick" in f else "-"
        print(
            f"{name:<17} {f['requests_per_s']:>11.0f} {ratio:>11.2f} {share:>11} {f['p50']:>11.1f}"
            f" {f['p99']:>11.1f} {f['non_2xx']:>11.0f}"
        )
    counted = result["counters"]
    writes = counted.get("playstate_store_writes_total", 0)
    applied = counted.get("playstate_heartbeats_applied_total", 0)
    print(f"store writes: {writes:.0f} for {applied:.0f} applied heartbeats")
    print(f"figures written to {out.relative_to(ROOT)} and, drawn, {out.with_suffix('.svg').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
