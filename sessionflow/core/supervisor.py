"""Run a set of long-lived processes, restart the ones that die, and say so in a state file.

:class:`Supervisor` is what ``sessionflow up`` runs: each :class:`Component` is a command
line with its log file; a component that exits while the supervisor runs is started again
after a backoff (doubling up to ``max_backoff_s``, reset once it stayed up for a minute), and
every start, exit and restart is written to the state file (JSON, replaced atomically), which
``sessionflow status`` and ``sessionflow down`` read. :meth:`Supervisor.stop` (or SIGTERM /
SIGINT to a foreground ``up``) sends SIGTERM to every component, waits for them, and SIGKILLs
one that outlives ``stop_timeout_s``.

Generic on purpose: it knows command lines, not what they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_POLL_S = 0.2
_STABLE_S = 60.0


@dataclass(frozen=True)
class Component:
    """One supervised process: its name, command line, environment, log file and URLs."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    urls: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ComponentState:
    """What the state file says of one component."""

    name: str
    log: str
    urls: dict[str, str]
    pid: int | None = None
    status: str = "starting"  # starting | running | restarting | stopped
    restarts: int = 0
    started_at: float | None = None
    last_exit: int | None = None
    last_exit_at: float | None = None


@dataclass
class _Running:
    component: Component
    state: ComponentState
    process: subprocess.Popen[bytes] | None = None
    backoff_s: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Starts ``components``, keeps them running, records them in ``state_file``."""

    def __init__(
        self,
        components: Sequence[Component],
        state_file: Path,
        *,
        extra: Mapping[str, Any] | None = None,
        min_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        stop_timeout_s: float = 30.0,
        on_event: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._running = [
            _Running(c, ComponentState(c.name, str(c.log), dict(c.urls))) for c in components
        ]
        self._state_file = state_file
        self._extra = dict(extra or {})
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._stop_timeout_s = stop_timeout_s
        self._on_event = on_event
        self._stopping = threading.Event()

    def run(self) -> None:
        """Start every component and supervise them until :meth:`stop` is called."""
        for running in self._running:
            self._start(running)
        self._write()
        while not self._stopping.wait(_POLL_S):
            if self._check():
                self._write()
        self._stop_all()
        self._write()

    def stop(self) -> None:
        """Ask :meth:`run` to stop every component and return (safe from a signal handler)."""
        self._stopping.set()

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the supervisor (call from the main thread)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop())

    def _start(self, running: _Running) -> None:
        component, state = running.component, running.state
        component.log.parent.mkdir(parents=True, exist_ok=True)
        with component.log.open("ab") as log:
            running.process = subprocess.Popen(
                list(component.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **component.env},
                start_new_session=True,  # a Ctrl-C in the terminal reaches the supervisor only
            )
        state.pid, state.status, state.started_at = running.process.pid, "running", time.time()

    def _check(self) -> bool:
        """Restart what died and is due; True when anything changed."""
        changed = False
        now = time.time()
        for running in self._running:
            process, state = running.process, running.state
            if process is not None and process.poll() is not None:
                changed = True
                self._exited(running, process.returncode, now)
            elif process is None and now >= running.restart_at:
                changed = True
                state.restarts += 1
                self._start(running)
                self._on_event(f"{state.name} restarted (restart {state.restarts})")
        return changed

    def _exited(self, running: _Running, code: int, now: float) -> None:
        state = running.state
        stable = state.started_at is not None and now - state.started_at >= _STABLE_S
        running.backoff_s = (
            self._min_backoff_s
            if stable or not running.backoff_s
            else min(running.backoff_s * 2, self._max_backoff_s)
        )
        running.process, running.restart_at = None, now + running.backoff_s
        state.pid, state.status = None, "restarting"
        state.last_exit, state.last_exit_at = code, now
        self._on_event(
            f"{state.name} exited with code {code}; restarting in {running.backoff_s:g} s "
            f"(log {state.log})"
        )

    def _stop_all(self) -> None:
        alive = [r for r in self._running if r.process is not None and r.process.poll() is None]
        for running in alive:
            _signal(running.process, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout_s
        for running in alive:
            assert running.process is not None
            try:
                running.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(running.process, signal.SIGKILL)
                running.process.wait()
        for running in self._running:
            state = running.state
            if running.process is not None:
                state.last_exit = running.process.returncode
            running.process, state.pid, state.status = None, None, "stopped"

    def _write(self) -> None:
        write_state(
            self._state_file,
            {
                **self._extra,
                "supervisor_pid": os.getpid(),
                "stopping": self._stopping.is_set(),
                "components": [asdict(r.state) for r in self._running],
            },
        )


def _signal(process: subprocess.Popen[bytes] | None, signum: int) -> None:
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``state`` as JSON, atomically (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file's content, or None when there is none."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def pid_alive(pid: int | None) -> bool:
    """True when a process ``pid`` exists (and is not a zombie we could see)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True
