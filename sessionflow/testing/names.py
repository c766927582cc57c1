"""Unique names, so tests never share topics, groups or databases."""

from __future__ import annotations

import uuid


def unique_name(prefix: str, separator: str = "-") -> str:
    """``prefix`` plus a random suffix, e.g. ``events-3f9c1a2b7d``; use ``_`` for SQL names."""
    return f"{prefix}{separator}{uuid.uuid4().hex[:12]}"
