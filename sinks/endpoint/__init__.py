"""A read-only ClickHouse-compatible HTTP endpoint, served by the process that owns ClickHouse.

chdb locks its data directory to one process; the sink serves analysts through this endpoint
while it runs. :class:`QueryEndpoint` (``async with``), :class:`EndpointSettings`
(``SESSIONFLOW_SINK_HTTP_*``).
"""

from sessionflow.sinks.endpoint.server import QueryEndpoint
from sessionflow.sinks.endpoint.settings import EndpointSettings

__all__ = ["EndpointSettings", "QueryEndpoint"]
