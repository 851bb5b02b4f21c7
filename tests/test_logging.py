from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.test import Client

from ops.logging import RedactTokens, RepeatedErrors, redact
from tests.stack import ROOT, RedisServer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/ws/v1/sync?profile_id=p&token=abc-DEF_1&since=5",
            "/ws/v1/sync?profile_id=p&token=[redacted]&since=5",
        ),
        (
            '"WebSocket /ws/v1/sync?token=abc" [accepted]',
            '"WebSocket /ws/v1/sync?token=[redacted]" [accepted]',
        ),
        ("/x?Token=abc", "/x?Token=[redacted]"),
        ("/x?a=1&%74oken=abc", "/x?a=1&%74oken=[redacted]"),
        ("/x?%54%6F%6b%65%6e=abc", "/x?%54%6F%6b%65%6e=[redacted]"),
        ("/x?mytoken=abc", "/x?mytoken=abc"),
        ("nothing here", "nothing here"),
    ],
)
def test_tokens_in_query_strings_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_record_with_the_path_as_an_argument_is_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        (("127.0.0.1", 5), "/ws/v1/sync?token=secret"), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "secret" not in record.getMessage()


def test_beat_says_once_a_minute_that_the_broker_is_down_not_every_tick(tmp_path: Path) -> None:
    """Celery beat, its Redis killed under it: each tick of each schedule logged the error
    with the stack and the traceback (about 150 lines a second); now one line a minute."""
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    env = {**os.environ, "REDIS_URL": redis_server.url, "SECRET_KEY": "tests-only"}
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
             "--schedule", str(tmp_path / "schedule")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # Beat is up and has sent its first flushes (no worker takes them): on a busy
            # machine that takes longer than the few seconds it takes on a quiet one.
            broker = redis.Redis.from_url(redis_server.url)
            deadline = time.monotonic() + 60
            while not broker.llen("celery") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert broker.llen("celery"), log.read_text()
            redis_server.kill()
            time.sleep(6)  # a flush is due every second
        finally:
            beat.terminate()
            beat.wait(10)
    said = log.read_text()
    errors = [line for line in said.splitlines() if "ERROR" in line]
    assert len(errors) == 1, said[-3000:]
    assert "Couldn't apply scheduled task" in errors[0]
    assert "Traceback" not in said


def test_the_cassandra_drivers_repeated_errors_are_one_line_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While a node starts (or is gone), the driver's control connection fails each try,
    each an ERROR with a traceback: 121 of them in the 24 s a local node takes to start."""
    driver = logging.getLogger("cassandra.cluster")
    message = f"Control connection failed to connect ({time.monotonic()})"  # this test's own
    for _ in range(5):
        try:
            raise ConnectionRefusedError("127.0.0.1:9042")
        except ConnectionRefusedError:
            driver.error(message, exc_info=True)
    said = [r for r in caplog.records if r.name == "cassandra.cluster"]
    assert len(said) == 1
    assert said[0].exc_info is None


def test_a_host_not_allowed_is_one_line_a_minute_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Django logged each request with a Host not in ALLOWED_HOSTS as an error with its
    traceback: fifteen lines for every scanner's request."""
    host = f"evil-{time.monotonic_ns()}.example"  # this test's own (the filter remembers)
    for _ in range(5):
        assert client.get("/admin/", headers={"host": host}).status_code == 400
    said = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert len(said) == 1
    assert host in said[0].getMessage()
    assert said[0].exc_info is None


def test_repeated_errors_forget_messages_whose_minute_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each host not allowed is a message of its own: a scanner that varies its Host header
    must not grow what the filter remembers without bound."""
    clock = [0.0]
    monkeypatch.setattr("ops.logging.time.monotonic", lambda: clock[0])
    repeated = RepeatedErrors(seconds=60)

    def said(host: str) -> bool:
        message = f"Invalid HTTP_HOST header: '{host}'."
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, message, None, None)
        return repeated.filter(record)

    for minute in range(5):
        clock[0] = minute * 61.0
        assert all(said(f"h{minute}-{i}") for i in range(RepeatedErrors.PRUNE_AT))
    assert len(repeated._last) <= 2 * RepeatedErrors.PRUNE_AT
    clock[0] += 1
    assert not said(f"h4-{RepeatedErrors.PRUNE_AT - 1}")  # still within its minute
