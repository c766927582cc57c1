"""The sessionflow event contract: Avro schemas, typed models, codec (topic ``session-events``).

Public API (stable; producers, processors and sinks import only these names)::

    EventType                      the 15 dotted event types (StrEnum; Avro string on the wire)
    MessageRole, ApprovalMode, SessionOutcome, ErrorCode     closed sets (Avro enums)
    EventEnvelope                  envelope model; ``payload`` is one of the 15 payload models
    SessionCreated ... ErrorOccurred, SessionConfig, Attachment, TokenUsage   payload models
    PAYLOAD_MODELS                 EventType -> payload model class
    EventCodec()                   single-object codec over every published schema version
      .encode(EventEnvelope) -> bytes
      .encode_record(dict) -> bytes          bulk path, no pydantic
      .decode(bytes) -> dict                 hot path, no pydantic; occurred_at = int epoch ms
      .decode_model(bytes) -> EventEnvelope
      .writer_version(bytes) -> int
    make_event(event_type, session_id, sequence, source, payload, ...) -> EventEnvelope
    validate_event(dict) -> EventEnvelope
    new_session_id() -> "sess_YYYYMMDD_HHMMSS_<6 hex>";  new_event_id() -> UUIDv7 string
    millis_to_datetime(int) / datetime_to_millis(datetime)
    load_published() -> tuple[SchemaVersion, ...];  check_backward_transitive(versions)
    errors: SchemaError > DecodeError > (BadMarkerError, UnknownFingerprintError,
            TruncatedBodyError, TrailingBytesError, MalformedBodyError, ResolutionError,
            InconsistentEventError); SchemaError > EventValidationError, SchemaLoadError,
            SchemaCompatibilityError.
            SchemaError derives from sessionflow.core.errors.SessionflowError.

Source of truth: the models in :mod:`sessionflow.schemas.models` define the current version; the
``.avsc`` files of every published version live in ``schemas/avsc/v<N>/`` (frozen) and a test
proves the latest equals what the models derive. Build one :class:`EventCodec` per process
and reuse it: schemas are parsed once, at construction.
"""

from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.compat import VersionReport, check_backward_transitive, reader_problems
from sessionflow.schemas.enums import (
    ApprovalMode,
    ErrorCode,
    EventType,
    MessageRole,
    SessionOutcome,
)
from sessionflow.schemas.errors import (
    BadMarkerError,
    DecodeError,
    EventValidationError,
    InconsistentEventError,
    MalformedBodyError,
    ResolutionError,
    SchemaCompatibilityError,
    SchemaError,
    SchemaLoadError,
    TrailingBytesError,
    TruncatedBodyError,
    UnknownFingerprintError,
)
from sessionflow.schemas.ids import is_session_id, new_event_id, new_session_id
from sessionflow.schemas.models import (
    PAYLOAD_MODELS,
    Attachment,
    ContractModel,
    ErrorOccurred,
    EventEnvelope,
    MessageCreated,
    MessageUpdated,
    Payload,
    SessionActivated,
    SessionConfig,
    SessionCreated,
    SessionEnded,
    SessionSuspended,
    StreamChunk,
    StreamEnded,
    StreamStarted,
    TokenUsage,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallFailed,
    ToolCallPending,
    ToolCallRejected,
)
from sessionflow.schemas.registry import SchemaVersion, load_published
from sessionflow.schemas.validation import (
    datetime_to_millis,
    make_event,
    millis_to_datetime,
    payload_model,
    validate_event,
)

__all__ = [
    "PAYLOAD_MODELS",
    "ApprovalMode",
    "Attachment",
    "BadMarkerError",
    "ContractModel",
    "DecodeError",
    "ErrorCode",
    "ErrorOccurred",
    "EventCodec",
    "EventEnvelope",
    "EventType",
    "EventValidationError",
    "InconsistentEventError",
    "MalformedBodyError",
    "MessageCreated",
    "MessageRole",
    "MessageUpdated",
    "Payload",
    "ResolutionError",
    "SchemaCompatibilityError",
    "SchemaError",
    "SchemaLoadError",
    "SchemaVersion",
    "SessionActivated",
    "SessionConfig",
    "SessionCreated",
    "SessionEnded",
    "SessionOutcome",
    "SessionSuspended",
    "StreamChunk",
    "StreamEnded",
    "StreamStarted",
    "TokenUsage",
    "ToolCallApproved",
    "ToolCallCompleted",
    "ToolCallFailed",
    "ToolCallPending",
    "ToolCallRejected",
    "TrailingBytesError",
    "TruncatedBodyError",
    "UnknownFingerprintError",
    "VersionReport",
    "check_backward_transitive",
    "datetime_to_millis",
    "is_session_id",
    "load_published",
    "make_event",
    "millis_to_datetime",
    "new_event_id",
    "new_session_id",
    "payload_model",
    "reader_problems",
    "validate_event",
]
