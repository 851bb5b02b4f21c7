from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.auth import Principal, principal_for_token
from accounts.models import ApiToken, Profile
from catalog.models import Movie
from core import redis as core_redis
from core.clock import now_ms
from core.domain import EventType, PlayState
from history.store import StoreUnavailable, get_store
from playstate import hotlayer
from playstate.hotlayer import IngestItem
from tests.cases import Run, unlimited

pytestmark = pytest.mark.django_db(transaction=True)


def issue(*args: str) -> str:
    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue()


def principal(run: Run, token: str) -> Principal:
    found: Principal | None = run(principal_for_token(token))
    assert found is not None
    return found


def test_issue_token_prints_only_a_token_for_the_account_and_its_profiles(run: Run) -> None:
    output = issue("carol", "--profile", "carol-tv", "--profile", "carol-phone")
    token = output.strip()
    assert output == token + "\n"
    assert " " not in token
    assert len(token) >= 40
    assert principal(run, token).profile_ids == {"carol-tv", "carol-phone"}


def test_issue_token_again_adds_profiles_and_keeps_old_tokens(run: Run) -> None:
    first = issue("carol", "--profile", "carol-tv").strip()
    second = issue("carol", "--profile", "carol-kids").strip()
    assert first != second
    assert get_user_model().objects.filter(username="carol").count() == 1
    assert principal(run, first).profile_ids == {"carol-tv", "carol-kids"}


def test_issue_token_refuses_someone_elses_profile_and_bad_ids() -> None:
    issue("carol", "--profile", "shared")
    with pytest.raises(CommandError, match="another account"):
        issue("dave", "--profile", "shared")
    with pytest.raises(CommandError, match="profile"):
        issue("dave", "--profile", "has space")
    with pytest.raises(CommandError, match="profile"):
        issue("dave", "--profile", "newline\n")
    assert not Profile.objects.filter(account__username="dave").exists()


