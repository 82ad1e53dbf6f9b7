"""Prices: which entry a model name means, the operator's file, and exact costs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from models.enums import CostSource
from resolvers.pricing.charges import Charge, ModelCall, charge_with, cost_of
from resolvers.pricing.prices import PriceTable, installed
from resolvers.pricing.table import PriceEntry, PriceSource, builtin


def entry(model: str, provider: str | None = None, **prices: str) -> PriceEntry:
    return PriceEntry(
        source=PriceSource.FILE,
        model=model,
        provider=provider,
        input_per_million=Decimal(prices.get("input", "1")),
        output_per_million=Decimal(prices.get("output", "2")),
        cached_input_per_million=Decimal(prices["cached"]) if "cached" in prices else None,
        as_of="2025-07",
    )


def call(
    model: str | None = "gpt-4o-mini",
    input_tokens: int = 0,
    output_tokens: int = 0,
    *,
    cached: int = 0,
    stated: Decimal | None = None,
    provider: str | None = None,
) -> ModelCall:
    return ModelCall(model, provider, input_tokens, cached, output_tokens, stated)


TABLE = PriceTable({}).over(
    [
        entry("gpt-4o"),
        entry("gpt-4o-mini"),
        entry("gpt-4"),
        entry("claude-sonnet-4"),
        entry("gemini-2.5-flash"),
        entry("llama-3", "groq"),
        entry("llama-3", "together"),
    ]
)


@pytest.mark.parametrize(
    ("model", "found"),
    [
        ("gpt-4o", "gpt-4o"),
        ("  GPT-4o-Mini ", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gpt-4-turbo", "gpt-4"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("OpenAI/GPT-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o2", None),
        ("gpt", None),
        ("o3", None),
        ("", None),
    ],
)
def test_a_name_finds_its_entry(model: str, found: str | None) -> None:
    match = TABLE.find(model, None)
    assert (match and match.model) == found


def test_the_provider_decides_between_entries_of_one_name() -> None:
    assert TABLE.find("llama-3-70b", "Together") == entry("llama-3", "together")
    assert TABLE.find("llama-3", "groq") == entry("llama-3", "groq")
    # Another provider, or none: the first one listed.
    assert TABLE.find("llama-3", "ollama") == entry("llama-3", "groq")
    assert TABLE.find("llama-3", None) == entry("llama-3", "groq")
    # Where the name is one entry's, the provider does not matter.
    assert TABLE.find("gpt-4o", "azure") == entry("gpt-4o")


def test_the_built_in_table_is_dated_and_complete() -> None:
    table = builtin()
    assert {e.as_of for e in table} == {"2025-06"}
    assert len({e.id for e in table}) == len(table)
    prices = installed(())
    for model, price in [
        ("gpt-4o-mini-2024-07-18", ("0.15", "0.60", "0.075")),
        ("claude-3-5-sonnet-20241022", ("3.00", "15.00", "0.30")),
        ("gemini-2.0-flash-001", ("0.10", "0.40", "0.025")),
        ("text-embedding-3-small", ("0.02", "0", None)),
    ]:
        found = prices.find(model, None)
        assert found is not None, model
        cached = found.cached_input_per_million
        assert (found.input_per_million, found.output_per_million, cached) == tuple(
            None if p is None else Decimal(p) for p in price
        )
    mini = prices.find("gpt-4o-mini", None)
    assert mini is not None
    assert mini.id == "builtin/2025-06:openai/gpt-4o-mini"
    for name in ("gpt-4.1-nano", "o1", "o3-mini", "o4-mini", "gpt-3.5-turbo", "claude-opus-4"):
        assert prices.find(name, None) is not None, name


def write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_the_file_extends_and_replaces_the_built_in_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[{"model": "GPT-4o", "inputPerMillion": 2.1, "outputPerMillion": 8.4,'
        ' "asOf": "2025-07-01"},'
        ' {"model": "my-model", "provider": "vllm", "inputPerMillion": 0.000000001,'
        ' "outputPerMillion": 0, "cachedInputPerMillion": 0}]',
    )
    settings = Settings.from_env({"PRICES_FILE": path})
    prices = installed(settings.prices)
    gpt = prices.find("gpt-4o-2024-08-06", "openai")
    assert gpt is not None
    assert (gpt.source, gpt.provider, gpt.input_per_million) == (
        PriceSource.FILE,
        None,
        Decimal("2.1"),
    )
    assert gpt.id == "file/2025-07-01:gpt-4o"
    mine = prices.find("my-model-q4", None)
    assert mine is not None
    assert (mine.id, mine.input_per_million) == ("file/undated:vllm/my-model", Decimal("1E-9"))
    # The rest of the built-in table stays.
    assert prices.find("gpt-4o-mini", None) == installed(()).find("gpt-4o-mini", None)
    assert Settings.from_env({"PRICES_FILE": ""}).prices == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", r"is not JSON"),
        ({"model": "x"}, r"must be a JSON list"),
        (["gpt-4o"], r"\[0\] must be a JSON object"),
        ([{"model": "x", "inputPerMillion": 1}], r"\[0\]\.outputPerMillion must be a number"),
        (
            [{"model": "x", "inputPerMillion": -1, "outputPerMillion": 1}],
            r"\[0\]\.inputPerMillion must be between 0 and 10000",
        ),
        (
            [{"model": "x", "inputPerMillion": 0.0000000001, "outputPerMillion": 1}],
            r"more than 9 decimals",
        ),
        (
            [{"model": " ", "inputPerMillion": 1, "outputPerMillion": 1}],
            r"\[0\]\.model must be a non-empty string",
        ),
        (
            [{"model": "x", "input": 1, "inputPerMillion": 1, "outputPerMillion": 1}],
            r"unknown keys \['input'\]",
        ),
        (
            [
                {"model": "x", "inputPerMillion": 1, "outputPerMillion": 1},
                {"model": "X", "inputPerMillion": 2, "outputPerMillion": 2},
            ],
            r"lists no provider/x twice",
        ),
    ],
)
def test_a_bad_file_stops_the_start(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match=rf"^PRICES_FILE {path}.*{message}"):
        Settings.from_env({"PRICES_FILE": path})


def test_a_missing_file_stops_the_start(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ValueError, match=rf"PRICES_FILE {missing} cannot be read"):
        Settings.from_env({"PRICES_FILE": str(missing)})


def test_costs_are_exact_decimals() -> None:
    price = entry("m", input="0.15", output="0.60", cached="0.075")
    # 600 * 0.15 + 400 * 0.075 + 500 * 0.60, per million.
    assert cost_of(price, call("m", 1000, 500, cached=400)) == Decimal("0.00042")
    # Without a cached-input price, cached tokens cost what input costs.
    assert cost_of(entry("m", input="3"), call("m", 1000, cached=1000)) == Decimal("0.003")
    # A provider that counts cached tokens apart cannot make input negative.
    assert cost_of(price, call("m", 10, cached=50)) == Decimal("0.00000075")
    assert cost_of(price, call("m", 1)) == Decimal("1.5E-7")
    # Big numbers lose no digit: 10 million tokens at 9,999.999999999 USD per million.
    dear = entry("m", input="9999.999999999", output="0")
    assert cost_of(dear, call("m", 10_000_000)) == Decimal("99999.99999999")


def test_costs_round_half_to_even_at_the_nano_dollar() -> None:
    # A millionth of a USD per million tokens: a thousandth of a nano-dollar per token.
    thousandth = entry("m", input="0.000001", output="0")
    assert cost_of(thousandth, call("m", 500)) == 0
    assert cost_of(thousandth, call("m", 1500)) == Decimal("2E-9")
    assert cost_of(thousandth, call("m", 2500)) == Decimal("2E-9")
    assert cost_of(thousandth, call("m", 2501)) == Decimal("3E-9")


def test_a_stated_cost_is_reported_and_otherwise_priced_or_none() -> None:
    assert charge_with(TABLE, call(input_tokens=10, stated=Decimal(0))) == Charge(
        Decimal(0), CostSource.REPORTED
    )
    assert charge_with(TABLE, call(input_tokens=10, stated=Decimal("0.1"))) == Charge(
        Decimal("0.1"), CostSource.REPORTED
    )
    priced = charge_with(TABLE, call("gpt-4o-mini-2024-07-18", 1_000_000, 500_000))
    assert priced == Charge(Decimal(2), CostSource.PRICED, "file/2025-07:gpt-4o-mini")
    assert charge_with(TABLE, call("unknown-model", 10, 10)) == Charge()
    assert charge_with(TABLE, call(None, 10, 10)) == Charge()
    assert charge_with(TABLE, call("gpt-4o", 0, 0)) == Charge()
    assert Charge().columns() == {
        "cost": Decimal(0),
        "cost_source": CostSource.NONE,
        "price_id": None,
    }
