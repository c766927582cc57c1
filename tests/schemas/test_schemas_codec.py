"""Round trips, wire format and fingerprints of the single-object codec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemas_strategies import envelopes

from sessionflow.schemas import (
    EventCodec,
    EventEnvelope,
    EventType,
    EventValidationError,
    datetime_to_millis,
    load_published,
    millis_to_datetime,
)
from sessionflow.schemas.examples import example_events

CODEC = EventCodec()
_EMPTY = 0xC15D213AA4D7A795  # CRC-64-AVRO per the Avro spec
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def _crc64_avro(data: bytes) -> int:
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def test_independent_crc64_matches_the_spec_vector_for_null() -> None:
    assert _crc64_avro(b'"null"') == 0x63DD24E7CC258F8A  # Avro spec test vector


def test_fingerprints_are_crc64_avro_of_the_canonical_form_little_endian() -> None:
    for version in load_published():
        expected = _crc64_avro(version.canonical.encode()).to_bytes(8, "little")
        assert version.fingerprint == expected, version.version


def test_header_is_marker_then_writer_fingerprint() -> None:
    message = CODEC.encode(example_events()[0])
    assert message[:2] == b"\xc3\x01"
    assert message[2:10] == CODEC.current.fingerprint
    assert CODEC.writer_version(message) == CODEC.current.version


@pytest.mark.parametrize("event_type", list(EventType))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_every_event_type(event_type: EventType, data: st.DataObject) -> None:
    event = data.draw(envelopes(event_type))
    message = CODEC.encode(event)
    assert CODEC.decode_model(message) == event
    record = CODEC.decode(message)
    assert record == {
        **event.model_dump(mode="python"),
        "occurred_at": datetime_to_millis(event.occurred_at),
    }
    assert CODEC.encode_record(record) == message  # plain-dict path writes the same bytes


def test_decode_returns_plain_types_only() -> None:
    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(type(k) is str and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, bool)

    for event in example_events():
        record = CODEC.decode(CODEC.encode(event))
        assert plain(record), event.event_type
        assert type(record["occurred_at"]) is int


def test_encode_record_accepts_aware_datetime_and_rejects_naive() -> None:
    record = CODEC.decode(CODEC.encode(example_events()[3]))
    moment = millis_to_datetime(record["occurred_at"])
    assert CODEC.encode_record({**record, "occurred_at": moment}) == CODEC.encode_record(record)
    with pytest.raises(EventValidationError, match=r"session\.ended: occurred_at: naive"):
        CODEC.encode_record({**record, "occurred_at": moment.replace(tzinfo=None)})


def test_occurred_at_is_truncated_to_milliseconds_in_utc() -> None:
    event = example_events()[0]
    precise = datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC)
    again = EventEnvelope.model_validate({**event.model_dump(), "occurred_at": precise})
    assert again.occurred_at == datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert CODEC.decode_model(CODEC.encode(again)).occurred_at == again.occurred_at


def test_millis_conversions_are_inverse() -> None:
    for millis in (0, 1, -1, 1705314645123, 253402300799999):
        assert datetime_to_millis(millis_to_datetime(millis)) == millis


def test_writer_version_selects_an_older_schema() -> None:
    oldest = load_published()[0]
    old_writer = EventCodec(writer_version=oldest.version)
    message = old_writer.encode(example_events()[4])
    assert message[2:10] == oldest.fingerprint
    assert CODEC.writer_version(message) == oldest.version
    with pytest.raises(ValueError, match="no published schema version"):
        EventCodec(writer_version=999)
