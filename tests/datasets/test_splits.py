from __future__ import annotations

from collections import Counter

import pytest

from modalign.datasets.splits import SplitRatios, split_for, unit_interval


def test_same_key_same_split() -> None:
    keys = [f"key-{i}" for i in range(200)]
    assert [split_for(k) for k in keys] == [split_for(k) for k in keys]


def test_known_values_do_not_drift() -> None:
    # Fixed expectations: a change of hashing would silently move images between splits.
    assert unit_interval("emoji:1f600", "modalign-split-v1") == pytest.approx(0.4351355389501257)
    keys = ["emoji:1f600", "emoji:1f44d", "x", "y"]
    assert [split_for(k) for k in keys] == ["train", "val", "train", "test"]
    assert 0.0 <= unit_interval("a", "s") < 1.0 and unit_interval("a", "s") != unit_interval(
        "b", "s"
    )


def test_proportions_follow_the_ratios() -> None:
    counts = Counter(split_for(f"item-{i}") for i in range(20_000))
    assert 0.09 < counts["test"] / 20_000 < 0.11
    assert 0.09 < counts["val"] / 20_000 < 0.11
    wide = Counter(split_for(f"item-{i}", SplitRatios(val=0.0, test=0.5)) for i in range(2_000))
    assert wide["val"] == 0 and 800 < wide["test"] < 1200


def test_bad_ratios_are_rejected() -> None:
    with pytest.raises(ValueError):
        SplitRatios(val=0.6, test=0.5)
