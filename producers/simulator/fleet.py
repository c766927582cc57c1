"""The simulated services and their producer instances: who numbers which events of a session.

A session is written by four services, each through its own producer instances (replicas),
so its events fall into several ordering scopes (session_id, producer_id):

- ``chat-api`` numbers the lifecycle, user and assistant messages, tool requests and errors;
- ``llm-gateway`` numbers the streamed answers;
- ``tool-runner`` numbers tool results (completed/failed and the tool's message); every tool
  call may land on another replica;
- ``approval-ui`` numbers approvals and rejections.

A session keeps its chat-api, llm-gateway and approval-ui instances, unless one restarts:
the session then continues on a new instance with a new id (a new scope, from 1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from sessionflow.producers.simulator.plan import ProducerRestart
from sessionflow.schemas.enums import EventType

CHAT: Final = "chat-api"
LLM: Final = "llm-gateway"
TOOL_RUNNER: Final = "tool-runner"
APPROVALS: Final = "approval-ui"
REPLICAS: Final = {CHAT: 3, LLM: 2, TOOL_RUNNER: 3, APPROVALS: 2}
_OWNED: Final = {
    CHAT: ("session.created", "session.activated", "session.suspended", "session.ended",
           "message.created", "message.updated", "tool_call.pending", "error.occurred"),
    LLM: ("stream.started", "stream.chunk", "stream.ended"),
    TOOL_RUNNER: ("tool_call.completed", "tool_call.failed"),
    APPROVALS: ("tool_call.approved", "tool_call.rejected"),
}  # fmt: skip
SERVICE_OF: Final = {EventType(t): service for service, types in _OWNED.items() for t in types}
"""The service whose instances number each event type (a tool's message: the tool runner)."""


def instance_id(rng: random.Random, service: str) -> str:
    """A producer id in the SDK's form ``<service>-<16 hex>``, drawn from ``rng``."""
    return f"{service}-{rng.getrandbits(64):016x}"


@dataclass(frozen=True)
class Fleet:
    """The running replicas of every service."""

    replicas: dict[str, tuple[str, ...]]

    @classmethod
    def draw(cls, rng: random.Random) -> Fleet:
        """``REPLICAS[service]`` instances of each service."""
        return cls({s: tuple(instance_id(rng, s) for _ in range(n)) for s, n in REPLICAS.items()})


@dataclass
class SessionProducers:
    """The instances writing one session now: one per service."""

    rng: random.Random
    fleet: Fleet
    session_id: str
    current: dict[str, str] = field(default_factory=dict)
    restarts: list[ProducerRestart] = field(default_factory=list)

    def __post_init__(self) -> None:
        for service, replicas in self.fleet.replicas.items():
            self.current[service] = self.rng.choice(replicas)

    def producer_of(self, service: str) -> str:
        """The instance of ``service`` that numbers this session's events now."""
        return self.current[service]

    def route_tool_call(self) -> None:
        """A tool call goes to any tool-runner replica (no session affinity)."""
        self.current[TOOL_RUNNER] = self.rng.choice(self.fleet.replicas[TOOL_RUNNER])

    def restart(self, service: str) -> ProducerRestart:
        """The session continues on a new instance of ``service`` (new id, new scope)."""
        old, new = self.current[service], instance_id(self.rng, service)
        self.current[service] = new
        restart = ProducerRestart(self.session_id, service, old, new)
        self.restarts.append(restart)
        return restart
