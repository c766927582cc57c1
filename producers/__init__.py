"""Producer SDK, topic administration and bulk publishing for session events.

Public API: :class:`SessionEventProducer` (async) and :class:`SyncSessionEventProducer`
(blocking facade) with one typed method per event type, ``emit``, ``resend``, the bulk paths
``send_many``/``send_encoded``; :class:`Delivery`, :class:`BulkResult`,
:class:`EncodedRecord`, :class:`OutgoingEvent`; settings :class:`ProducerSettings` and
:class:`TopicSettings`; :func:`create_topics`/:func:`describe_topics`; errors under
:class:`ProducerError`.
"""

from sessionflow.producers.delivery import BulkResult, Delivery, EncodedRecord, OutgoingEvent
from sessionflow.producers.errors import (
    BrokerUnavailableError,
    DeliveryError,
    DeliveryFailedError,
    DeliveryTimeoutError,
    EventValidationFailedError,
    ProducerError,
    ProducerNotStartedError,
    TopicAdminError,
    TopicNotFoundError,
)
from sessionflow.producers.partitioning import partition_for
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.sequences import SequenceAllocator
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.sync import SyncSessionEventProducer
from sessionflow.producers.topics import create_topics, describe_topics

__all__ = [
    "BrokerUnavailableError",
    "BulkResult",
    "Delivery",
    "DeliveryError",
    "DeliveryFailedError",
    "DeliveryTimeoutError",
    "EncodedRecord",
    "EventValidationFailedError",
    "OutgoingEvent",
    "ProducerError",
    "ProducerNotStartedError",
    "ProducerSettings",
    "SequenceAllocator",
    "SessionEventProducer",
    "SyncSessionEventProducer",
    "TopicAdminError",
    "TopicNotFoundError",
    "TopicSettings",
    "create_topics",
    "describe_topics",
    "partition_for",
]
