"""`scoreSummary(byComponentVersion: true)` equals a brute-force count on random data.

Random conversations with messages, traces (some answering a message), span trees whose
spans use random component versions, and random scores on every kind of target. In
Python, each score counts once for each version its target's spans used (a span's own,
a trace's spans', a message's or conversation's traces' spans'); the API must agree,
group for group, in its order (name, then component, then version number).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from resolvers.ids import from_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_scores import SUMMARY, add

# (name, kind, a random value or label)
SCORES = [
    ("quality", "NUMERIC", lambda rng: {"value": rng.randint(1, 5)}),
    ("correct", "BOOLEAN", lambda rng: {"value": rng.randint(0, 1)}),
    ("tone", "CATEGORICAL", lambda rng: {"label": rng.choice(["polite", "rude"])}),
]
VERSIONS_OF = """{ components { nodes { id versions { id versionNumber } } } }"""


@dataclass
class World:
    """What was written, as the brute force needs it: every target's versions."""

    versions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    targets: list[str] = field(default_factory=list)


async def build(gql: GraphQLClient, rng: random.Random) -> World:
    world = World()
    prompts = [await factories.component_version(gql, "prompt", {"n": n}) for n in range(4)]
    tools = [
        await factories.component_version(gql, "tool", {"n": n}, type="TOOL") for n in range(2)
    ]
    versions = [v["id"] for v in prompts + tools]
    for _ in range(3):
        conversation = (await factories.conversation(gql))["id"]
        messages = [(await factories.message(gql, conversation))["id"] for _ in range(3)]
        world.targets += [conversation, *messages]
        for _ in range(rng.randint(1, 3)):
            answers = rng.choice([None, *messages])
            trace = (await factories.trace(gql, conversation, messageId=answers))["id"]
            world.targets.append(trace)
            spans: list[str] = []
            for _ in range(rng.randint(0, 5)):
                used = rng.sample(versions, rng.randint(0, 2))
                parent = rng.choice([None, *spans])
                span = await factories.span(
                    gql, trace, parentSpanId=parent, componentVersionIds=used
                )
                spans.append(span["id"])
                world.targets.append(span["id"])
                for owner in (span["id"], trace, answers, conversation):
                    if owner is not None:
                        world.versions[owner].update(used)
    return world


def brute_force(scores: list[tuple[str, str, dict[str, Any]]], world: World) -> dict[Any, Any]:
    """(name, version id) -> count, valueCount, average, min, max, label counts."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for target, name, values in scores:
        for version in world.versions[target]:
            groups[name, version].append(values)
    found = {}
    for key, group in groups.items():
        numbers = [g["value"] for g in group if "value" in g]
        labels: dict[str, int] = defaultdict(int)
        for g in group:
            if "label" in g:
                labels[g["label"]] += 1
        found[key] = {
            "count": len(group),
            "valueCount": len(numbers),
            "average": pytest.approx(sum(numbers) / len(numbers)) if numbers else None,
            "min": min(numbers, default=None),
            "max": max(numbers, default=None),
            "labels": [{"label": k, "count": n} for k, n in sorted(labels.items())],
        }
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_version_summary_equals_brute_force(gql: GraphQLClient, seed: int) -> None:
    rng = random.Random(seed)
    world = await build(gql, rng)
    scores = []
    for _ in range(30):
        target = rng.choice(world.targets)
        name, kind, values = rng.choice(SCORES)
        drawn = values(rng)
        await add(gql, target, name, kind, **drawn)
        scores.append((target, name, drawn))
    found = (await gql.data(SUMMARY.replace("versionNumber", "id"), {"v": True}))["scoreSummary"]
    by_key = {(s["name"], s["componentVersion"]["id"]): s for s in found}
    assert len(by_key) == len(found)
    expected = brute_force(scores, world)
    assert {
        k: {f: v for f, v in s.items() if f not in ("name", "componentVersion")}
        for k, s in by_key.items()
    } == expected
    # In order: by name, then by component (its id), then by version number.
    components = (await gql.data(VERSIONS_OF))["components"]["nodes"]
    place = {
        v["id"]: (from_global_id(c["id"])[1], v["versionNumber"])
        for c in components
        for v in c["versions"]
    }
    order = [(name, place[version]) for name, version in by_key]
    assert order == sorted(order)
