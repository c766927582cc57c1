"""docs/ is current with the code, links only inside the repository, and states real figures."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sessionflow.producers.settings import TopicSettings
from sessionflow.schemas import PAYLOAD_MODELS, ErrorCode, EventType, load_published

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
STANDALONE = [ROOT / "README.md", *PAGES]
_DAY_MS = 24 * 60 * 60 * 1000


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _block(page: str, name: str) -> str:
    text = (DOCS / page).read_text()
    return text.split(f"<!-- generated:{name}:start -->\n")[1].split("\n<!-- generated:")[0]


def test_generated_blocks_are_current() -> None:
    assert _generator().stale_files() == [], "run `make docs`"


def test_every_event_type_and_payload_field_is_documented() -> None:
    """Read back from the page itself: a table row per field of every payload."""
    reference = _block("events.md", "reference")
    for event_type in EventType:
        model = PAYLOAD_MODELS[event_type]
        section = reference.split(f"### {model.__name__}\n")[1].split("\n### ")[0]
        rows = re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)
        assert rows == list(model.model_fields), event_type
        assert f"| `{event_type.value}` | `{model.__name__}` |" in reference
    codes = re.findall(r"`([A-Z_]+)`", reference.split("### ErrorCode\n")[1])
    assert codes == [code.value for code in ErrorCode]


def test_published_versions_and_fingerprints_are_listed() -> None:
    rows = re.findall(
        r"^\| v(\d+) \| `([0-9a-f]{16})` \|$", _block("wire-format.md", "versions"), re.M
    )
    assert rows == [(str(v.version), v.fingerprint.hex()) for v in load_published()]


def test_a_stale_block_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    for page in ("events.md", "wire-format.md"):
        (tmp_path / page).write_text((DOCS / page).read_text().replace("`long`", "`int`", 1))
    monkeypatch.setattr(generator, "DOCS", tmp_path)

    assert generator.stale_files() == ["docs/events.md (reference)"]
    assert generator.main(["--check"]) == 1


@pytest.mark.parametrize("path", STANDALONE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_stand_alone(path: Path) -> None:
    text = path.read_text()

    assert "../shared" not in text
    assert "DESIGN.md" not in text
    assert not re.search(r"\bseeds?\s+\d{3}\b", text, re.IGNORECASE)


@pytest.mark.parametrize("path", STANDALONE, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    local = [link for link in links if "://" not in link]

    missing = [link for link in local if not (path.parent / link).exists()]
    assert missing == [], f"{path.name} links to files that do not exist"
    assert all((path.parent / link).resolve().is_relative_to(ROOT) for link in local)


def test_every_page_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text()

    assert [p.name for p in PAGES if p.name != "README.md"] == sorted(
        set(re.findall(r"\]\((\w[\w-]*\.md)\)", index))
    )


def _figures(pattern: str, text: str) -> tuple[int, ...]:
    found = re.search(pattern, text)
    assert found, f"docs/topics.md no longer states {pattern!r}"
    return tuple(int(group) for group in found.groups())


def test_topic_figures_match_the_defaults() -> None:
    topics = (DOCS / "topics.md").read_text()
    defaults = TopicSettings()

    retention = _figures(r"\| `retention.ms` \| (\d+) days .*?\| (\d+) days", topics)
    assert retention == (defaults.retention_ms // _DAY_MS, defaults.dlq_retention_ms // _DAY_MS)
    assert retention[0] * _DAY_MS == defaults.retention_ms
    assert _figures(r"\*\*Partitions\*\*: (\d+) by default", topics) == (defaults.partitions,)
    assert _figures(r"(\d+) partition by default", topics) == (defaults.dlq_partitions,)
    largest = _figures(r"\| `max.message.bytes` \| (\d+) MiB", topics)
    assert largest == (defaults.max_message_bytes // 2**20,)


def test_generator_runs_as_make_docs_does(tmp_path: Path) -> None:
    """``scripts/gen_docs.py --check`` as a process: exit 0 on the committed docs."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
