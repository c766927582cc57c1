"""Small value types the SDK hands back and takes in: deliveries, records, sent events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sessionflow.schemas.models import EventEnvelope
from sessionflow.schemas.validation import datetime_to_millis


@dataclass(frozen=True, slots=True)
class Delivery:
    """One acknowledged event: where the broker wrote it, and the ids it carries.

    ``event_id`` lets a caller reference the event (e.g. as another event's causation_id);
    ``(producer_id, sequence)`` is its place in its ordering scope (``producer_id`` is None
    for an envelope sent as is without one).
    """

    partition: int
    offset: int
    event_id: str
    sequence: int
    producer_id: str | None


class EncodedRecord(NamedTuple):
    """A record for the bulk path: Kafka key (the session id), encoded value, record timestamp.

    ``value`` is normally :meth:`~sessionflow.schemas.codec.EventCodec.encode` output, but any
    bytes are sent as given (the simulator uses this to inject undecodable records; they carry
    the timestamp of the event they stand for). ``timestamp_ms`` is the event's
    ``occurred_at`` in epoch milliseconds: the record timestamp on the broker.
    """

    key: str | bytes
    value: bytes
    timestamp_ms: int

    @classmethod
    def of(cls, event: EventEnvelope, encode: Callable[[EventEnvelope], bytes]) -> EncodedRecord:
        """The record of ``event``: keyed by its session, stamped with its ``occurred_at``."""
        return cls(event.session_id, encode(event), datetime_to_millis(event.occurred_at))


class OutgoingEvent(NamedTuple):
    """One event as handed to the broker: its record and the ids inside the value.

    Delivery errors of single sends carry it (``error.event``) so the very same bytes can be
    sent again with :meth:`SessionEventProducer.resend`.
    """

    key: bytes
    value: bytes
    timestamp_ms: int
    event_id: str
    sequence: int
    producer_id: str | None

    def delivered(self, partition: int, offset: int) -> Delivery:
        """Its :class:`Delivery` once written at ``partition``/``offset``."""
        return Delivery(partition, offset, self.event_id, self.sequence, self.producer_id)


@dataclass(frozen=True)
class BulkResult:
    """What a bulk send wrote once every record was acknowledged."""

    sent: int
    by_partition: Mapping[int, int]
