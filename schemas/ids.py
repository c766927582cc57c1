"""Identifier generators: sortable session ids (seed 003) and UUIDv7 event ids."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Final

import uuid_utils

SESSION_ID_PATTERN: Final = re.compile(r"^sess_\d{8}_\d{6}_[0-9a-f]{6}$")
"""Seed 003's form ``sess_YYYYMMDD_HHMMSS_<6 lowercase hex>``."""


def new_session_id(now: datetime | None = None) -> str:
    """Return ``sess_YYYYMMDD_HHMMSS_<6 hex>`` for ``now`` (default: current UTC time).

    Ids sort chronologically to the second; 24 random bits separate ids of the same second.
    A naive ``now`` is taken as UTC.
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"sess_{moment:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def is_session_id(value: str) -> bool:
    """Whether ``value`` has seed 003's session id form (other forms are still allowed)."""
    return SESSION_ID_PATTERN.fullmatch(value) is not None


def new_event_id() -> str:
    """Return a fresh time-ordered UUIDv7 in canonical lowercase string form."""
    return str(uuid_utils.uuid7())
