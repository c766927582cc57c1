"""ClickHouse side of the sink: migrations, row building, inserts and stored offsets."""
