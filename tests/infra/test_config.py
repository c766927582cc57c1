"""load_settings: every invalid setting becomes one line naming the variable and the problem."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sessionflow.core.config import env_name, load_settings
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.local_kafka import LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings


class _Sample(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMPLE_", frozen=True)

    count: int = Field(default=1, ge=0)
    ratio: float = Field(default=0.5, gt=0, lt=1)
    token: SecretStr | None = None
    name: str = Field(default="x", min_length=1)

    @model_validator(mode="after")
    def _pair(self) -> _Sample:
        if self.count == 7 and self.name == "seven":
            raise ValueError("SAMPLE_COUNT=7 and SAMPLE_NAME=seven cannot go together")
        return self


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("SESSIONFLOW_KAFKA_HEAP_MB", "abc",
         "SESSIONFLOW_KAFKA_HEAP_MB: must be an integer from 128 to 1024 (got 'abc')"),
        ("SESSIONFLOW_KAFKA_HEAP_MB", "-5",
         "SESSIONFLOW_KAFKA_HEAP_MB: must be an integer from 128 to 1024 (got -5)"),
        ("SESSIONFLOW_KAFKA_PORT", "99999",
         "SESSIONFLOW_KAFKA_PORT: must be an integer from 1 to 65535 (got 99999)"),
        ("SESSIONFLOW_KAFKA_START_TIMEOUT_S", "soon",
         "SESSIONFLOW_KAFKA_START_TIMEOUT_S: must be a number > 0 (got 'soon')"),
        ("SESSIONFLOW_KAFKA_VERSION", "/../../evil",
         "SESSIONFLOW_KAFKA_VERSION: must be a Maven version such as 4.4.0 (got '/../../evil')"),
    ],
)  # fmt: skip
def test_local_kafka_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)

    with pytest.raises(ConfigurationError) as caught:
        load_settings(LocalKafkaSettings)

    assert str(caught.value) == expected


def test_a_literal_lists_its_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "bogus")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(KafkaSettings)

    assert str(caught.value) == (
        "KAFKA_SECURITY_PROTOCOL: must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL "
        "(got 'bogus')"
    )


def test_several_problems_stay_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_COUNT", "-1")
    monkeypatch.setenv("SAMPLE_RATIO", "2")
    monkeypatch.setenv("SAMPLE_NAME", "")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(_Sample)

    message = str(caught.value)
    assert "\n" not in message
    assert message.split("; ") == [
        "SAMPLE_COUNT: must be an integer >= 0 (got -1)",
        "SAMPLE_RATIO: must be a number > 0 and < 1 (got 2)",
        "SAMPLE_NAME: must not be empty (got '')",
    ]


def test_a_model_validator_keeps_its_own_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_COUNT", "7")
    monkeypatch.setenv("SAMPLE_NAME", "seven")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(_Sample)

    assert str(caught.value) == "SAMPLE_COUNT=7 and SAMPLE_NAME=seven cannot go together"


def test_a_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_TOKEN", "hunter2")
    monkeypatch.setenv("SAMPLE_COUNT", "x")

    class _Strict(_Sample):
        token: SecretStr | None = Field(default=None, min_length=10)

    with pytest.raises(ConfigurationError) as caught:
        load_settings(_Strict)

    assert "hunter2" not in str(caught.value)
    assert "SAMPLE_TOKEN: must have at least 10 characters" in str(caught.value)


def test_an_override_is_named_by_its_field() -> None:
    with pytest.raises(ConfigurationError, match=r"^port: must be an integer from 1 to 65535"):
        load_settings(LocalKafkaSettings, port=0)


def test_valid_settings_come_back_as_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONFLOW_KAFKA_PORT", "29999")

    settings = load_settings(LocalKafkaSettings, heap_mb=256)

    assert (settings.port, settings.heap_mb) == (29999, 256)
    assert env_name(LocalKafkaSettings, "heap_mb") == "SESSIONFLOW_KAFKA_HEAP_MB"
