"""Dead letters for ops: read them back from the DLQ topic, select them, re-inject them.

:mod:`.letters` is pure (parsing, selection), :mod:`.reader` reads the DLQ topic,
:mod:`.replay` re-injects letters into the domain topic, each DLQ record at most once.
"""

from sessionflow.processors.dlq.letters import (
    BadSelectionError,
    Decoded,
    Position,
    Selection,
    StoredLetter,
    count_by_reason,
    decode_letter,
    parse_position,
    parse_since,
)
from sessionflow.processors.dlq.reader import DeadLetterNotFoundError, DeadLetterReader
from sessionflow.processors.dlq.replay import (
    FIXABLE,
    WHY_NOT,
    ReplayPlan,
    ReplayProgress,
    plan_replay,
    replay_headers,
    replay_letters,
)

__all__ = [
    "FIXABLE",
    "WHY_NOT",
    "BadSelectionError",
    "DeadLetterNotFoundError",
    "DeadLetterReader",
    "Decoded",
    "Position",
    "ReplayPlan",
    "ReplayProgress",
    "Selection",
    "StoredLetter",
    "count_by_reason",
    "decode_letter",
    "parse_position",
    "parse_since",
    "plan_replay",
    "replay_headers",
    "replay_letters",
]
