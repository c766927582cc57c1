"""Word lists the simulator draws realistic content from."""

from __future__ import annotations

import random
from typing import Final

from sessionflow.schemas.enums import ErrorCode

USERS: Final = tuple(f"user_{n:03d}" for n in range(1, 41))
AGENTS: Final = ("agent-coder", "agent-support", "agent-analyst", "agent-researcher")
SESSION_TYPES: Final = ("chat", "agent", "assessment", "code-review")
PURPOSES: Final = (
    "Debug authentication issue",
    "Investigate production incident",
    "Summarise quarterly report",
    "Refactor billing module",
    "Answer customer ticket",
    "Plan data migration",
)
TAGS: Final = ("bug-fix", "authentication", "production", "urgent", "billing", "docs", "research")
MODELS: Final = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")
TOOLS: Final = ("web_search", "read_file", "run_sql", "http_get", "python_exec", "send_email")
FINISH_REASONS: Final = ("stop", "stop", "stop", "length", "tool_calls")
TOOL_FAILURES: Final = (ErrorCode.TOOL_EXECUTION_FAILED, ErrorCode.TOOL_TIMEOUT,
                        ErrorCode.INVALID_TOOL_ARGS, ErrorCode.TOOL_NOT_FOUND)  # fmt: skip
RECOVERABLE_ERRORS: Final = (ErrorCode.LLM_TIMEOUT, ErrorCode.RATE_LIMITED, ErrorCode.LLM_ERROR,
                             ErrorCode.CACHE_ERROR, ErrorCode.TOKEN_LIMIT)  # fmt: skip
WORDS: Final = (
    "the", "login", "service", "returns", "an", "error", "when", "token", "expires", "please",
    "check", "logs", "for", "request", "latency", "query", "table", "user", "report", "deploy",
    "config", "cache", "retry", "timeout", "migration", "schema", "billing", "invoice", "why",
    "does", "fail", "after", "update", "how", "can", "we", "fix", "this", "today", "data",
)  # fmt: skip


def sentence(rng: random.Random, low: int, high: int) -> str:
    """A sentence of ``low``..``high`` words, first letter capitalised."""
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))
    return text[:1].upper() + text[1:]
