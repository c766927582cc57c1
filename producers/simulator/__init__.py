"""The session simulator: realistic, seeded sessions plus anomalies in known quantities.

``simulate(plan, codec.encode)`` is pure and deterministic: the same plan gives the same
records, byte for byte, and a :class:`Simulation` that states exactly what was injected —
the ground truth the processor, sink and reliability tests check against.
"""

from sessionflow.producers.simulator.engine import simulate
from sessionflow.producers.simulator.plan import (
    DEFAULT_START,
    AnomalyKind,
    InjectedAnomaly,
    Outgoing,
    ProducerRestart,
    Simulation,
    SimulationPlan,
)

__all__ = [
    "DEFAULT_START",
    "AnomalyKind",
    "InjectedAnomaly",
    "Outgoing",
    "ProducerRestart",
    "Simulation",
    "SimulationPlan",
    "simulate",
]
