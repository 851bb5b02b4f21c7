"""`make run`'s own processes (the Procfile, under honcho, as `make run` starts them): one
that dies is started again and says so, the others go on serving; Ctrl-C stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.cases import heartbeat
from tests.e2e.conftest import wait_for
from tests.stack import GENEROUS_LIMITS, ROOT, descendants, free_port

pytestmark = pytest.mark.e2e

BIN = ROOT / ".venv" / "bin"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def pid_of(pid: int, *words: str) -> int:
    """The process below `pid` that runs a command with these words (the top one: a Celery
    worker's pool processes run the same command)."""
    matches = {
        child
        for child, command in descendants(pid).items()
        if all(word in command for word in words) and "respawn" not in command
    }
    top = [child for child in matches if parent_of(child) not in matches]
    assert len(top) == 1, (words, descendants(pid))
    return top[0]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, dict[str, str]]]:
    assert (BIN / "honcho").exists(), "make run's virtualenv (.venv) is missing"
    port = free_port()
    env = {
        **os.environ,
        **GENEROUS_LIMITS,
        "HOST": "127.0.0.1",
        "PLAYSTATE_PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WORKER_CONCURRENCY": "1",
        "PLAYSTATE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMBEDDED_REDIS_PORT": str(free_port()),
        "SECRET_KEY": "make-run-tests-only",
        "PLAYSTATE_FLUSH_INTERVAL": "0.25",
        "PLAYSTATE_ANNOUNCE": f"{BIN / 'python'} manage.py demo --url http://127.0.0.1:{port}",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "start", "redis", "web", "worker", "beat", "ready"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield honcho, f"http://127.0.0.1:{port}", log, env
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(10)


def test_a_process_that_dies_is_started_again_and_ctrl_c_stops_everything(
    make_run: tuple[subprocess.Popen[bytes], str, Path, dict[str, str]],
) -> None:
    honcho, url, log, env = make_run
    with httpx.Client(base_url=url, timeout=5) as http:
        wait_for(lambda: ready(http), timeout=60)
        # Once ready, one block says where everything is, with a token for the demo profile.
        wait_for(lambda: "Playstate is ready at" in log.read_text(), timeout=30)
        links = dict(re.findall(r"\b(TV|Phone|API|Admin) +(http\S+)", log.read_text()))
        assert set(links) == {"TV", "Phone", "API", "Admin"}
        tv = urlsplit(links["TV"])
        assert http.get(f"{tv.path}?{tv.query}").status_code == 200
        demo_token = parse_qs(tv.query)["token"][0]
        row = http.get(
            "/api/v1/profiles/demo/continue-watching",
            headers={"Authorization": f"Bearer {demo_token}"},
        )
        assert row.status_code == 200
        token = subprocess.run(
            [sys.executable, "manage.py", "issue_token", "alice", "--profile", "alice-tv"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}

        redis_pid = pid_of(honcho.pid, "redis-server")
        os.kill(redis_pid, signal.SIGKILL)
        wait_for(lambda: "respawn:" in log.read_text(), timeout=10)
        wait_for(lambda: ready(http), timeout=30)
        assert pid_of(honcho.pid, "redis-server") != redis_pid

        os.kill(pid_of(honcho.pid, "celery", " worker "), signal.SIGKILL)
        paused = heartbeat(movie_id="after-the-crashes", event_type="PAUSE", video_timestamp_ms=7)
        wait_for(lambda: post(http, paused, auth) == 202, timeout=30)
        wait_for(lambda: stored(http, auth, "after-the-crashes"), timeout=60)
        assert log.read_text().count("respawn:") >= 2

        honcho.send_signal(signal.SIGINT)  # Ctrl-C
        honcho.wait(30)
        assert descendants(honcho.pid) == {}
        with pytest.raises(httpx.TransportError):
            http.get("/healthz")


def ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def post(http: httpx.Client, body: object, auth: dict[str, str]) -> int:
    try:
        return http.post("/api/v1/heartbeats", json=body, headers=auth).status_code
    except httpx.TransportError:
        return 0


def stored(http: httpx.Client, auth: dict[str, str], movie: str) -> bool:
    body = http.get("/api/v1/profiles/alice-tv/history", headers=auth).json()
    return movie in [item["movie_id"] for item in body.get("results", [])]
