"""The generated decoder (schemas.fastread) reads exactly what fastavro reads, or declines.

The reference is fastavro's ``schemaless_reader`` with the codec's schemas and options, never
the code under test. Equality is checked on :class:`RecordReader` itself (it raises instead of
falling back), so a silent fallback to fastavro cannot make these tests pass; key order and
value types count (see :func:`exact`). The codec is checked on top: for any bytes it returns
what a fastavro-only decode returns, or raises the same DecodeError subclass.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from schemas_strategies import envelopes

from sessionflow.schemas import (
    PAYLOAD_MODELS,
    BadMarkerError,
    DecodeError,
    EventCodec,
    EventType,
    InconsistentEventError,
    MalformedBodyError,
    ResolutionError,
    SchemaVersion,
    TrailingBytesError,
    TruncatedBodyError,
    UnknownFingerprintError,
    load_published,
)
from sessionflow.schemas.codec import MARKER
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.fastread import READ_ERRORS, RecordReader
from sessionflow.schemas.golden import load_golden

VERSIONS = {v.version: v for v in load_published()}
CURRENT = VERSIONS[max(VERSIONS)]
BY_FINGERPRINT = {v.fingerprint: v for v in VERSIONS.values()}
CODEC = EventCodec(tuple(VERSIONS.values()))
WRITING = {n: EventCodec(tuple(VERSIONS.values()), writer_version=n) for n in VERSIONS}
READERS = {
    n: RecordReader(v.parsed_raw, None if v is CURRENT else CURRENT.parsed_raw)
    for n, v in VERSIONS.items()
}
TYPE_OF = {f"sessionflow.events.{m.__name__}": t.value for t, m in PAYLOAD_MODELS.items()}
GOLDEN = [(n, vector) for n in VERSIONS for vector in load_golden(n)]
MESSAGES = [vector.message for _, vector in GOLDEN]
MESSAGES += [WRITING[n].encode(event) for n in VERSIONS for event in example_events()]


def exact(value: Any) -> Any:
    """``value`` with dict key order and every type made part of equality."""
    if isinstance(value, dict):
        return ("dict", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [exact(item) for item in value])
    return (type(value).__name__, value)


def fastavro_read(version: SchemaVersion, data: bytes, pos: int = 10) -> tuple[Any, int]:
    """fastavro's datum at ``pos`` and where it stopped, as the codec calls it."""
    stream = BytesIO(data)
    stream.seek(pos)
    reader = None if version is CURRENT else CURRENT.parsed_raw
    datum = schemaless_reader(
        stream,
        version.parsed_raw,
        reader,
        return_record_name=True,
        return_record_name_override=True,
    )
    return datum, stream.tell()


def fast_read(version: SchemaVersion, data: bytes, pos: int = 10) -> tuple[Any, int]:
    """The generated reader alone (raises instead of falling back)."""
    return READERS[version.version].read(data, pos)


def reference_decode(data: bytes) -> Any:
    """The codec's contract computed with fastavro alone: the record, or the error class."""
    if len(data) < 10 or data[:2] != MARKER:
        return BadMarkerError
    version = BY_FINGERPRINT.get(data[2:10])
    if version is None:
        return UnknownFingerprintError
    try:
        record, end = fastavro_read(version, data)
    except SchemaResolutionError:
        return ResolutionError
    except EOFError:
        return TruncatedBodyError
    except IndexError as exc:  # fastavro's C reader past the end of a varint
        return TruncatedBodyError if "string index" in str(exc) else MalformedBodyError
    except Exception:
        return MalformedBodyError
    if end != len(data):
        return TrailingBytesError
    name, payload = record["payload"]
    if TYPE_OF.get(name) != record["event_type"]:
        return InconsistentEventError
    return {**record, "payload": payload}


def codec_decode(data: bytes) -> Any:
    """The codec's record, or the class of the DecodeError it raised."""
    try:
        return CODEC.decode(data)
    except DecodeError as exc:
        return type(exc)


