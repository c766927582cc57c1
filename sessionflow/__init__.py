"""sessionflow: session events on Kafka, processed by faust, audited in ClickHouse."""

__version__ = "0.1.0"
