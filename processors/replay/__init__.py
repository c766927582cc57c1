"""Replay: rebuild session state into a new state version beside the live one.

The rebuild reads a source (the events topic, or ClickHouse's audit table), folds it with
the same pure :func:`~sessionflow.processors.domain.fold` the live workers use, and writes
the changed states of each batch to the target version's changelog topic, then commits the
target version's consumer group offsets. A faust worker started on that version recovers
its table from the changelog and continues from those offsets.

Modules: :mod:`.sources` (the topic source and the Source protocol), :mod:`.clickhouse_source`,
:mod:`.changelog` (a version's changelog: read, create, write), :mod:`.group` (a version's
committed offsets), :mod:`.versions` (which versions exist), :mod:`.rebuild` (the fold loop,
:func:`~.rebuild.catch_up`), :mod:`.republish`.
"""
