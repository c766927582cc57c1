"""The worker runs on uvloop in both of its threads when built the way ``sessionflow process``
builds it (the switch first, then loops made by the entry point's checks, then the worker).

A worker built before the switch ran on the stdlib loop: building it registered its metrics
collector, whose first collection made faust create its consumer, which took the current
loop and made its consumer thread's. Each case runs in a fresh interpreter: an event loop
policy is process-wide.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

BUILD_WORKER = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path
    from sessionflow.core.settings import KafkaSettings
    from sessionflow.processors.plugins.registry import PluginRegistry
    from sessionflow.processors.runtime.faust_app import WorkerIdentity
    from sessionflow.processors.settings import ProcessorSettings
    from sessionflow.processors.worker import TopicLayout, build_worker, use_fast_event_loop

    SWITCH
    async def checks() -> None:  # as the entry point's reachability check does
        await asyncio.sleep(0)

    asyncio.run(checks())
    settings = ProcessorSettings()
    papp = build_worker(
        KafkaSettings(), settings, WorkerIdentity(Path(DATA_DIR), 1),
        PluginRegistry.from_entry_points(settings.enabled_plugins(), settings.disabled_plugins()),
        TopicLayout(partitions=6, dlq_partitions=1),
    )
    print(type(papp.app.loop).__module__, type(papp.app.consumer._thread.thread_loop).__module__)
    """
)


def _loops_of_built_worker(switch: bool, data_dir: str) -> list[str]:
    script = BUILD_WORKER.replace("SWITCH", "use_fast_event_loop()" if switch else "")
    script = script.replace("DATA_DIR", repr(data_dir))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_worker_and_its_consumer_thread_run_on_uvloop(tmp_path: object) -> None:
    assert _loops_of_built_worker(True, str(tmp_path)) == ["uvloop", "uvloop"]


def test_without_the_switch_the_stdlib_loop_runs(tmp_path: object) -> None:
    """The control: the check above can tell the two loops apart."""
    assert _loops_of_built_worker(False, str(tmp_path)) == ["asyncio.unix_events"] * 2
