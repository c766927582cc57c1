"""The state API, served by faust's web server on every worker.

- ``GET /sessions/{id}``: state and statistics of one session (JSON);
- ``GET /sessions/{id}/tool-calls``: its tool calls;
- ``GET /stats``: statistics of every worker, merged (``/stats/local``: this worker's);
- ``GET /health``: this worker's partitions and whether it is serving;
- ``GET /metrics``: this worker's Prometheus metrics (:mod:`.metrics`).

A session request reaching a worker that does not own the session's partition is forwarded
to the owner (faust's ``table_route``). An unknown session is a 404 with a JSON body.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from sessionflow.core.metrics import CONTENT_TYPE, exposition
from sessionflow.processors.domain.records import to_view
from sessionflow.processors.domain.windows import LATENCIES, GlobalStats, Histogram
from sessionflow.processors.runtime.faust_app import ProcessorApp
from sessionflow.processors.runtime.metrics import worker_registry

_QUANTILES = (0.5, 0.9, 0.99)


def install_views(papp: ProcessorApp) -> None:
    """Add the state API's routes to ``papp``'s faust app."""
    app, table = papp.app, papp.table
    registry = worker_registry(papp)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(exposition(registry), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/sessions/{session_id}")
    @app.table_route(table=table, match_info="session_id")
    async def session(view: Any, request: Any, session_id: str) -> Any:
        state = papp.store.get(session_id)
        if state is None:
            return view.json({"error": f"unknown session {session_id}"}, status=404)
        return view.json(to_view(state, _now_ms()))

    @app.page("/sessions/{session_id}/tool-calls")
    @app.table_route(table=table, match_info="session_id")
    async def tool_calls(view: Any, request: Any, session_id: str) -> Any:
        state = papp.store.get(session_id)
        if state is None:
            return view.json({"error": f"unknown session {session_id}"}, status=404)
        return view.json({"session_id": session_id, "tool_calls": to_view(state)["tool_calls"]})

    @app.page("/stats/local")
    async def stats_local(view: Any, request: Any) -> Any:
        return view.json(local_stats(papp))

    @app.page("/stats")
    async def stats(view: Any, request: Any) -> Any:
        return view.json(await merged_stats(papp))

    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        return view.json(
            {
                "status": "rebalancing" if app.rebalancing else "ok",
                "state_version": papp.settings.state_version,
                "worker": str(app.conf.canonical_url),
                "partitions": sorted(papp.owned_partitions()),
                "batches": papp.batches,
                "ticks": papp.ticks,
                "positions": {str(p): o for p, o in sorted(papp.positions.items())},
            }
        )


def local_stats(papp: ProcessorApp) -> dict[str, Any]:
    """This worker's figures, histograms raw (so they can be merged)."""
    stats = papp.processor.stats
    gauges = papp.processor.gauges
    return {
        "workers": [str(papp.app.conf.canonical_url)],
        "partitions": sorted(papp.owned_partitions()),
        "sessions": gauges.sessions,
        "active_sessions": gauges.active,
        "pending_approvals": gauges.pending_approvals,
        "events_per_minute": {str(m): counts for m, counts in sorted(stats.per_minute.items())},
        "dead_letters": dict(stats.dead_letters),
        "histograms": {
            name: {"counts": h.counts, "total_ms": h.total_ms}
            for name, h in stats.latencies.items()
        },
    }


async def merged_stats(papp: ProcessorApp) -> dict[str, Any]:
    """Every worker's figures summed, with latency quantiles."""
    figures = [local_stats(papp)]
    me = str(papp.app.conf.canonical_url).rstrip("/")
    peers = {str(url).rstrip("/") for url in papp.app.router.tables_metadata()} - {me}
    if peers:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            answers = await asyncio.gather(
                *(_fetch(http, f"{peer}/stats/local") for peer in sorted(peers))
            )
        figures.extend(a for a in answers if a is not None)
    return _merge(figures)


async def _fetch(http: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with http.get(url) as response:
            if response.status == 200:
                answer: dict[str, Any] = await response.json()
                return answer
    except (aiohttp.ClientError, TimeoutError):
        pass
    return None


def _merge(figures: list[dict[str, Any]]) -> dict[str, Any]:
    total = GlobalStats()
    merged: dict[str, Any] = {"workers": [], "partitions": []}
    for key in ("sessions", "active_sessions", "pending_approvals"):
        merged[key] = sum(f[key] for f in figures)
    for figure in figures:
        merged["workers"] += figure["workers"]
        merged["partitions"] += figure["partitions"]
        other = GlobalStats(
            per_minute={int(m): c for m, c in figure["events_per_minute"].items()},
            latencies={
                n: Histogram(list(h["counts"]), h["total_ms"])
                for n, h in figure["histograms"].items()
            },
            dead_letters=figure["dead_letters"],
        )
        total.merge(other)
    merged["partitions"].sort()
    merged["events_per_minute"] = {str(m): c for m, c in sorted(total.per_minute.items())}
    merged["dead_letters"] = total.dead_letters
    merged["latency_ms"] = {name: _summary(total.latencies[name]) for name in LATENCIES}
    return merged


def _summary(histogram: Histogram) -> dict[str, Any]:
    count = histogram.count
    summary: dict[str, Any] = {"count": count, "avg": histogram.total_ms / count if count else None}
    for q in _QUANTILES:
        summary[f"p{round(q * 100)}"] = histogram.quantile(q)
    return summary


def _now_ms() -> int:
    return int(time.time() * 1000)
