#!/usr/bin/env python3
"""A local Apache Cassandra node without Docker or a tarball: the jars come from Maven Central
(`cassandra-all` and its runtime dependencies, cached in `.cache/`), the config is written
here, and `org.apache.cassandra.service.CassandraDaemon` runs on the machine's JDK 17.

    python scripts/cassandra.py fetch                  # resolve the jars (once; then offline)
    python scripts/cassandra.py run [--port 9042]      # a node in the foreground
    python scripts/cassandra.py run --sync             # ... then `manage.py sync_cassandra`
                                                       #     once CQL answers (make run)
    python scripts/cassandra.py cluster --nodes 3 [--dcs 2] [--sync]
                                                       # nodes on 127.0.0.1, .2, .3 (same
                                                       # ports), one after another

The tests import `Node` to start a throw-away node on free ports, and `Cluster` for several.
Standard library only: it runs before the virtualenv matters.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "5.0.8"
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / f"cassandra-{VERSION}"
LIB = CACHE / "lib"

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>playstate</groupId>
  <artifactId>cassandra-node</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

# Cassandra 5.0's conf/jvm17-server.options (JPMS exports and opens; without them the JVM
# dies at start), plus the JDK internals its dependencies reach for.
JVM17 = [
    "-Djdk.attach.allowAttachSelf=true",
    *[
        f"--add-exports={module}=ALL-UNNAMED"
        for module in (
            "java.base/jdk.internal.misc",
            "java.base/jdk.internal.ref",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ],
    *[
        f"--add-opens={module}=ALL-UNNAMED"
        for module in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.nio",
            "java.base/java.lang",
            "java.base/java.lang.reflect",
            "java.base/java.util",
            "java.base/java.util.concurrent",
            "java.base/java.util.concurrent.atomic",
            "jdk.compiler/com.sun.tools.javac",
        )
    ],
]

LOGBACK = """<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level %logger{0} %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
  <logger name="org.apache.cassandra.service.CassandraDaemon" level="INFO"/>
  <logger name="org.apache.cassandra.transport.Server" level="INFO"/>
</configuration>
"""


_GIVEN: set[int] = set()


def free_port(*, also: int = 0) -> int:
    """A loopback port free now (and port + `also` too), below the kernel's range of
    ports for outgoing connections: one from that range can be taken by any client's
    connection between now and when it is listened on, or while a node that owns it restarts
    (a Cassandra node's restart once failed on its JMX port so). Not given twice by this
    process."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = max(low - also, 20_000)
    while True:
        port = random.randrange(10_000, top)
        candidates = {port, port + also}
        if candidates & _GIVEN:
            continue
        try:
            for candidate in candidates:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        _GIVEN.update(candidates)
        return port


def fetch() -> list[Path]:
    """The node's jars: from the cache, else resolved with Maven into it."""
    if not (LIB / f"cassandra-all-{VERSION}.jar").exists():
        if shutil.which("mvn") is None:
            raise SystemExit("Maven (mvn) is needed once to fetch Cassandra's jars")
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "pom.xml").write_text(POM)
        print(f"fetching Cassandra {VERSION} from Maven Central into {LIB} ...", flush=True)
        staging = CACHE / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(CACHE / "pom.xml"),
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            check=True,
        )
        shutil.rmtree(LIB, ignore_errors=True)
        staging.rename(LIB)  # only a complete download becomes the cache
    return sorted(LIB.glob("*.jar"))