def test_import_catalog_upserts(tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text('movie_id,title,duration_ms\nm1,Film One,600000\nm2,"Two, the Sequel",5400000\n')
    call_command("import_catalog", str(csv), stdout=StringIO())
    csv.write_text("movie_id,title,duration_ms\nm1,Film One (Director's Cut),700000\n")
    call_command("import_catalog", str(csv), stdout=StringIO())
    assert dict(Movie.objects.values_list("movie_id", "duration_ms")) == {
        "m1": 700_000,
        "m2": 5_400_000,
    }
    assert Movie.objects.get(movie_id="m2").title == "Two, the Sequel"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,title,duration\nm1,x,1\n", "header"),
        ("movie_id,title,duration_ms\nm1,x,long\n", "line 2: duration_ms must be a whole number"),
        ("movie_id,title,duration_ms\nm1,x,1\nbad id,y,2\n", "line 3"),
        ("movie_id,title,duration_ms\nm1,x,0\n", "line 2"),
        ("movie_id,title,duration_ms\nm1,x,1,extra\n", "line 2: more fields than the header"),
        ("movie_id,title,duration_ms,credits_ms\nm1,x,,100\n", "line 2: .*duration_ms"),
        ("movie_id,title,duration_ms\nm1,x,1\nm1,y,2\n", r"line 3: m1 again \(line 2\)"),
        ('movie_id,title,duration_ms\nm1,"two\nlines",1\nbad id,y,2\n', "line 4"),
        ("movie_id,title,duration_ms\nm1,Caf\xe9,1\n".encode("latin-1"), "is not UTF-8 text"),
        (b"movie_id,title,duration_ms\nm1,x\x00,1\n", "line 2: title has a NUL character"),
        ("movie_id,title,duration_ms,series_id,season,episode\nm1,x,1,s,99999999999,1\n",
         "line 2: season must be at most 2147483647"),
    ],
    ids=[
        "header", "not a number", "bad id", "zero duration", "extra field",
        "credits without a duration", "the same title twice", "a quoted line break",
        "latin-1", "a NUL byte", "a season past PostgreSQL's integers",
    ],
)  # fmt: skip
def test_import_catalog_rejects_a_bad_file_whole(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    csv = tmp_path / "catalog.csv"
    if isinstance(content, bytes):
        csv.write_bytes(content)
    else:
        csv.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_catalog", str(csv), stdout=StringIO())
    assert not Movie.objects.exists()


def test_import_catalog_takes_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    """As spreadsheets save CSV (and as the history export writes it)."""
    csv = tmp_path / "catalog.csv"
    csv.write_text("\ufeffmovie_id,title,duration_ms\r\nm1,Film One,600000\r\n")
    call_command("import_catalog", str(csv), stdout=StringIO())
    assert dict(Movie.objects.values_list("movie_id", "duration_ms")) == {"m1": 600_000}


def test_import_catalog_takes_series_columns_and_old_files_keep_them(tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text(
        "movie_id,title,duration_ms,series_id,season,episode,credits_ms\n"
        "s.s1e1,Pilot,2700000,show,1,1,2520000\n"
        "s.s0e1,Special,1200000,show,0,1,\n"
        "film,A Film,5400000,,,,5000000\n"
    )
    call_command("import_catalog", str(csv), stdout=StringIO())
    csv.write_text("movie_id,title,duration_ms\ns.s1e1,Pilot (new cut),2760000\n")
    call_command("import_catalog", str(csv), stdout=StringIO())
    pilot = Movie.objects.get(movie_id="s.s1e1")
    assert (pilot.title, pilot.series_id, pilot.season, pilot.episode, pilot.credits_ms) == (
        "Pilot (new cut)", "show", 1, 1, 2_520_000,
    )  # fmt: skip
    special = Movie.objects.get(movie_id="s.s0e1")
    assert (special.season, special.credits_ms) == (0, None)
    film = Movie.objects.get(movie_id="film")
    assert (film.series_id, film.credits_ms) == (None, 5_000_000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("movie_id,title,duration_ms,series_id\nx,X,1,show\n", "line 2"),  # no season, episode
        ("movie_id,title,duration_ms,credits_ms\nx,X,10,11\n", "line 2"),  # credits past the end
        ("movie_id,title,duration_ms,series_id,season,episode\na,A,1,s,1,1\nb,B,1,s,1,1\n",
         "rules"),  # two titles for one episode
        ("movie_id,title,duration_ms,rating\nx,X,1,5\n", "header"),
    ],
)  # fmt: skip
def test_import_catalog_rejects_bad_series_rows_whole(
    tmp_path: Path, content: str, message: str
) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_catalog", str(csv), stdout=StringIO())
    assert not Movie.objects.exists()


def test_import_catalog_says_plainly_when_the_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cannot read .*missing\.csv: No such file"):
        call_command("import_catalog", str(tmp_path / "missing.csv"), stdout=StringIO())


def demo(url: str = "http://127.0.0.1:8123") -> str:
    out = StringIO()
    call_command("demo", "--url", url, stdout=out)
    return out.getvalue()


def demo_token(output: str) -> str:
    return output.split("Token ")[1].split()[0]


def test_demo_prepares_a_profile_a_catalog_and_links_with_a_fresh_token(run: Run) -> None:
    first = demo()
    assert "Playstate is ready at http://127.0.0.1:8123" in first
    assert "http://127.0.0.1:8123/demo/tv?profile_id=demo&device_id=tv&token=" in first
    assert principal(run, demo_token(first)).profile_ids == frozenset({"demo"})
    assert Movie.objects.filter(movie_id__startswith="demo.").count() == 6
    second = demo()
    assert principal(run, demo_token(second)).profile_ids == frozenset({"demo"})
    # The older token is revoked (processes forget it within PLAYSTATE_AUTH_CACHE_SECONDS).
    assert ApiToken.objects.filter(account__username="demo").count() == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_without_the_demo_make_run_still_says_where_everything_is(host: str) -> None:
    """`DEMO=0 make run`: scripts/ready.py prints the block with the API's and admin's links;
    served on every address (`HOST=0.0.0.0`), it probes and links to loopback."""

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    ready = subprocess.Popen(
        [sys.executable, "scripts/ready.py", url.replace("127.0.0.1", host)],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(ready.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        ready.terminate()
        ready.wait(10)
        server.shutdown()
    assert len(lines) >= 6, lines
    assert lines[0].startswith("ready in ")
    assert lines[2].strip() == f"Playstate is ready at {url}"
    assert lines[4].split() == ["API", f"{url}/api/docs/"]
    assert lines[5].split()[:2] == ["Admin", f"{url}/admin/"]


def manage_with_stderr_on(tmp_path: Path, *args: str, tty: bool) -> str:
    """What a management command writes to stderr, on a terminal or into a pipe."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "manage.py", *args]
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    if not tty:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        return done.stderr
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide; a real one is not.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_import_catalog_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    catalog = tmp_path / "big.csv"
    catalog.write_text(
        "movie_id,title,duration_ms\n" + "".join(f"m{i},Film {i},60000\n" for i in range(5000))
    )
    assert "5.00k titles" in manage_with_stderr_on(
        tmp_path, "import_catalog", str(catalog), tty=True
    )
    assert manage_with_stderr_on(tmp_path, "import_catalog", str(catalog), tty=False) == ""


@pytest.mark.anyio
async def test_a_revoked_token_stops_working_once_its_background_reload_is_done(
    settings: Any,
) -> None:
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 0  # every entry is past its time at once
    token = (await asyncio.to_thread(issue, "carol", "--profile", "carol-tv")).strip()
    assert await principal_for_token(token) is not None
    await ApiToken.objects.filter(account__username="carol").adelete()
    # Answered from the cache (no SQL on the request path) while a reload runs...
    assert await principal_for_token(token) is not None
    for _ in range(100):
        await asyncio.sleep(0.02)
        if await principal_for_token(token) is None:
            break
    # ...and refused once the reload found the token gone.
    assert await principal_for_token(token) is None


def test_compact_history_says_plainly_when_redis_is_unreachable() -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):
        core_redis.reset_clients()
        try:
            with pytest.raises(CommandError, match=r"Redis is unreachable .*run it again"):
                call_command("compact_history", "--older-than-days", "0", stdout=StringIO())
        finally:
            core_redis.reset_clients()


def test_flush_pending_writes_titles_before_their_window_and_leaves_claims_alone(
    redis_client: redis.Redis, run: Run, settings: Any
) -> None:
    settings.PLAYSTATE_COALESCE_WINDOW_MS = 30 * 86_400_000  # none comes due during the test
    settings.PLAYSTATE_FLUSH_BATCH = 1  # one title a batch: it goes on while batches are full
    now = now_ms()
    items = [
        IngestItem(PlayState("p", movie, 60_000, now - 1_000, "tv", EventType.HEARTBEAT), None)
        for movie in ("m1", "m2", "m3")
    ]
    run(hotlayer.ingest(items, now_ms=now, counters={}, limits=unlimited(), may_create=True))
    assert run(hotlayer.claim(now_ms=now, limit=10)).members == []  # none due for a window
    [held] = run(hotlayer.claim(now_ms=now, limit=1, everything=True)).members  # another worker's

    out = StringIO()
    call_command("flush_pending", stdout=out)

    assert out.getvalue() == "wrote 2 pending titles to the store\n"
    store = get_store()
    written = {m for m in ("m1", "m2", "m3") if store.get("p", m) is not None}
    assert written == {"m1", "m2", "m3"} - {hotlayer.split_member(held)[1]}
    assert redis_client.zcard(hotlayer.shard_of("p").pending) == 0
    assert redis_client.zrange(hotlayer.shard_of("p").inflight, 0, -1) == [held]
    call_command("flush_pending", stdout=out)
    assert out.getvalue().endswith("wrote 0 pending titles to the store\n")
    later = IngestItem(PlayState("p", "m4", 1_000, now, "tv", EventType.HEARTBEAT), None)
    run(hotlayer.ingest([later], now_ms=now, counters={}, limits=unlimited(), may_create=True))
    call_command("flush_pending", stdout=out)
    assert out.getvalue().endswith("wrote 1 pending title to the store\n")


def test_flush_pending_says_the_store_is_down_and_keeps_the_titles(
    redis_client: redis.Redis, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = now_ms()
    item = IngestItem(PlayState("p", "m1", 60_000, now, "tv", EventType.HEARTBEAT), None)
    run(hotlayer.ingest([item], now_ms=now, counters={}, limits=unlimited(), may_create=True))

    def down(self: object, states: object) -> int:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(type(get_store()), "write", down)
    with pytest.raises(CommandError, match="store is unreachable"):
        call_command("flush_pending")
    assert redis_client.zrange(hotlayer.shard_of("p").pending, 0, -1) == ["p/m1"]
