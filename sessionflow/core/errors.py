"""The one exception root of sessionflow.

Every error sessionflow raises on purpose derives from :class:`SessionflowError`, so a
caller can catch the whole family with one ``except``. Subsystems add their own subclasses
next to their code (``sessionflow.schemas.errors``, ``sessionflow.producers.errors`` ...).
"""


class SessionflowError(Exception):
    """Root of every error sessionflow raises on purpose."""


class ConfigurationError(SessionflowError):
    """A setting is missing or malformed; the message names the setting."""


class InfrastructureError(SessionflowError):
    """A piece of infrastructure (Kafka, ClickHouse, java, mvn) is missing or failed."""