@dataclass
class Node:
    """One Cassandra node, its data and config under `directory`. Alone by default (a
    single-node cluster on 127.0.0.1); in a `Cluster`, one of several on 127.0.0.N, all on
    the same ports, with its data centre and rack."""

    directory: Path
    port: int = field(default_factory=free_port)
    storage_port: int = field(default_factory=free_port)
    heap: str = "512m"
    address: str = "127.0.0.1"
    seeds: tuple[str, ...] = ()  # none: the node seeds itself
    # None: SimpleSnitch (its data centre is "datacenter1"); else GossipingPropertyFileSnitch.
    dc: str | None = None
    rack: str = "rack1"
    token: int = 0
    # JMX on 127.0.0.1 (where Cassandra binds it whatever the node's address), for nodetool.
    jmx_port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    def config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        d = self.directory
        yaml = d / "cassandra.yaml"
        seeds = ",".join(f"{seed}:{self.storage_port}" for seed in self.seeds or (self.address,))
        snitch = "SimpleSnitch" if self.dc is None else "GossipingPropertyFileSnitch"
        if self.dc is not None:
            (d / "cassandra-rackdc.properties").write_text(f"dc={self.dc}\nrack={self.rack}\n")
        yaml.write_text(
            f"""cluster_name: playstate
num_tokens: 1
initial_token: "{self.token}"
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: {snitch}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
listen_address: {self.address}
rpc_address: {self.address}
storage_port: {self.storage_port}
native_transport_port: {self.port}
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
data_file_directories: [{d / "data"}]
commitlog_directory: {d / "commitlog"}
saved_caches_directory: {d / "saved_caches"}
hints_directory: {d / "hints"}
cdc_raw_directory: {d / "cdc_raw"}
auto_snapshot: false
# New hints reach their files (and nodetool listpendinghints) within a second, not ten.
hints_flush_period: 1000ms
memtable_allocation_type: heap_buffers
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
"""
        )
        (d / "logback.xml").write_text(LOGBACK)
        (d / "tmp").mkdir(exist_ok=True)
        return yaml

    def command(self) -> list[str]:
        jars = fetch()
        jamm = next(j for j in jars if j.name.startswith("jamm-"))
        yaml = self.config()
        d = self.directory
        java = shutil.which("java", path=f"{os.environ.get('JAVA_HOME', '')}/bin") or "java"
        return [
            java,
            f"-Xms{self.heap}", f"-Xmx{self.heap}", "-Xss256k", "-XX:+UseG1GC", "-ea",
            f"-javaagent:{jamm}",
            *JVM17,
            "-Djava.net.preferIPv4Stack=true",
            "-Dio.netty.tryReflectionSetAccessible=true",
            "-Dchronicle.analytics.disable=true",
            "-Dcassandra-foreground=yes",
            # A test node need not wait for a ring of one to settle; in a cluster each node
            # starts once the one before answers, so the ring is known by then.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.ring_delay_ms=1000",
            *([f"-Dcassandra-rackdc.properties=file://{d / 'cassandra-rackdc.properties'}"]
              if self.dc is not None else []),
            *([f"-Dcassandra.jmx.local.port={self.jmx_port}"] if self.jmx_port else []),
            f"-Dcassandra.config=file://{yaml}",
            f"-Dcassandra.storagedir={d}",
            f"-Dlogback.configurationFile=file://{d / 'logback.xml'}",
            # JNA unpacks a native library here; it must allow executables.
            f"-Djava.io.tmpdir={d / 'tmp'}",
            "-cp", os.pathsep.join(str(j) for j in jars),
            "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip

    def start(self) -> None:
        command = self.command()
        with (self.directory / "node.log").open("ab") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds until the CQL port answers (native transport starts last)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                log = self.directory / "node.log"
                tail = log.read_text()[-3000:] if log.exists() else ""
                raise RuntimeError(f"Cassandra exited with {self.process.returncode}:\n{tail}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.25)
        raise TimeoutError(
            f"Cassandra's CQL port {self.address}:{self.port} did not open in {timeout}s"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no drain, and the commit log's last period (10 s) may be lost."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def nodetool(self, *args: str, timeout: float = 300.0) -> str:
        if self.jmx_port is None:
            raise RuntimeError("nodetool needs the node started with a jmx_port")
        jars = os.pathsep.join(str(j) for j in fetch())
        java = shutil.which("java", path=f"{os.environ.get('JAVA_HOME', '')}/bin") or "java"
        quiet = f"-Dlogback.configurationFile=file://{self.directory / 'logback.xml'}"
        command = [
            java,
            "-Xmx128m",
            quiet,
            *JVM17,
            "-cp",
            jars,
            "org.apache.cassandra.tools.NodeTool",
        ]
        done = subprocess.run(
            [*command, "-h", "127.0.0.1", "-p", str(self.jmx_port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"nodetool {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout


# Murmur3Partitioner's tokens span [-2**63, 2**63).
TOKEN_SPAN = 2**64


@dataclass
class Cluster:
    """`nodes` nodes on 127.0.0.1, 127.0.0.2, ... (Linux routes all of 127.0.0.0/8 to the
    loopback interface), the same CQL and storage ports on each, split in order over `dcs`
    data centres (datacenter1 when there is one, else dc1, dc2, ...). Each data centre's
    tokens are evenly spaced, offset by its index so no two nodes share one; its first node
    is a seed."""

    directory: Path
    nodes: int = 3
    dcs: int = 1
    port: int = field(default_factory=free_port)
    storage_port: int = field(default_factory=free_port)
    heap: str = "448m"
    members: list[Node] = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.dcs <= self.nodes <= 254:
            raise ValueError("need 1 <= dcs <= nodes <= 254")
        dc_of = [i * self.dcs // self.nodes for i in range(self.nodes)]
        names = ["datacenter1"] if self.dcs == 1 else [f"dc{i + 1}" for i in range(self.dcs)]
        addresses = [f"127.0.0.{i + 1}" for i in range(self.nodes)]
        seeds = tuple(addresses[dc_of.index(dc)] for dc in range(self.dcs))
        self.members = []
        for i, address in enumerate(addresses):
            dc = dc_of[i]
            in_dc = dc_of[:i].count(dc)
            token = -(2**63) + in_dc * (TOKEN_SPAN // dc_of.count(dc)) + dc
            self.members.append(
                Node(
                    self.directory / f"node{i + 1}",
                    port=self.port,
                    storage_port=self.storage_port,
                    heap=self.heap,
                    address=address,
                    seeds=seeds,
                    dc=names[dc],
                    token=token,
                    jmx_port=free_port(),
                )
            )

    @property
    def hosts(self) -> str:
        """CASSANDRA_HOSTS for the service."""
        return ",".join(f"{node.address}:{self.port}" for node in self.members)

    def replication(self, per_dc: int = 3) -> str:
        """CASSANDRA_REPLICATION: `per_dc` replicas in each data centre (as many as it has)."""
        counts: dict[str, int] = {}
        for node in self.members:
            counts[str(node.dc)] = counts.get(str(node.dc), 0) + 1
        factors = ",".join(f"{dc}={min(per_dc, n)}" for dc, n in counts.items())
        return f"NetworkTopologyStrategy:{factors}"

    def start(self, timeout: float = 240.0) -> None:
        """One node after another: each starts once the one before answers CQL, which it
        does only after joining the ring."""
        for node in self.members:
            if node.process is None:
                node.start()
                node.wait_ready(timeout)

    def stop(self) -> None:
        for node in reversed(self.members):
            node.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("fetch", help="resolve and cache the jars")
    run = sub.add_parser("run", help="run a node in the foreground")
    run.add_argument("--port", type=int, default=9042, help="CQL port")
    run.add_argument("--storage-port", type=int, default=7000)
    data = Path(os.environ.get("PLAYSTATE_DATA_DIR", ROOT / ".data"))
    run.add_argument("--dir", type=Path, default=data / "cassandra")
    run.add_argument("--heap", default="512m")
    run.add_argument("--sync", action="store_true", help="create keyspace and tables when up")
    cluster = sub.add_parser("cluster", help="run several nodes in the foreground")
    cluster.add_argument("--nodes", type=int, default=3)
    cluster.add_argument("--dcs", type=int, default=1, help="data centres")
    cluster.add_argument("--port", type=int, default=9042, help="CQL port (every node)")
    cluster.add_argument("--storage-port", type=int, default=7000)
    cluster.add_argument("--dir", type=Path, default=data / "cassandra-cluster")
    cluster.add_argument("--heap", default="448m")
    cluster.add_argument("--sync", action="store_true", help="create keyspace and tables when up")
    args = parser.parse_args()
    if args.action == "fetch":
        print(f"{len(fetch())} jars in {LIB}")
        return 0
    if args.action == "cluster":
        return run_cluster(
            Cluster(
                args.dir.resolve(),
                nodes=args.nodes,
                dcs=args.dcs,
                port=args.port,
                storage_port=args.storage_port,
                heap=args.heap,
            ),
            sync=args.sync,
        )
    node = Node(args.dir.resolve(), port=args.port, storage_port=args.storage_port, heap=args.heap)
    command = node.command()
    print(f"Cassandra {VERSION} on 127.0.0.1:{args.port}, data in {node.directory}", flush=True)
    if not args.sync:
        os.execv(command[0], command)
    return run_and_sync(node)


def run_and_sync(node: Node) -> int:
    """Run the node, create the schema once CQL answers, then stay until the node exits;
    SIGINT/SIGTERM stop the node."""
    node.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: node.stop())
    print(f"ready after {node.wait_ready():.1f}s; creating keyspace and tables", flush=True)
    env = {**os.environ, "CASSANDRA_HOSTS": f"127.0.0.1:{node.port}"}
    subprocess.run([sys.executable, "manage.py", "sync_cassandra"], cwd=ROOT, env=env, check=True)
    assert node.process is not None
    return node.process.wait()


def run_cluster(cluster: Cluster, *, sync: bool) -> int:
    """Start every node, print how to point the service at them, optionally create the
    keyspace and tables, then stay until a node exits; SIGINT/SIGTERM stop them all."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        for node in cluster.members:
            print(f"starting {node.address} ({node.dc}, token {node.token}) ...", flush=True)
            node.start()
            print(f"  ready after {node.wait_ready():.1f}s", flush=True)
            if stopping:
                return 0
        local_dc = str(cluster.members[0].dc)
        env = {
            "CASSANDRA_HOSTS": cluster.hosts,
            "CASSANDRA_REPLICATION": cluster.replication(),
            "CASSANDRA_LOCAL_DC": local_dc,
        }
        print(f"Cassandra {VERSION}: {cluster.nodes} nodes, data in {cluster.directory}")
        print("Point the service at it with:")
        print(" ".join(f"{name}={value}" for name, value in env.items()), flush=True)
        if sync:
            subprocess.run(
                [sys.executable, "manage.py", "sync_cassandra"],
                cwd=ROOT,
                env={**os.environ, **env},
                check=True,
            )
        while not stopping and all(
            n.process is not None and n.process.poll() is None for n in cluster.members
        ):
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
