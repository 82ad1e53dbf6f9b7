"""One simulated agent run in a new conversation, through the public API only.

The user's question is routed to the agent: the agent opens a session and a trace, and
the question is recorded with the routing decision and that trace, the run answering
it. The agent makes a plan, asks the user which region they mean and waits for the
answer (on a subscription, resumed from the cursor it read before asking), runs two
tool calls, streams its answer in chunks under an LLM span, and completes the run.
Every pause is a multiple of `Pace.step`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_sim.client import Api, ApiError

AGENT = "sim-agent"
USER = "sim-user"
QUESTION = "How did our sales do last quarter?"
CLARIFICATION = "Which region should I look at?"
REPLY = "Europe, please."
# Why the question goes to the agent rather than to a plain model, as a router says it.
ROUTING = {
    "route": "agent",
    "agent": AGENT,
    "intent": "sales_report",
    "rule": "data questions go to the analyst agent",
    "reason": "needs the sales records and a calculation",
    "confidence": 0.92,
}
# What the run starts from (Trace.initialMemoryState, systemConfig): runs compare by them.
MEMORY = {"user": USER, "facts": ["fiscal quarters follow the calendar"]}
CONFIG = {
    "agent": AGENT,
    "model": "sim-model",
    "temperature": 0.2,
    "tools": ["search_sales", "calculator"],
}
STEPS = ["Ask which region", "Search the sales records", "Write the answer"]
PLAN = "My plan: " + "; ".join(STEPS).lower() + "."
TOOLS = [
    ("search_sales", {"quarter": "Q3", "region": "Europe"}, {"rows": 412}),
    ("calculator", {"expression": "1.24 * 100 - 100"}, {"value": 24}),
]
ANSWER = [
    "Sales in Europe ",
    "grew 24% ",
    "last quarter, ",
    "led by the ",
    "Nordic stores ",
    "(412 orders ",
    "in the records).",
]
# How sure the agent is of its answer, and where the figures come from (besides the
# user's reply and the span that asked for it).
CONFIDENCE = 0.86
SALES_REPORT = "https://reports.example.com/sales/2026-q3-europe"

CREATE_CONVERSATION = """mutation($title: String!, $owner: String!, $agent: String!) {
  createConversation(input: {title: $title, owner: {participantId: $owner},
    participants: [{participantId: $agent, participantType: AGENT}]}) { id } }"""
SEND_MESSAGE = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }"
START_SESSION = (
    "mutation($input: StartAgentSessionInput!) { startAgentSession(input: $input) { id } }"
)
START_TRACE = "mutation($input: StartTraceInput!) { startTrace(input: $input) { id } }"
START_SPAN = "mutation($input: StartSpanInput!) { startSpan(input: $input) { id } }"
END_SPAN = "mutation($input: EndSpanInput!) { endSpan(input: $input) { id } }"
END_TRACE = "mutation($input: EndTraceInput!) { endTrace(input: $input) { id } }"
CREATE_PLAN = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { steps { id } } }"
STEP_STATUS = "mutation($input: UpdateStepStatusInput!) { updateStepStatus(input: $input) { id } }"
THOUGHT = "mutation($input: ReportThoughtInput!) { reportThought(input: $input) { id } }"
TOOL_START = "mutation($input: ReportToolStartInput!) { reportToolStart(input: $input) { id } }"
TOOL_END = "mutation($input: ReportToolEndInput!) { reportToolEnd(input: $input) { id } }"
CHUNK = "mutation($input: AppendAnswerChunkInput!) { appendAnswerChunk(input: $input) { id } }"
ASK = "mutation($input: AskUserInput!) { askUser(input: $input) { id } }"
ANSWER_AGENT = "mutation($input: AnswerAgentInput!) { answerAgent(input: $input) { id } }"
COMPLETE = "mutation($input: CompleteRunInput!) { completeRun(input: $input) { id } }"
LAST_CURSOR = "query($id: ID!) { conversation(id: $id) { lastEventCursor } }"
EXCHANGES = """subscription($id: ID!, $after: String) {
  conversationEvents(conversationId: $id, after: $after) {
    kind ... on AgentExchangeEvent { text message { id } } } }"""


@dataclass(frozen=True)
class Asked:
    """The question the run answers, the span that asked the user which region, and the
    message of their reply."""

    question: str
    span: str
    reply_message: str


@dataclass(frozen=True)
class Pace:
    step: float = 0.5  # seconds between the agent's actions

    async def wait(self, times: float = 1) -> None:
        await asyncio.sleep(self.step * times)


class SimulatedAgent:
    """Runs one conversation; `say` hears what it does (a line a step)."""

    def __init__(
        self, api: Api, pace: Pace, human: bool, say: Callable[[str], None] = lambda _: None
    ) -> None:
        self.api = api
        self.pace = pace
        self.human = human
        self.say = say

    async def mutate(self, document: str, **input: Any) -> str:
        """Run a one-input mutation; the id of what it returned."""
        data = await self.api.run(document, input=input)
        (result,) = data.values()
        return str(result["id"])

    async def run(self, title: str) -> str:
        """The whole run; the conversation's id."""
        data = await self.api.run(CREATE_CONVERSATION, title=title, owner=USER, agent=AGENT)
        conv = data["createConversation"]["id"]
        self.say(f"conversation {conv}")
        await self.mutate(START_SESSION, conversationId=conv, profileName=AGENT)
        trace = await self.mutate(
            START_TRACE,
            conversationId=conv,
            name="agent run",
            userInput=QUESTION,
            initialMemoryState=MEMORY,
            initialConversationState={"messages": 0, "title": title},
            systemConfig=CONFIG,
        )
        question = await self.mutate(
            SEND_MESSAGE,
            conversationId=conv,
            senderId=USER,
            content=QUESTION,
            routingDecision=ROUTING,
            runId=trace,
        )
        root = await self.mutate(START_SPAN, traceId=trace, name=AGENT, kind="AGENT")
        plan = await self.api.run(
            CREATE_PLAN,
            input={
                "conversationId": conv,
                "title": "Answer the sales question",
                "steps": [
                    {"description": d, "dependsOn": [i - 1] if i else []}
                    for i, d in enumerate(STEPS)
                ],
            },
        )
        steps = [s["id"] for s in plan["createPlan"]["steps"]]
        await self.mutate(
            SEND_MESSAGE,
            conversationId=conv,
            senderId=AGENT,
            senderType="AGENT",
            role="ASSISTANT",
            content=PLAN,
            messageType="PLAN",
        )
        await self.pace.wait()
        asked = await self.clarify(conv, trace, root, steps[0], question)
        message = await self.use_tools(conv, trace, root, steps[1], asked)
        answer = await self.write_answer(message, trace, root, steps[2])
        await self.mutate(END_SPAN, spanId=root)
        await self.mutate(END_TRACE, traceId=trace, finalOutput=answer, messageId=message)
        # Last: completeRun would end the span and the trace left open, without the output.
        await self.mutate(COMPLETE, conversationId=conv, messageId=message)
        self.say("run complete")
        return conv

    async def clarify(self, conv: str, trace: str, root: str, step: str, question: str) -> Asked:
        await self.mutate(STEP_STATUS, stepId=step, status="RUNNING")
        span = await self.mutate(
            START_SPAN, traceId=trace, name="ask user", parentSpanId=root, planStepId=step
        )
        reply, message = await self.ask(conv, CLARIFICATION)
        await self.mutate(END_SPAN, spanId=span, outputs={"answer": reply})
        await self.mutate(STEP_STATUS, stepId=step, status="COMPLETED", result={"region": reply})
        return Asked(question, span, message)

    async def ask(self, conv: str, question: str) -> tuple[str, str]:
        """Ask the user; their answer, heard on the conversation's events, and its
        message's id."""
        # Read the cursor first: the subscription replays from it, so an answer given
        # before it starts listening is not missed.
        cursor = (await self.api.run(LAST_CURSOR, id=conv))["conversation"]["lastEventCursor"]
        await self.mutate(ASK, conversationId=conv, question=question)
        self.say(f"asked: {question}")
        # One task group: if the simulated user fails to answer, the listening stops too.
        async with asyncio.TaskGroup() as group:
            heard = group.create_task(self.hear_answer(conv, cursor))
            if self.human:
                self.say("waiting for a person to answer (in the viewer at /, or answerAgent)")
            else:
                group.create_task(self.answer_as_user(conv))
        text, message = heard.result()
        self.say(f"answered: {text}")
        return text, message

    async def hear_answer(self, conv: str, cursor: str) -> tuple[str, str]:
        async with self.api.subscribe(EXCHANGES, id=conv, after=cursor) as events:
            async for data in events:
                event = data["conversationEvents"]
                if event["kind"] == "USER_ANSWER":
                    return str(event["text"]), str(event["message"]["id"])
        raise ApiError("the conversation's events ended before the user answered")

    async def answer_as_user(self, conv: str) -> None:
        await self.pace.wait(2)
        await self.mutate(ANSWER_AGENT, conversationId=conv, answer=REPLY, senderId=USER)

    async def use_tools(self, conv: str, trace: str, root: str, step: str, asked: Asked) -> str:
        """Tool calls on the answer's (STREAMING) message; the message's id.

        The answer's references are given when it is sent, before its tools run: it
        relies on the user's reply, the span that asked for it, and the sales report."""
        await self.mutate(STEP_STATUS, stepId=step, status="RUNNING")
        message = await self.mutate(
            SEND_MESSAGE,
            conversationId=conv,
            senderId=AGENT,
            senderType="AGENT",
            role="ASSISTANT",
            status="STREAMING",
            # The run answers the question: its turn, whatever came between.
            turnId=asked.question,
            messageType="ANSWER",
            confidence=CONFIDENCE,
            references=[
                {"messageId": asked.reply_message},
                {"spanId": asked.span},
                {"document": SALES_REPORT, "title": "Q3 sales, Europe"},
            ],
        )
        await self.mutate(THOUGHT, messageId=message, text="I need the records, then a sum.")
        for position, (tool, arguments, result) in enumerate(TOOLS):
            call = await self.mutate(
                TOOL_START,
                messageId=message,
                callId=f"call-{position}",
                toolName=tool,
                arguments=arguments,
                traceId=trace,
                parentSpanId=root,
            )
            self.say(f"tool {tool} started")
            await self.pace.wait(2)
            await self.mutate(TOOL_END, toolCallId=call, result=result)
        await self.mutate(STEP_STATUS, stepId=step, status="COMPLETED")
        return message

    async def write_answer(self, message: str, trace: str, root: str, step: str) -> str:
        await self.mutate(STEP_STATUS, stepId=step, status="RUNNING")
        llm = await self.mutate(
            START_SPAN,
            traceId=trace,
            name="write answer",
            kind="LLM",
            parentSpanId=root,
            planStepId=step,
            model="sim-1",
            provider="simulator",
        )
        for chunk in ANSWER:
            await self.pace.wait(0.25)
            await self.mutate(CHUNK, messageId=message, text=chunk)
        self.say(f"streamed {len(ANSWER)} chunks")
        # The call wrote the answer: the answer shows its usage, counted once.
        await self.mutate(
            END_SPAN,
            spanId=llm,
            messageId=message,
            model="sim-1",
            inputTokens=120,
            outputTokens=len(ANSWER) * 4,
        )
        await self.mutate(STEP_STATUS, stepId=step, status="COMPLETED")
        return "".join(ANSWER)
