"""`python main.py simulate`: one simulated agent run, or many as a load generator.

With `--conversations N --rate R` it starts N runs, R new ones a second, all going at
once, and prints how many completed, how long they took and how many requests they made.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

from agent_sim.agent import Pace, SimulatedAgent
from agent_sim.client import Api


@dataclass(frozen=True)
class Options:
    url: str  # the server's GraphQL endpoint, http(s)://host:port/graphql
    credential: str | None = None
    conversations: int = 1
    rate: float = 0.0  # new runs a second; 0: all at once
    pace: Pace = field(default_factory=Pace)
    human: bool = False  # wait for a person to answer the agent's question


@dataclass
class Report:
    completed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{len(self.completed)} runs completed, {len(self.failures)} failed, "
            f"in {self.seconds:.1f} s; {self.requests} HTTP requests "
            f"({self.requests / max(self.seconds, 1e-9):.1f}/s)"
        ]
        if self.durations:
            lines.append(
                f"run time: median {statistics.median(self.durations):.2f} s, "
                f"max {max(self.durations):.2f} s"
            )
        lines.extend(f"failed: {failure}" for failure in self.failures[:5])
        return "\n".join(lines)


async def simulate(options: Options) -> Report:
    report = Report()
    started = time.perf_counter()
    verbose = options.conversations == 1

    async def one(number: int) -> None:
        say = print if verbose else (lambda _line: None)
        agent = SimulatedAgent(api, options.pace, options.human, say)
        begun = time.perf_counter()
        try:
            report.completed.append(await agent.run(f"Simulated run {number}"))
        except Exception as exc:  # a failed run is counted and told; the others go on
            report.failures.append(f"run {number}: {exc}")
            return
        report.durations.append(time.perf_counter() - begun)

    async with Api.open(options.url, options.credential) as api, asyncio.TaskGroup() as runs:
        for number in range(1, options.conversations + 1):
            runs.create_task(one(number))
            if options.rate > 0 and number < options.conversations:
                await asyncio.sleep(1 / options.rate)
    report.requests = api.requests
    report.seconds = time.perf_counter() - started
    return report
