"""The ground floor: settings, the error root, Kafka and ClickHouse clients, the local broker.

Imports none of the pipeline packages (schemas, producers, processors, sinks) nor the CLI.
"""
