"""Small value types the SDK hands back and takes in: deliveries and pre-encoded records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Delivery:
    """One acknowledged event: where the broker wrote it, and the ids the SDK gave it.

    ``event_id`` lets a caller reference the event (e.g. as another event's causation_id).
    """

    partition: int
    offset: int
    event_id: str
    sequence: int


class EncodedRecord(NamedTuple):
    """A record for the bulk path: the Kafka key (the session id) and the encoded value.

    ``value`` is normally :meth:`~sessionflow.schemas.codec.EventCodec.encode` output, but any
    bytes are sent as given (the simulator uses this to inject undecodable records).
    """

    key: str | bytes
    value: bytes


@dataclass(frozen=True)
class BulkResult:
    """What a bulk send wrote once every record was acknowledged."""

    sent: int
    by_partition: Mapping[int, int]
