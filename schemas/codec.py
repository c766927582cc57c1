"""Avro single-object encoding of session events.

Wire format (Avro spec, "Single object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema, 8 bytes little-endian | Avro body

The decoder looks the fingerprint up among *all* published versions and projects the body
onto the current (latest) reader schema. Decoding raises only :class:`DecodeError`
subclasses, whatever the bytes.

Shapes of the plain-dict API (:meth:`EventCodec.decode`, :meth:`EventCodec.encode_record`):
envelope fields by name; ``occurred_at`` as **int milliseconds since the Unix epoch (UTC)**
(decode never builds datetimes; encode also accepts an aware datetime); enums as their
string values; ``payload`` as a plain dict of the record matching ``event_type``; nested
records as dicts; absent optional fields as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from io import BytesIO
from types import MappingProxyType
from typing import Any, Final

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from sessionflow.schemas.avrogen import fullname
from sessionflow.schemas.errors import (
    BadMarkerError,
    DecodeError,
    EventValidationError,
    InconsistentEventError,
    MalformedBodyError,
    ResolutionError,
    SchemaArgumentError,
    TrailingBytesError,
    TruncatedBodyError,
    UnknownFingerprintError,
)
from sessionflow.schemas.fastread import Reader, RecordReader
from sessionflow.schemas.fastwrite import ENCODE_ERRORS, EnvelopeWriter
from sessionflow.schemas.models import PAYLOAD_MODELS, ContractModel, EventEnvelope
from sessionflow.schemas.registry import SchemaVersion, load_published
from sessionflow.schemas.validation import validate_event

MARKER: Final = b"\xc3\x01"
HEADER_SIZE: Final = 10
_TYPE_TO_RECORD: Final = MappingProxyType(
    {event_type.value: fullname(model) for event_type, model in PAYLOAD_MODELS.items()}
)
_RECORD_TO_TYPE: Final = MappingProxyType({v: k for k, v in _TYPE_TO_RECORD.items()})
_TYPE_TO_MODEL: Final = MappingProxyType({t.value: model for t, model in PAYLOAD_MODELS.items()})
_BINARY: Final = (bytes, bytearray, memoryview)


class EventCodec:
    """Encoder/decoder for the ``session-events`` topic. Immutable; build once, share freely.

    ``versions`` defaults to every version published in the package; the last one is the
    reader schema. ``writer_version`` (default: the reader's) selects the schema used to
    encode, e.g. to keep writing an older version during a rollout.
    """

    __slots__ = (
        "_decoders",
        "_fast",
        "_header",
        "_record_to_type",
        "_version_of",
        "_writer",
        "current",
        "versions",
        "writer",
    )

    def __init__(
        self,
        versions: Sequence[SchemaVersion] | None = None,
        *,
        writer_version: int | None = None,
    ) -> None:
        self.versions: tuple[SchemaVersion, ...] = tuple(
            load_published() if versions is None else versions
        )
        if not self.versions:
            raise SchemaArgumentError("EventCodec needs at least one schema version")
        self.current: SchemaVersion = self.versions[-1]
        by_number = {item.version: item for item in self.versions}
        if writer_version is not None and writer_version not in by_number:
            raise SchemaArgumentError(f"no published schema version {writer_version}")
        self.writer: SchemaVersion = by_number[writer_version or self.current.version]
        self._writer = self.writer.parsed
        self._header = MARKER + self.writer.fingerprint
        self._fast = EnvelopeWriter(self._writer)  # fastavro stays the reference and fallback
        reader = self.current.parsed_raw
        # private plain dicts (never mutated after construction): faster lookups than proxies;
        # per writer fingerprint: the generated reader, then fastavro's schemas (its fallback)
        self._decoders: dict[bytes, tuple[Reader, Any, Any]] = {}
        self._version_of: dict[bytes, int] = {
            item.fingerprint: item.version for item in self.versions
        }
        for item in self.versions:
            resolved = None if item is self.current else reader
            fast = RecordReader(item.parsed_raw, resolved).read
            self._decoders[item.fingerprint] = (fast, item.parsed_raw, resolved)
        self._record_to_type: dict[str, str] = dict(_RECORD_TO_TYPE)

    # ------------------------------------------------------------------ encoding

    def encode(self, event: EventEnvelope) -> bytes:
        """Encode a validated envelope model (single-object encoding, writer schema)."""
        return self.encode_parts(
            event.event_id,
            event.event_type.value,
            event.session_id,
            event.sequence,
            event.occurred_at,
            event.source,
            event.causation_id,
            event.correlation_id,
            event.payload,
            event.producer_id,
        )

    def encode_parts(
        self,
        event_id: str,
        event_type: str,
        session_id: str,
        sequence: int,
        occurred_at: int | datetime,
        source: str,
        causation_id: str | None,
        correlation_id: str | None,
        payload: ContractModel,
        producer_id: str | None = None,
    ) -> bytes:
        """Encode an event from its envelope fields and a validated payload model.

        The typed-producer path: same bytes as :meth:`encode_record` with
        ``payload.model_dump()``, without the dump. ``occurred_at`` is int milliseconds or an
        aware datetime; ``producer_id`` is dropped by a writer schema older than v3 (which
        has no such field). Envelope fields get Avro type checks only; a payload model that is
        not ``event_type``'s is validated as a whole. Raises :class:`EventValidationError`.
        """
        envelope: dict[str, Any] = {
            "event_id": event_id,
            "event_type": event_type,
            "session_id": session_id,
            "sequence": sequence,
            "occurred_at": occurred_at,
            "source": source,
            "causation_id": causation_id,
            "correlation_id": correlation_id,
            "producer_id": producer_id,
        }
        if type(payload) is not _TYPE_TO_MODEL.get(event_type):
            envelope["payload"] = payload
            return self.encode(validate_event(envelope))  # raises the precise error if invalid
        try:
            return self._fast.write(
                self._header, envelope, _TYPE_TO_RECORD[event_type], payload, True
            )
        except ENCODE_ERRORS:
            envelope["payload"] = payload.model_dump()
            return self.encode_record(envelope)

    def encode_record(self, record: Mapping[str, Any]) -> bytes:
        """Encode a plain event dict (bulk path: Avro type checks only, no pydantic).

        Raises :class:`EventValidationError`; on failure the record is re-checked with the
        models so the message names the field. Unknown keys are ignored.
        """
        event_type = record.get("event_type")
        occurred_at = record.get("occurred_at")
        if isinstance(occurred_at, datetime) and occurred_at.tzinfo is None:
            raise EventValidationError(str(event_type), "occurred_at", "naive datetime")
        try:
            return self._write(record, event_type)
        except EventValidationError:
            raise
        except Exception as exc:
            validate_event(record)  # raises the precise one-line error if models disagree
            raise EventValidationError(str(event_type), "<record>", str(exc)) from exc

    def _write(self, record: Mapping[str, Any], event_type: Any) -> bytes:
        record_name = _TYPE_TO_RECORD.get(event_type)
        if record_name is None:
            raise EventValidationError(str(event_type), "event_type", "unknown event type")
        payload = record.get("payload")
        if not isinstance(payload, Mapping):
            raise EventValidationError(event_type, "payload", "must be a mapping")
        try:
            return self._fast.write(self._header, record, record_name, payload, False)
        except ENCODE_ERRORS:
            pass  # fastavro decides: it writes what it accepts, or raises for the caller
        body = dict(record)
        body["payload"] = (record_name, payload)
        out = BytesIO()
        out.write(self._header)
        schemaless_writer(out, self._writer, body)
        return out.getvalue()

    # ------------------------------------------------------------------ decoding

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode to a plain dict projected on the current reader schema (no pydantic).

        ``occurred_at`` comes back as int milliseconds since the epoch (UTC).
        Raises only :class:`DecodeError` subclasses. The generated reader
        (:mod:`~sessionflow.schemas.fastread`) decodes ``bytes``; whatever it declines, and any
        other buffer, fastavro decodes or classifies, so results and errors are fastavro's.
        """
        if not isinstance(data, _BINARY):
            raise BadMarkerError(f"expected bytes, got {type(data).__name__}")
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise BadMarkerError("not an Avro single-object message (marker C3 01 missing)")
        fingerprint = bytes(data[2:HEADER_SIZE])
        schemas = self._decoders.get(fingerprint)
        if schemas is None:
            raise UnknownFingerprintError(fingerprint)
        if type(data) is bytes:
            try:
                record, end = schemas[0](data, HEADER_SIZE)
            except Exception:  # declined (odd or invalid bytes): fastavro decides, as before
                record, end = _read_fastavro(data, schemas[1], schemas[2])
        else:  # a bytearray or memoryview: fastavro reads it
            record, end = _read_fastavro(data, schemas[1], schemas[2])
        if end != len(data):
            raise TrailingBytesError(f"{len(data) - end} bytes after the record")
        record_name, payload = record["payload"]
        if self._record_to_type.get(record_name) != record["event_type"]:
            raise InconsistentEventError(
                f"event_type {record['event_type']!r} carries a {record_name} payload"
            )
        record["payload"] = payload
        result: dict[str, Any] = record
        return result

    def decode_model(self, data: bytes) -> EventEnvelope:
        """Decode and validate into an :class:`EventEnvelope` (``occurred_at`` aware UTC).

        Raises :class:`DecodeError` subclasses, or :class:`EventValidationError` when
        Avro-valid bytes break a model constraint (e.g. a non-UUID event_id).
        """
        return validate_event(self.decode(data))

    def writer_version(self, data: bytes) -> int:
        """Published version number that wrote ``data``; raises :class:`DecodeError`."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            raise BadMarkerError("not an Avro single-object message (marker C3 01 missing)")
        fingerprint = bytes(data[2:HEADER_SIZE])
        version = self._version_of.get(fingerprint)
        if version is None:
            raise UnknownFingerprintError(fingerprint)
        return version


def _read_fastavro(
    data: bytes | bytearray | memoryview, writer: Any, reader: Any
) -> tuple[Any, int]:
    """fastavro's record at :data:`HEADER_SIZE` and where it ended; raises :class:`DecodeError`."""
    stream = BytesIO(data)
    stream.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(
            stream, writer, reader, return_record_name=True, return_record_name_override=True
        )
    except Exception as exc:
        raise _classify(exc) from exc
    return record, stream.tell()


def _classify(exc: Exception) -> DecodeError:
    if isinstance(exc, SchemaResolutionError):
        return ResolutionError(f"cannot resolve writer to reader schema: {exc}")
    if isinstance(exc, EOFError) or (isinstance(exc, IndexError) and "string index" in str(exc)):
        return TruncatedBodyError("body ended before the record was complete")
    return MalformedBodyError(f"invalid Avro body: {type(exc).__name__}: {exc}")
