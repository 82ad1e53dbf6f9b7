"""resolvers/json_diff.py: where two JSON values differ, key by key, within caps."""

from __future__ import annotations

from typing import Any

from resolvers.json_diff import MAX_DEPTH, Change, Difference, differences, key_path


def diff(left: Any, right: Any, **caps: int) -> list[Difference]:
    return differences([("v", left, right)], **caps).found


def test_equal_values_have_no_differences() -> None:
    value = {"a": [1, {"b": None}], "c": {"d": "e"}}
    assert diff(value, {"c": {"d": "e"}, "a": [1, {"b": None}]}) == []
    assert diff(1, 1.0) == []  # one JSON number


def test_objects_are_compared_key_by_key_in_key_order() -> None:
    left = {"same": 1, "changed": "x", "gone": None, "nested": {"k": 1, "l": [1]}}
    right = {"new": False, "same": 1, "changed": "y", "nested": {"k": 2, "l": [1]}}
    assert diff(left, right) == [
        Difference("v.changed", Change.CHANGED, "x", "y"),
        Difference("v.gone", Change.REMOVED, left=None),
        Difference("v.nested.k", Change.CHANGED, 1, 2),
        Difference("v.new", Change.ADDED, right=False),
    ]


def test_arrays_and_mismatched_types_differ_whole() -> None:
    assert diff({"a": [1, 2]}, {"a": [2, 1]}) == [Difference("v.a", Change.CHANGED, [1, 2], [2, 1])]
    assert diff({"a": {"b": 1}}, {"a": [1]}) == [Difference("v.a", Change.CHANGED, {"b": 1}, [1])]
    assert diff(None, {"a": 1}) == [Difference("v", Change.CHANGED, None, {"a": 1})]


def test_booleans_are_not_numbers() -> None:
    assert diff({"a": True, "b": [0]}, {"a": 1, "b": [False]}) == [
        Difference("v.a", Change.CHANGED, True, 1),
        Difference("v.b", Change.CHANGED, [0], [False]),
    ]


def test_keys_that_are_not_plain_names_are_quoted() -> None:
    assert key_path("v", "plain_1") == "v.plain_1"
    assert key_path("v", "a.b") == 'v["a.b"]'
    assert key_path("v", 'say "hi"') == 'v["say \\"hi\\""]'
    assert key_path("v", "") == 'v[""]'
    assert key_path("", "top") == "top"


def test_below_the_depth_cap_objects_differ_whole() -> None:
    left = {"a": {"b": {"c": 1}}}
    right = {"a": {"b": {"c": 2}}}
    assert diff(left, right, max_depth=1) == [
        Difference("v.a", Change.CHANGED, {"b": {"c": 1}}, {"b": {"c": 2}})
    ]
    assert diff(left, right) == [Difference("v.a.b.c", Change.CHANGED, 1, 2)]


def test_the_walk_stops_at_the_cap_and_says_so() -> None:
    found = differences([("x", {"a": 1, "b": 2, "c": 3}, {}), ("y", 1, 2)], max_differences=2)
    assert found.truncated is True
    assert [d.path for d in found.found] == ["x.a", "x.b"]
    exact = differences([("x", {"a": 1, "b": 2}, {})], max_differences=2)
    assert (len(exact.found), exact.truncated) == (2, False)


def test_pairs_are_walked_in_order_under_their_own_paths() -> None:
    found = differences([("first", {"k": 1}, {"k": 2}), ("second", None, None), ("third", 1, 2)])
    assert [d.path for d in found.found] == ["first.k", "third"]


def test_values_as_deep_as_inputs_may_be_differ_at_the_depth_cap() -> None:
    left: Any = 1
    right: Any = 2
    for _ in range(64):  # MAX_JSON_DEPTH
        left, right = {"d": left}, {"d": right}
    [found] = diff(left, right)
    assert found.path == "v" + ".d" * MAX_DEPTH
    assert found.change == Change.CHANGED
