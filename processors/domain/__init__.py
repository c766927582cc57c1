"""The framework-free core of the processors: state, transitions, ordering, the fold.

Public API::

    fold(states, records, codec) -> FoldResult   one batch: new states, dead letters, applied
    Record, DeadLetter, Reason, Origin            what goes in and what is rejected
    SessionState, SessionStatus, ToolCall, ToolCallStatus, OpenStream, Scope, SessionStats
    GlobalStats, Histogram                        statistics over time, mergeable per worker

The live processors, replay and the tests all fold with this package; nothing in it does
I/O or reads a clock.
"""

from sessionflow.processors.domain.deadletters import DeadLetter, Origin, Reason, Record
from sessionflow.processors.domain.fold import Decoder, FoldResult, StateLookup, fold
from sessionflow.processors.domain.model import (
    OpenStream,
    Scope,
    SessionState,
    SessionStats,
    SessionStatus,
    ToolCall,
    ToolCallStatus,
    Usage,
)
from sessionflow.processors.domain.windows import GlobalStats, Histogram

__all__ = [
    "DeadLetter",
    "Decoder",
    "FoldResult",
    "GlobalStats",
    "Histogram",
    "OpenStream",
    "Origin",
    "Reason",
    "Record",
    "Scope",
    "SessionState",
    "SessionStats",
    "SessionStatus",
    "StateLookup",
    "ToolCall",
    "ToolCallStatus",
    "Usage",
    "fold",
]
