"""Producer SDK, topic administration and bulk publishing for session events.

Public API: :class:`SessionEventProducer` (async) and :class:`SyncSessionEventProducer`
(blocking facade) with one typed method per event type, ``emit``, the bulk paths
``send_many``/``send_encoded``; :class:`Delivery`, :class:`BulkResult`,
:class:`EncodedRecord`; settings :class:`ProducerSettings` and :class:`TopicSettings`;
:func:`create_topics`/:func:`describe_topics`; errors under :class:`ProducerError`.
"""

from producers.delivery import BulkResult, Delivery, EncodedRecord
from producers.errors import (
    BrokerUnavailableError,
    DeliveryFailedError,
    DeliveryTimeoutError,
    EventValidationFailedError,
    ProducerError,
    ProducerNotStartedError,
    TopicAdminError,
    TopicNotFoundError,
)
from producers.partitioning import partition_for
from producers.sdk import SessionEventProducer
from producers.sequences import SequenceAllocator
from producers.settings import ProducerSettings, TopicSettings
from producers.sync import SyncSessionEventProducer
from producers.topics import create_topics, describe_topics

__all__ = [
    "BrokerUnavailableError",
    "BulkResult",
    "Delivery",
    "DeliveryFailedError",
    "DeliveryTimeoutError",
    "EncodedRecord",
    "EventValidationFailedError",
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
