"""Hypothesis strategies derived from the contract models (new fields are covered for free)."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from annotated_types import Ge, Le, MinLen
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sessionflow.schemas import PAYLOAD_MODELS, EventEnvelope, EventType

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_TEXT = st.text(max_size=40)  # hypothesis excludes surrogates by default: always valid UTF-8


def for_type(tp: Any, metadata: tuple[Any, ...] = (), name: str = "") -> st.SearchStrategy[Any]:
    """Values valid for annotation ``tp`` with pydantic ``metadata`` of field ``name``."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *extra = get_args(tp)
        flat = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return for_type(inner, (*metadata, *flat), name)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        options = [for_type(a, metadata, name) for a in args if a is not type(None)]
        return (st.none() if type(None) in args else st.nothing()) | st.one_of(options)
    if origin is list:
        return st.lists(for_type(get_args(tp)[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_TEXT, for_type(get_args(tp)[1]), max_size=3)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model_strategy(tp)
    if getattr(tp, "__name__", "") == "AwareDatetime":
        return st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
        )
    if tp is str:
        if any("_check_uuid" in repr(m) for m in metadata):
            return st.uuids().map(str)
        if any("_check_json" in repr(m) for m in metadata):
            return _JSON.map(json.dumps)
        min_size = max((m.min_length for m in metadata if isinstance(m, MinLen)), default=0)
        return st.text(min_size=min_size, max_size=40)
    if tp is int:
        low = max((int(m.ge) for m in metadata if isinstance(m, Ge)), default=LONG_MIN)  # type: ignore[call-overload]
        high = min((int(m.le) for m in metadata if isinstance(m, Le)), default=LONG_MAX)  # type: ignore[call-overload]
        return st.integers(low, high)
    if tp is bool:
        return st.booleans()
    raise TypeError(f"no strategy for {tp!r} ({name})")


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Valid instances of ``model`` (every field drawn, optional ones sometimes None)."""
    fields = {
        name: for_type(info.annotation, tuple(info.metadata), name)
        for name, info in model.model_fields.items()
    }
    return st.fixed_dictionaries(fields).map(model.model_validate)


def envelopes(event_type: EventType) -> st.SearchStrategy[EventEnvelope]:
    """Valid envelopes of ``event_type`` with arbitrary content."""
    fields = {
        name: for_type(info.annotation, tuple(info.metadata), name)
        for name, info in EventEnvelope.model_fields.items()
        if name not in ("event_type", "payload")
    }
    fields["event_type"] = st.just(event_type)
    fields["payload"] = model_strategy(PAYLOAD_MODELS[event_type])
    return st.fixed_dictionaries(fields).map(EventEnvelope.model_validate)


def any_envelope() -> st.SearchStrategy[EventEnvelope]:
    """Valid envelopes of any of the 15 types."""
    return st.sampled_from(list(EventType)).flatmap(envelopes)
