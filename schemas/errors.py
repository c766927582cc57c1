"""Typed errors of the event contract; all derive from :class:`SchemaError`.

Decoding never lets any other exception type escape: whatever the bytes, a failed decode
raises a :class:`DecodeError` subclass. Encoding and model validation raise
:class:`EventValidationError` with a one-line message naming event type, field and problem.
"""

from __future__ import annotations

from sessionflow.core.errors import SessionflowError


class SchemaError(SessionflowError):
    """Root of every error raised by :mod:`schemas`."""


class SchemaLoadError(SchemaError):
    """A published ``.avsc`` file is missing, unreadable or not a valid Avro schema."""


class DecodeError(SchemaError):
    """Bytes could not be decoded into an event (root of all decode failures)."""


class BadMarkerError(DecodeError):
    """The message does not start with the single-object marker ``C3 01`` (or is too short)."""


class UnknownFingerprintError(DecodeError):
    """The writer fingerprint matches no published schema version."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint


class TruncatedBodyError(DecodeError):
    """The body ended before the record was complete."""


class TrailingBytesError(DecodeError):
    """A complete record was read but bytes were left over after it."""


class MalformedBodyError(DecodeError):
    """The body is not a valid encoding (bad union/enum index, invalid UTF-8, bad length ...)."""


class ResolutionError(DecodeError):
    """The writer's data cannot be projected onto the current reader schema."""


class InconsistentEventError(DecodeError):
    """The body decoded but breaks the contract (e.g. event_type does not match the payload)."""


class EventValidationError(SchemaError):
    """An event does not satisfy the contract; the message is one line naming type, field, problem.

    Raised on the encode side and by :meth:`~sessionflow.schemas.EventCodec.decode_model` when
    Avro-valid bytes violate a constraint the models add (UUID form, non-negative counts, JSON text
    ...).
    """

    def __init__(self, event_type: str, field: str, problem: str) -> None:
        super().__init__(f"{event_type or '<unknown event type>'}: {field}: {problem}")
        self.event_type = event_type
        self.field = field
        self.problem = problem


class SchemaCompatibilityError(SchemaError):
    """A published schema version cannot be read by the current reader schema."""


class SchemaArgumentError(SchemaError, ValueError):
    """A schema API got a value outside its contract (unknown version, naive datetime ...)."""


class SchemaTypeError(SchemaError, TypeError):
    """A value or annotation has a type the schema tooling does not handle."""