def assert_same_as_fastavro(data: bytes) -> str:
    """Reader and codec agree with fastavro on ``data``; returns what happened, for stats."""
    expected = reference_decode(data)
    got = codec_decode(data)
    if isinstance(expected, type):
        assert got is expected
    else:
        assert exact(got) == exact(expected)
    version = BY_FINGERPRINT.get(data[2:10]) if data[:2] == MARKER else None
    if version is None:
        return "bad header"
    try:
        datum, end = fast_read(version, data)
    except READ_ERRORS:
        return f"fast declined, codec: {getattr(expected, '__name__', 'record')}"
    assert (exact(datum), end) == (exact(fastavro_read(version, data)[0]), end)
    assert end == fastavro_read(version, data)[1]
    return f"fast read, codec: {getattr(expected, '__name__', 'record')}"


def test_every_published_version_resolves_completely() -> None:
    assert all(reader.complete for reader in READERS.values())


@pytest.mark.parametrize(("number", "vector"), GOLDEN, ids=lambda p: getattr(p, "event_type", p))
def test_golden_vectors_read_as_fastavro_reads_them(number: int, vector: Any) -> None:
    version = VERSIONS[number]
    expected, end = fastavro_read(version, vector.message)
    assert end == len(vector.message)
    assert exact(fast_read(version, vector.message)) == exact((expected, end))
    assert exact(CODEC.decode(vector.message)) == exact(reference_decode(vector.message))


@pytest.mark.parametrize("number", list(VERSIONS))
@pytest.mark.parametrize("event_type", list(EventType))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_event_written_by_any_version_reads_as_fastavro_reads_it(
    number: int, event_type: EventType, data: st.DataObject
) -> None:
    message = WRITING[number].encode(data.draw(envelopes(event_type)))
    expected = fastavro_read(VERSIONS[number], message)
    assert expected[1] == len(message)
    assert exact(fast_read(VERSIONS[number], message)) == exact(expected)
    assert exact(CODEC.decode(message)) == exact(reference_decode(message))


def test_large_values_read_as_fastavro_reads_them() -> None:
    """Multi-byte lengths, block counts and varints up to the 64-bit edges."""
    base = CODEC.decode(CODEC.encode(example_events()[4]))  # message.created
    for sequence in (63, 64, 2**31, 2**63 - 1, -(2**63), -1):
        payload = {
            **base["payload"],
            "content": "é" * 5000,
            "tool_call_ids": [f"call-{i}" for i in range(200)],
            "attachments": [base["payload"]["attachments"][0]] * 70,
        }
        record = {**base, "sequence": sequence, "occurred_at": ~sequence, "payload": payload}
        message = CODEC.encode_record(record)
        assert assert_same_as_fastavro(message) == "fast read, codec: record"
    created = CODEC.decode(CODEC.encode(example_events()[0]))  # session.created
    metadata = {f"k{i}": "v" * i for i in range(300)}
    message = CODEC.encode_record(
        {**created, "payload": {**created["payload"], "metadata": metadata}}
    )
    assert assert_same_as_fastavro(message) == "fast read, codec: record"


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(MESSAGES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_messages_read_as_fastavro_reads_them_or_fail_alike(
    message: bytes, edits: list[tuple[int, int]], how: str
) -> None:
    data = bytearray(message)
    for position, value in edits:
        index = 10 + position % (len(data) - 10)  # the body: header errors are not the point
        if how == "replace":
            data[index] = value
        elif how == "insert":
            data.insert(index, value)
        elif len(data) > 11:
            del data[index]
    event(assert_same_as_fastavro(bytes(data)))


def test_every_truncation_fails_alike() -> None:
    for message in MESSAGES:
        for cut in range(10, len(message)):
            assert assert_same_as_fastavro(message[:cut]) == (
                "fast declined, codec: TruncatedBodyError"
            )


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(list(VERSIONS.values())), st.binary(max_size=200))
@example(CURRENT, b"")
def test_random_bodies_fail_or_read_alike(version: SchemaVersion, body: bytes) -> None:
    event(assert_same_as_fastavro(MARKER + version.fingerprint + body))


