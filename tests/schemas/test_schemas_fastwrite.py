"""The generated encoder (schemas.fastwrite) writes exactly fastavro's bytes, or declines.

Equality is checked on :class:`EnvelopeWriter` itself (it raises instead of falling back), so
a silent fallback to fastavro cannot make these tests pass; the codec is checked on top.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import event, given, settings
from hypothesis import strategies as st
from schemas_strategies import envelopes

from sessionflow.schemas import (
    PAYLOAD_MODELS,
    EventCodec,
    EventType,
    EventValidationError,
    SchemaVersion,
    load_published,
)
from sessionflow.schemas.codec import MARKER
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.fastwrite import ENCODE_ERRORS, EnvelopeWriter, long_bytes, varint

VERSIONS = {v.version: v for v in load_published()}
CODECS = {n: EventCodec(tuple(VERSIONS.values()), writer_version=n) for n in VERSIONS}
WRITERS = {n: EnvelopeWriter(v.parsed) for n, v in VERSIONS.items()}
NAMES = {t.value: f"sessionflow.events.{m.__name__}" for t, m in PAYLOAD_MODELS.items()}
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.lists(st.text(max_size=3), max_size=2).map(tuple),
    st.lists(st.none() | st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(), max_size=2),
    st.datetimes(timezones=st.none() | st.just(UTC)),
)


def reference(version: SchemaVersion, record: dict[str, Any]) -> bytes:
    """Header + fastavro ``schemaless_writer`` (tuple notation for the payload)."""
    out = BytesIO()
    out.write(MARKER + version.fingerprint)
    body = {**record, "payload": (NAMES[record["event_type"]], record["payload"])}
    schemaless_writer(out, version.parsed, body)
    return out.getvalue()


def fast(version: SchemaVersion, record: dict[str, Any], payload: Any, from_model: bool) -> bytes:
    """The generated encoder alone (raises instead of falling back)."""
    header = MARKER + version.fingerprint
    writer = WRITERS[version.version]
    return writer.write(header, record, NAMES[record["event_type"]], payload, from_model)


def test_every_published_version_compiles_completely() -> None:
    assert all(writer.complete for writer in WRITERS.values())


@pytest.mark.parametrize("number", list(VERSIONS))
@pytest.mark.parametrize("event_type", list(EventType))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_bytes_equal_fastavro_for_every_type_and_writer_version(
    number: int, event_type: EventType, data: st.DataObject
) -> None:
    version, codec = VERSIONS[number], CODECS[number]
    event = data.draw(envelopes(event_type))
    record = event.model_dump()
    expected = reference(version, record)
    assert fast(version, record, record["payload"], from_model=False) == expected
    assert fast(version, record, event.payload, from_model=True) == expected
    assert codec.encode_record(record) == expected
    assert codec.encode(event) == expected
    plain = codec.decode(expected)  # occurred_at as int millis, enums as plain strings
    assert fast(version, plain, plain["payload"], from_model=False) == reference(version, plain)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 3),
        max_value=datetime(9999, 12, 29),
        timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
    )
)
def test_timestamp_millis_of_any_aware_datetime_matches_fastavro(moment: datetime) -> None:
    version = VERSIONS[max(VERSIONS)]
    record = {**example_events()[1].model_dump(), "occurred_at": moment}
    assert fast(version, record, record["payload"], from_model=False) == reference(version, record)


@pytest.mark.parametrize(
    "value", [0, 1, -1, 63, -64, 64, -65, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)]
)
def test_long_bytes_zigzag_varint_edges(value: int) -> None:
    zigzag = (value << 1) ^ (value >> 63)
    assert bytes(long_bytes(value)) == bytes(varint(zigzag))
    out = BytesIO()
    schemaless_writer(out, "long", value)
    assert bytes(long_bytes(value)) == out.getvalue()


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.0, "1", None])
def test_long_bytes_declines_what_is_not_a_64_bit_int(value: Any) -> None:
    with pytest.raises(ENCODE_ERRORS):
        long_bytes(value)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path into a plain record (containers and leaves)."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        found.append((*prefix, key))
        if isinstance(child, dict | list):
            found += _paths(child, (*prefix, key))
    return found


def _replaced(node: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    copied = dict(node) if isinstance(node, dict) else list(node)
    if len(path) > 1:
        copied[path[0]] = _replaced(node[path[0]], path[1:], value, delete)
    elif delete and isinstance(copied, dict):
        del copied[path[0]]
    else:
        copied[path[0]] = value
    return copied


@pytest.mark.parametrize("event_type", list(EventType))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_records_are_encoded_as_fastavro_does_or_declined(
    event_type: EventType, data: st.DataObject
) -> None:
    """Whatever one junk value or one missing key does: fast bytes are fastavro's bytes, and
    the codec (fast path or fallback) writes fastavro's bytes or raises EventValidationError."""
    version, codec = VERSIONS[max(VERSIONS)], CODECS[max(VERSIONS)]
    plain = codec.decode(codec.encode(data.draw(envelopes(event_type))))
    path = data.draw(st.sampled_from(_paths(plain)))
    mutated = _replaced(plain, path, data.draw(JUNK), delete=data.draw(st.booleans()))
    try:
        expected: bytes | None = reference(version, mutated)
    except Exception:
        expected = None
    try:
        got: bytes | None = fast(version, mutated, mutated["payload"], from_model=False)
    except ENCODE_ERRORS:
        got = None  # declined: the codec falls back to fastavro
    assert got is None or got == expected
    try:
        encoded: bytes | None = codec.encode_record(mutated)
    except EventValidationError:
        encoded = None
    assert encoded is None or encoded == expected
    assert expected is not None or encoded is None
    fast_did = "declined" if got is None else "wrote"
    event(f"fast {fast_did}, fastavro {'raised' if expected is None else 'wrote'}")


def _synthetic(extra_fields: list[dict[str, Any]]) -> Any:
    records = [{"type": "record", "name": f"t.P{i}", "fields": []} for i in range(3)]
    fields = [*extra_fields, {"name": "payload", "type": records}]
    return parse_schema({"type": "record", "name": "t.Envelope", "fields": fields})


def test_recursive_records_are_written_as_fastavro_does() -> None:
    node = {
        "type": "record",
        "name": "t.Node",
        "fields": [
            {"name": "label", "type": "string"},
            {"name": "next", "type": ["null", "t.Node"], "default": None},
        ],
    }
    parsed = _synthetic([{"name": "chain", "type": node}])
    chain = {"label": "a", "next": {"label": "b", "next": {"label": "c", "next": None}}}
    out = BytesIO()
    schemaless_writer(out, parsed, {"chain": chain, "payload": ("t.P1", {})})
    writer = EnvelopeWriter(parsed)
    assert writer.complete
    assert writer.write(b"", {"chain": chain}, "t.P1", {}, False) == out.getvalue()


def test_unsupported_nodes_compile_to_a_decline_and_are_reported() -> None:
    writer = EnvelopeWriter(
        _synthetic(
            [
                {"name": "ratio", "type": "double"},
                {"name": "either", "type": ["string", "long"]},
            ]
        )
    )
    assert not writer.complete
    with pytest.raises(TypeError, match="no fast encoder for Avro double"):
        writer.write(b"", {"ratio": 1.0, "either": "x"}, "t.P0", {}, False)
