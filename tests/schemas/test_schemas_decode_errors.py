"""Whatever the bytes, decoding raises only the typed DecodeError family."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sessionflow.core.errors import SessionflowError
from sessionflow.schemas import (
    BadMarkerError,
    DecodeError,
    EventCodec,
    EventValidationError,
    InconsistentEventError,
    ResolutionError,
    SchemaError,
    TrailingBytesError,
    TruncatedBodyError,
    UnknownFingerprintError,
    load_published,
)
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.golden import load_golden
from sessionflow.schemas.registry import avsc_root, load_version

CODEC = EventCodec()
MESSAGES = [CODEC.encode(event) for event in example_events()]
MESSAGES += [vector.message for vector in load_golden(CODEC.versions[0].version)]  # oldest
HEADERS = [b"\xc3\x01" + v.fingerprint for v in CODEC.versions]


def _decode_outcome(data: bytes) -> dict[str, object] | None:
    """Decode; return the record, or None after a DecodeError. Anything else fails the test."""
    try:
        return CODEC.decode(data)
    except DecodeError:
        return None


def test_error_family_roots_in_sessionflow_error() -> None:
    assert issubclass(DecodeError, SchemaError)
    assert issubclass(SchemaError, SessionflowError)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
@example(b"")
@example(b"\xc3")
@example(b"\xc3\x01")
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    _decode_outcome(data)


@settings(max_examples=1000)
@given(st.sampled_from(HEADERS), st.binary(max_size=300))
def test_random_bodies_behind_a_valid_header_raise_only_decode_errors(
    header: bytes, body: bytes
) -> None:
    _decode_outcome(header + body)


@settings(max_examples=1500)
@given(
    st.sampled_from(MESSAGES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_valid_messages_decode_or_raise_decode_errors(
    message: bytes, edits: list[tuple[int, int]], how: str
) -> None:
    data = bytearray(message)
    for position, value in edits:
        index = position % len(data) if data else 0
        if how == "replace" and data:
            data[index] = value
        elif how == "insert":
            data.insert(index, value)
        elif data:
            del data[index]
    record = _decode_outcome(bytes(data))
    if record is not None:  # a mutation that still decodes must give a re-encodable record
        assert CODEC.decode(CODEC.encode_record(record)) == record


def test_every_truncation_is_reported_as_truncated() -> None:
    for message in MESSAGES:
        for cut in range(10, len(message)):
            with pytest.raises(TruncatedBodyError):
                CODEC.decode(message[:cut])


@pytest.mark.parametrize("junk", [b"\x00", b"\x02x", b"junk" * 10])
def test_trailing_bytes_are_rejected(junk: bytes) -> None:
    for message in MESSAGES:
        with pytest.raises(TrailingBytesError):
            CODEC.decode(message + junk)


@pytest.mark.parametrize(
    "data", [b"", b"\xc3\x01", b"\xc3\x00" + bytes(20), b"\x00\x01" + bytes(20)]
)
def test_bad_marker(data: bytes) -> None:
    with pytest.raises(BadMarkerError):
        CODEC.decode(data)


def test_unknown_fingerprint_names_it() -> None:
    data = b"\xc3\x01" + bytes(range(8)) + MESSAGES[0][10:]
    with pytest.raises(UnknownFingerprintError, match="0001020304050607") as info:
        CODEC.decode(data)
    assert info.value.fingerprint == bytes(range(8))


def test_non_bytes_input_is_a_decode_error() -> None:
    with pytest.raises(BadMarkerError):
        CODEC.decode("not bytes")  # type: ignore[arg-type]


def test_event_type_that_does_not_match_the_payload_is_rejected() -> None:
    record = CODEC.decode(MESSAGES[1])  # session.activated
    forged = {**record, "event_type": "session.suspended"}  # same payload shape, wrong type
    data = CODEC.encode_record(forged)
    # encode_record wrote a SessionSuspended record; relabel the envelope string in place
    tampered = data.replace(b"session.suspended", b"session.activated")
    assert tampered != data
    with pytest.raises(InconsistentEventError, match="SessionSuspended"):
        CODEC.decode(tampered)


def test_unknown_event_type_string_is_rejected() -> None:
    data = MESSAGES[2].replace(b"session.suspended", b"session.suspendeX")
    with pytest.raises(InconsistentEventError):
        CODEC.decode(data)


def test_avro_valid_but_model_invalid_bytes_fail_decode_model_with_one_line() -> None:
    record = CODEC.decode(MESSAGES[0])
    data = CODEC.encode_record({**record, "event_id": "not-a-uuid", "sequence": -4})
    assert CODEC.decode(data)["event_id"] == "not-a-uuid"  # fast path trusts the schema
    with pytest.raises(EventValidationError) as info:
        CODEC.decode_model(data)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("session.created: event_id: ")


def test_resolution_failure_is_typed(tmp_path: Path) -> None:
    """A writer enum symbol the reader lacks cannot be projected: ResolutionError."""
    current = CODEC.current
    versions = list(load_published())
    writer_dir = tmp_path / "v99"
    writer_dir.mkdir()
    source = Path(str(avsc_root())) / f"v{current.version}"
    for path in source.glob("*.avsc"):
        schema = json.loads(path.read_text())
        if schema["name"] == "ErrorCode":
            schema = copy.deepcopy(schema)
            schema["symbols"].append("BRAND_NEW_CODE")
        (writer_dir / path.name).write_text(json.dumps(schema))
    future = load_version(99, writer_dir)
    future_writer = EventCodec([*versions, future], writer_version=99)
    error_event = CODEC.decode(MESSAGES[14])  # error.occurred, current version
    data = future_writer.encode_record(
        {**error_event, "payload": {**error_event["payload"], "error_code": "BRAND_NEW_CODE"}}
    )
    reader = EventCodec([future, *versions])  # current = last = the real latest version
    with pytest.raises(ResolutionError):
        reader.decode(data)
    assert reader.decode(future_writer.encode_record(error_event)) == error_event