def avro(schema: Any, value: Any) -> bytes:
    """fastavro's encoding of ``value`` as ``schema``."""
    out = BytesIO()
    schemaless_writer(out, schema, value)
    return out.getvalue()


def with_payload(event_type: EventType, payload: bytes, tag: bytes | None = None) -> bytes:
    """The example event of ``event_type`` with the bytes of its payload (and tag) replaced."""
    example = next(e for e in example_events() if e.event_type is event_type)
    message = CODEC.encode(example)
    named = CURRENT.parsed_raw["__named_schemas"]
    name = TYPE_NAME[event_type.value]
    record = parse_schema(named[name], named_schemas={k: v for k, v in named.items() if k != name})
    prefix = message[: len(message) - len(avro(record, example.payload.model_dump(mode="json")))]
    return (prefix if tag is None else prefix[:-1] + tag) + payload


TYPE_NAME = {event_type: name for name, event_type in TYPE_OF.items()}
ERROR, DONE = EventType.ERROR_OCCURRED, EventType.TOOL_CALL_COMPLETED
TEXT = avro("string", "m")
ENTRY = avro("string", "k") + avro("string", "v")


@pytest.mark.parametrize(
    ("data", "fast_reads", "outcome"),
    [
        # fastavro's C reader: any non-zero boolean byte is True
        (with_payload(ERROR, b"\x00" + TEXT + b"\x00\x02"), True, "record"),
        # fastavro indexes branches and symbols in Python: -1 is the last one
        (with_payload(ERROR, b"\x00" + TEXT + b"\x00\x01", tag=b"\x01"), False, "record"),
        (with_payload(ERROR, b"\x01" + TEXT + b"\x00\x01"), False, "record"),
        (with_payload(ERROR, avro("long", 22) + TEXT + b"\x00\x01"), False, "MalformedBodyError"),
        # a zero written in two bytes is still zero
        (with_payload(ERROR, b"\x00" + TEXT + b"\x80\x00\x01"), False, "record"),
        (with_payload(DONE, TEXT + TEXT + b"\x80\x00"), True, "record"),
        # a negative block count is followed by the block's size in bytes (Avro spec)
        (with_payload(ERROR, b"\x00" + TEXT + b"\x01\x08" + ENTRY + b"\x00\x01"), False, "record"),
        (with_payload(ERROR, b"\x00" + TEXT + b"\x02" + ENTRY + b"\x00\x01"), True, "record"),
        (with_payload(ERROR, b"\x00\x04\xff\xfe\x00\x01"), False, "MalformedBodyError"),
        (with_payload(ERROR, b"\x00\x03m\x00\x01"), False, "TruncatedBodyError"),
        # varints: 10 bytes is the 64-bit edge; fastavro wraps longer or larger ones
        (with_payload(DONE, TEXT + TEXT + b"\xff" * 9 + b"\x01"), True, "record"),
        (with_payload(DONE, TEXT + TEXT + b"\xff" * 9 + b"\x7f"), False, "record"),
        (with_payload(DONE, TEXT + TEXT + b"\x80" * 10 + b"\x01"), False, "record"),
        (with_payload(DONE, TEXT + TEXT + b"\x80" * 10), False, "TruncatedBodyError"),
    ],
)
def test_odd_bytes_are_read_as_fastavro_reads_them_or_declined(
    data: bytes, fast_reads: bool, outcome: str
) -> None:
    expected = "fast read" if fast_reads else "fast declined"
    assert assert_same_as_fastavro(data) == f"{expected}, codec: {outcome}"
