"""Fixtures of the replay tests: the processor tests' topics and simulated sessions."""

from tests.processors.conftest import app_id, simulated, topics

__all__ = ["app_id", "simulated", "topics"]
