"""LangChain's ChatOpenAI, bound to a tool, instrumented by OpenInference: the app's
runnable is an AGENT span over LLM, TOOL and LLM spans. The TOOL span names no call id and
its output is LangChain's serialised ToolMessage ({"type": "tool", "data": {...}}), not
what the tool returned; session and user come from OpenInference's context."""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from openinference.instrumentation import using_attributes
from openinference.instrumentation.langchain import LangChainInstrumentor
from pydantic import SecretStr

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import FakeProvider
from tests.web.instrumented.harness import (
    AGENT,
    QUESTION,
    TOOL_NAME,
    TOOL_RESULT,
    USER,
    Telemetry,
    get_weather,
    instrumented,
    run_app,
)
from tests.web.instrumented.readback import (
    assert_tool_calls_closed,
    assert_usage_accounted,
    participants,
    senders,
    span_trees,
    stored_conversation,
    transcript,
)

weather_tool = tool(get_weather)


async def test_a_tool_round_trip_in_a_session(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=provider.url, api_key=SecretStr("test"), max_retries=0
    ).bind_tools([weather_tool])

    def agent(question: str) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            reply = model.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return reply.text
            messages += [weather_tool.invoke(call) for call in reply.tool_calls]

    def app() -> None:
        with (
            instrumented(LangChainInstrumentor(), tracer_provider=telemetry.tracer_provider),
            using_attributes(session_id="weather-session", user_id=USER),
        ):
            assert RunnableLambda(agent, name=AGENT).invoke(QUESTION) == provider.answers()[0]

    await run_app(telemetry, app)
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", TOOL_RESULT),
        ("ASSISTANT", *provider.answers()),
    ]
    assert_tool_calls_closed(conversation, provider.call_ids(), span=("TOOL", TOOL_NAME))
    assert (senders(conversation, "USER"), senders(conversation, "ASSISTANT")) == (
        {USER},
        {AGENT},
    )
    assert participants(conversation) == {("dev", "USER"), (USER, "USER"), (AGENT, "AGENT")}
    llm = ("LLM", "ChatOpenAI")
    assert span_trees(conversation) == [("AGENT", AGENT, (llm, ("TOOL", TOOL_NAME), llm))]
    await assert_usage_accounted(gql, conversation, provider.usage())
