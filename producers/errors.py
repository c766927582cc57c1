"""Typed errors of the producer SDK and topic admin; all derive from :class:`ProducerError`.

Every failure of a send surfaces as one of these (the aiokafka exception, if any, is the
``__cause__``); nothing is retried past the configured timeouts.
"""

from __future__ import annotations

from sessionflow.core.errors import SessionflowError
from sessionflow.producers.delivery import OutgoingEvent


class ProducerError(SessionflowError):
    """Root of every error raised by :mod:`producers`."""


class ProducerNotStartedError(ProducerError):
    """A send was attempted before ``start()`` or after ``stop()``."""


class BrokerUnavailableError(ProducerError):
    """The brokers could not be reached (or did not answer) within the start timeout."""


class EventValidationFailedError(ProducerError):
    """The event does not satisfy the contract; nothing was sent."""


class DeliveryError(ProducerError):
    """A send that was not acknowledged.

    ``event`` is what a single send (typed method, ``emit``, ``resend``) handed to the
    broker, for :meth:`SessionEventProducer.resend`; None for bulk sends.
    """

    event: OutgoingEvent | None = None


class DeliveryFailedError(DeliveryError):
    """The broker refused the record or the producer failed; the record was not written."""


class DeliveryTimeoutError(DeliveryError):
    """No acknowledgement within ``delivery_timeout_ms``.

    The outcome is unknown: the record may still be written later (idempotence guarantees at
    most once per send). To make sure it lands, ``await producer.resend(error)``: the same
    bytes again (same event_id, sequence, producer_id, occurred_at); readers collapse the
    copies by ``event_id``.
    """


class TopicAdminError(ProducerError):
    """Creating or describing topics failed; the message names the topic and the reason."""


class TopicNotFoundError(ProducerError):
    """The producer's topic does not exist; create it with ``sessionflow topics create``."""


class InvalidArgumentError(ProducerError, ValueError):
    """An argument outside the documented contract (partition count, sequence seed, plan ...)."""


class DeclarationError(ProducerError, TypeError):
    """A class of the SDK was declared wrongly (a programming error, found at import)."""
