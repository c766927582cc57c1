"""Start, stop and inspect one local KRaft broker+controller.

Everything the broker writes stays under ``<data_dir>/kafka-<port>/``: config, KRaft log
dirs, logs, pid file and JVM temp files (``-XX:-UsePerfData`` keeps it out of /tmp).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.local_kafka.resolver import kafka_libs, require_tool
from sessionflow.core.local_kafka.secured import SaslSslListener, load_listener, prepare_listener
from sessionflow.core.local_kafka.settings import LocalKafkaSettings
from sessionflow.core.local_kafka.tls import write_private
from sessionflow.core.settings import KafkaSettings, PathSettings

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}{secured_listener}
advertised.listeners=PLAINTEXT://{host}:{port}{secured_listener}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
num.partitions={partitions}
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
"""

_LOG4J2 = """\
Configuration:
  Appenders:
    RollingFile:
      name: file
      fileName: "{log_file}"
      filePattern: "{log_file}.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      SizeBasedTriggeringPolicy:
        size: 20MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
"""


class LocalKafkaError(InfrastructureError):
    """The local broker could not be resolved, started, reached or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``status`` reports about the local broker."""

    running: bool
    pid: int | None
    bootstrap_servers: str
    home: Path
    log_file: Path
    secured_bootstrap_servers: str | None = None
    """``host:port`` of the SASL_SSL listener, if the broker has one."""


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64, never starting with '-'.

    Kafka's own ``Uuid.randomUuid`` re-draws ids that start with '-' because command-line
    parsers read them as options; so do we.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def fetch_metadata(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """True when a Kafka client can bootstrap and fetch cluster metadata from the servers."""
    from sessionflow.core.kafka_clients import new_metadata_client

    async def probe() -> bool:
        kafka = KafkaSettings(bootstrap_servers=bootstrap_servers)
        client = new_metadata_client(kafka, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
            return bool(client.cluster.brokers())
        except Exception:  # any failure means "not reachable yet"
            return False
        finally:
            await client.close()

    result: list[bool] = []
    # A thread of its own, so this works whether or not the caller runs an event loop.
    worker = threading.Thread(target=lambda: result.append(asyncio.run(probe())))
    worker.start()
    worker.join()
    return bool(result and result[0])


class LocalKafka:
    """One local broker identified by its port; ``up`` twice is harmless."""

    def __init__(self, settings: LocalKafkaSettings, paths: PathSettings) -> None:
        self._settings = settings
        self._paths = paths
        self.home = paths.data_dir / f"kafka-{settings.port}"
        self.log_file = self.home / "logs" / "server.log"
        self._pid_file = self.home / "broker.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` clients connect to."""
        return f"{self._settings.host}:{self._settings.port}"

    def status(self) -> BrokerStatus:
        """Whether our broker process runs (by pid file and /proc)."""
        pid = self._running_pid()
        port = self._settings.sasl_ssl_port
        secured = f"{self._settings.host}:{port}" if port is not None else None
        return BrokerStatus(
            pid is not None, pid, self.bootstrap_servers, self.home, self.log_file, secured
        )

    def secured_listener(self) -> SaslSslListener:
        """The SASL_SSL listener (address, CA file, user, passwords as ``SecretStr``).

        Its :meth:`~SaslSslListener.kafka_settings` give settings reaching it. Raises
        :class:`LocalKafkaError` if ``SESSIONFLOW_KAFKA_SASL_SSL_PORT`` is unset or the
        broker was never started with it.
        """
        port = self._settings.sasl_ssl_port
        if port is None:
            raise LocalKafkaError(
                "the local broker has no SASL_SSL listener: set "
                "SESSIONFLOW_KAFKA_SASL_SSL_PORT and start it"
            )
        listener = load_listener(self.home, self._settings.host, port)
        if listener is None:
            raise LocalKafkaError(f"no SASL_SSL listener prepared in {self.home}; run `up` first")
        return listener

    def up(self) -> BrokerStatus:
        """Start the broker unless it already runs; return once it serves metadata."""
        if self._running_pid() is not None:
            self._wait_ready()
            return self.status()
        java = require_tool("java", "install a Java 17+ runtime to run the local Kafka")
        self._check_ports_free()
        libs = kafka_libs(self._paths.cache_dir, self._settings.version)
        listener = self._prepare_listener()
        self._write_config(listener)
        self._format_storage(java, libs, listener)
        self._start(java, libs)
        try:
            self._wait_ready()
        except BaseException:
            self._stop_started()  # a broker that did not come up is not left running
            raise
        return self.status()

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, SIGKILL after ``timeout_s``); False if it was not running."""
        pid = self._running_pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._pid_file.unlink(missing_ok=True)
        return True

    def _running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if str(self.home).encode() in cmdline else None

    def _check_ports_free(self) -> None:
        host = self._settings.host
        ports = [self._settings.port, self._settings.resolved_controller_port]
        if self._settings.sasl_ssl_port is not None:
            ports.append(self._settings.sasl_ssl_port)
        for port in ports:
            if _port_in_use(host, port):
                raise LocalKafkaError(
                    f"port {host}:{port} is already in use by another process; "
                    "set SESSIONFLOW_KAFKA_PORT, SESSIONFLOW_KAFKA_CONTROLLER_PORT "
                    "(and SESSIONFLOW_KAFKA_SASL_SSL_PORT) to free ones"
                )

    def _formatted(self) -> bool:
        return (self.home / "data" / "meta.properties").exists()

    def _prepare_listener(self) -> SaslSslListener | None:
        port = self._settings.sasl_ssl_port
        if port is None:
            return None
        if self._formatted() and load_listener(self.home, self._settings.host, port) is None:
            raise LocalKafkaError(
                f"the broker in {self.home} was created without a SASL_SSL listener (its SCRAM "
                "user is made when storage is formatted); remove that directory or unset "
                "SESSIONFLOW_KAFKA_SASL_SSL_PORT"
            )
        return prepare_listener(self.home, self._settings.host, port)

    def _write_config(self, listener: SaslSslListener | None) -> None:
        for sub in ("data", "logs", "tmp"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        s = self._settings
        config = _SERVER_PROPERTIES.format(
            host=s.host,
            port=s.port,
            controller_port=s.resolved_controller_port,
            secured_listener=f",SASL_SSL://{listener.bootstrap_servers}" if listener else "",
            log_dirs=self.home / "data",
            partitions=s.partitions,
        )
        if listener is not None:
            config += listener.server_properties()
        # Owner-only: with a SASL_SSL listener the config holds the PLAIN user's password.
        write_private(self.home / "server.properties", config.encode())
        (self.home / "log4j2.yaml").write_text(_LOG4J2.format(log_file=self.log_file))

    def _java_command(self, java: str, libs: Path, main_class: str) -> list[str]:
        return [
            java,
            f"-Xmx{self._settings.heap_mb}m",
            f"-Xms{min(256, self._settings.heap_mb)}m",
            "-XX:-UsePerfData",
            "-XX:+UseG1GC",
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            f"{libs}/*",
            main_class,
        ]

    def _format_storage(self, java: str, libs: Path, listener: SaslSslListener | None) -> None:
        if self._formatted():
            return
        java_command = self._java_command(java, libs, "kafka.tools.StorageTool")
        arguments = [
            *java_command[1:],
            "format", f"--cluster-id={random_cluster_id()}",
            "-c", str(self.home / "server.properties"), "--standalone",
            *(listener.format_arguments() if listener is not None else []),
        ]  # fmt: skip
        # The arguments (SCRAM passwords included) go through a java @argfile of mode 600, so
        # they never show in the process list; it is removed once formatting is done.
        argfile = self.home / "format.args"
        write_private(argfile, "\n".join(_argfile_quote(a) for a in arguments).encode())
        try:
            result = subprocess.run(
                [java_command[0], f"@{argfile}"], capture_output=True, text=True, check=False
            )
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting KRaft storage failed: {result.stderr.strip()[-300:]}"
            )

    def _start(self, java: str, libs: Path) -> None:
        console = (self.home / "logs" / "console.log").open("ab")
        command = self._java_command(java, libs, "kafka.Kafka")
        command.append(str(self.home / "server.properties"))
        with console:
            self._process = subprocess.Popen(
                command,
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )
        self._pid_file.write_text(str(self._process.pid))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._settings.start_timeout_s
        while time.monotonic() < deadline:
            if self._exited():
                raise LocalKafkaError(
                    f"the broker exited during start-up; see {self.home / 'logs'}: "
                    + self._log_tail()
                )
            if self._listeners_accept() and fetch_metadata(self.bootstrap_servers):
                return
            time.sleep(0.25)  # polling interval of a condition wait, not synchronisation
        raise LocalKafkaError(
            f"the broker did not serve metadata within {self._settings.start_timeout_s:.0f}s; "
            f"see {self.log_file}"
        )

    def _exited(self) -> bool:
        """The broker is gone: the process this object started ended (its command line is
        not checked: right after exec it can still be the java launcher's), or, for a broker
        started elsewhere, no live process matches the pid file."""
        if self._process is not None:
            return self._process.poll() is not None
        return self._running_pid() is None

    def _stop_started(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(30)
        self._pid_file.unlink(missing_ok=True)

    def _listeners_accept(self) -> bool:
        ports = [self._settings.port]
        if self._settings.sasl_ssl_port is not None:
            ports.append(self._settings.sasl_ssl_port)
        return all(_accepts_connections(self._settings.host, port) for port in ports)

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.1)
        return not _alive(pid)

    def _log_tail(self) -> str:
        """The broker's fatal error: the first ERROR line of its logs (and the cause after it),
        else the last line; with the exit status when this object started the process."""
        found: list[str] = []
        for name in ("server.log", "console.log"):
            path = self.home / "logs" / name
            if path.exists() and path.stat().st_size:
                found.append(_first_error(path.read_text(errors="replace").splitlines()))
        errors = [line for line in found if "ERROR" in line or "Error" in line]
        tail = (errors or found or ["no log output"])[0]
        code = self._process.poll() if self._process is not None else None
        return tail if code is None else f"{tail} [exit status {code}]"


def _argfile_quote(argument: str) -> str:
    """One argument as a line of a java @argfile (quoted, backslashes and quotes escaped)."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first_error(lines: list[str]) -> str:
    for index, line in enumerate(lines):
        if "] ERROR " in line or line.startswith(("ERROR", "Exception", "Error")):
            cause = next(
                (
                    c.strip()
                    for c in lines[index + 1 : index + 6]
                    if "Exception" in c or "Error" in c
                ),
                "",
            )
            return f"{line.strip()} {cause}".strip()[:400]
    return (lines[-1] if lines else "no log output")[:400]
