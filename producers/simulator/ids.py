"""Seeded identifiers: the same seed gives the same ids, in the contract's forms."""

from __future__ import annotations

import random
import uuid
from datetime import datetime


def seeded_session_id(rng: random.Random, moment: datetime) -> str:
    """``sess_YYYYMMDD_HHMMSS_<6 hex>`` (seed 003) for ``moment``, suffix drawn from ``rng``."""
    return f"sess_{moment:%Y%m%d_%H%M%S}_{rng.getrandbits(24):06x}"


def seeded_uuid7(rng: random.Random, moment: datetime) -> str:
    """A UUIDv7 whose 48-bit time is ``moment`` (ms) and whose random bits come from ``rng``."""
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def short_id(rng: random.Random, prefix: str) -> str:
    """``<prefix>_<10 hex>``, e.g. ``msg_3f9c1a2b7d``."""
    return f"{prefix}_{rng.getrandbits(40):010x}"
