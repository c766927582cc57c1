"""sessionflow: session events on Kafka, processed by faust, audited in ClickHouse.

Subpackages, by floor: :mod:`sessionflow.core` (settings, errors, Kafka clients, ClickHouse
client, local broker) at the ground; the contract :mod:`sessionflow.schemas` on it;
:mod:`sessionflow.producers`, :mod:`sessionflow.processors` and :mod:`sessionflow.sinks` on
the contract and the core, never on each other; :mod:`sessionflow.cli` on top.
"""

from sessionflow.core.errors import SessionflowError

__all__ = ["SessionflowError", "__version__"]

__version__ = "0.1.0"
