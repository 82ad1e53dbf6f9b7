"""Settings: each default stated once, each variable parsed by its field's own parser."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from config import RetentionOverride, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_an_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_every_setting_has_its_own_documented_variable() -> None:
    names = [f.metadata["env"] for f in fields(Settings)]
    assert len(names) == len(set(names))
    readme = README.read_text()
    assert [name for name in names if f"`{name}" not in readme] == []


def test_variables_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://db/threadline",
            "PORT": "9000",
            "AUTO_MIGRATE": "off",
            "GRAPHIQL": "No",
            "INTROSPECTION": "yes",
            "ALLOWED_ORIGINS": " https://a.test, ,https://b.test ",
            "AUTH_JWT_SECRET": "",
            "AUTH_JWT_AUDIENCE": "threadline",
            "SWEEP_INTERVAL_SECONDS": "1.5",
            "AGENT_STREAM_TIMEOUT_SECONDS": "0.5",
            "RETENTION_OVERRIDES": '{"alice": {"traceDays": 7}}',
            "DATABASE_POOL_SIZE": "32",
            "DATABASE_MAX_OVERFLOW": "0",
            "DATABASE_POOL_RECYCLE_SECONDS": "1800",
            "DATABASE_POOL_TIMEOUT_SECONDS": "2.5",
            "DOWNLOADS_MAX_CONCURRENT": "7",
            "CONTEXT_WINDOW_LAST_N": "25",
            "CONTEXT_WINDOW_TOKEN_BUDGET": "8000",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://db/threadline"
    assert settings.port == 9000
    assert (settings.auto_migrate, settings.graphiql, settings.introspection) == (
        False,
        False,
        True,
    )
    assert settings.allowed_origins == ("https://a.test", "https://b.test")
    assert settings.jwt_secret is None  # set but empty: as if unset
    assert settings.jwt_audience == "threadline"
    assert settings.sweep_interval_seconds == 1.5
    assert (settings.agent_stream_timeout_seconds, settings.agent_wait_timeout_seconds) == (
        0.5,
        300,
    )
    assert settings.retention_overrides == (RetentionOverride("alice", 7, None),)
    pool = (
        settings.database_pool_size,
        settings.database_max_overflow,
        settings.database_pool_recycle_seconds,
        settings.database_pool_timeout_seconds,
    )
    assert pool == (32, 0, 1800, 2.5)
    assert settings.download_slots == 7
    assert (settings.context_window_last_n, settings.context_window_token_budget) == (25, 8000)
    assert settings.max_page_size == Settings().max_page_size


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "eighty", "invalid literal"),
        ("DATABASE_POOL_SIZE", "0", "at least 1, not 0"),
        ("DATABASE_POOL_SIZE", "2.5", "invalid literal"),
        ("DATABASE_MAX_OVERFLOW", "-1", "at least 0, not -1"),
        ("DATABASE_POOL_RECYCLE_SECONDS", "-60", "at least 0, not -60"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "-0.5", "at least 0.0, not -0.5"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "soon", "could not convert"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "nan", "at least 0.0, not nan"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "inf", "at least 0.0, not inf"),
        ("DOWNLOADS_MAX_CONCURRENT", "0", "at least 1, not 0"),
        ("DOWNLOADS_MAX_CONCURRENT", "-3", "at least 1, not -3"),
        ("DOWNLOADS_MAX_CONCURRENT", "nan", "invalid literal"),
        ("DOWNLOADS_MAX_CONCURRENT", "", "invalid literal"),
        ("CONTEXT_WINDOW_LAST_N", "0", "at least 1, not 0"),
        ("CONTEXT_WINDOW_LAST_N", "ten", "invalid literal"),
        ("CONTEXT_WINDOW_TOKEN_BUDGET", "-1", "at least 1, not -1"),
        ("CONTEXT_WINDOW_TOKEN_BUDGET", "4k", "invalid literal"),
        ("AGENT_STREAM_TIMEOUT_SECONDS", "-1", "at least 0.0, not -1.0"),
        ("AGENT_STREAM_TIMEOUT_SECONDS", "nan", "at least 0.0, not nan"),
        ("AGENT_WAIT_TIMEOUT_SECONDS", "-300", "at least 0.0, not -300.0"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        Settings.from_env({variable: value})
    assert refused.value.__notes__ == [f"in {variable}"]


@pytest.mark.parametrize(
    "authentication", [{"AUTH_JWT_SECRET": "s" * 32}, {"AUTH_JWT_PUBLIC_KEY": "KEY"}]
)
def test_public_metrics_are_refused_with_authentication_on(authentication: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="METRICS=on with authentication on") as refused:
        Settings.from_env({"METRICS": "on", **authentication})
    assert "set METRICS_TOKEN" in str(refused.value)
    guarded = Settings.from_env({"METRICS": "on", "METRICS_TOKEN": "t", **authentication})
    assert guarded.metrics_served
    assert Settings.from_env({"METRICS": "on"}).metrics_served  # development mode


def test_downloads_take_a_quarter_of_the_pool_unless_told() -> None:
    assert Settings().download_slots == 5
    assert Settings(database_pool_size=42).download_slots == 10
    assert Settings(database_pool_size=3).download_slots == 1  # never none
    assert Settings(database_pool_size=3, downloads_max_concurrent=2).download_slots == 2


def test_the_public_key_file_wins_over_the_inline_key(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("FROM FILE")
    inline = {"AUTH_JWT_PUBLIC_KEY": "INLINE"}
    assert Settings.from_env(inline).jwt_public_key == "INLINE"
    both = {**inline, "AUTH_JWT_PUBLIC_KEY_FILE": str(key)}
    assert Settings.from_env(both).jwt_public_key == "FROM FILE"
    assert Settings.from_env(both).auth_enabled
