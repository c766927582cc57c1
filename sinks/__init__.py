"""Sinks: the ClickHouse audit trail, state and statistics tables, and dead letters.

Depends on ``schemas`` (the contract) and ``sessionflow`` core only.
"""
