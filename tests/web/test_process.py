"""The serving process's collector: what is loaded frozen, young objects collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from web.process import tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_what_is_loaded_is_frozen_and_young_objects_wait_longer() -> None:
    before = gc.get_freeze_count()
    tune_garbage_collector()
    assert gc.get_freeze_count() > before
    assert gc.get_threshold() == (10_000, 10, 10)
