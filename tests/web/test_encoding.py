"""Shared results are encoded once, and every message reads back as it was sent."""

from __future__ import annotations

import json

from web.encoding import MessageEncoder, compact


def test_messages_read_back_as_sent() -> None:
    encoder = MessageEncoder()
    shared = {"conversationEvents": {"seq": 7, "text": 'é \u2028 "quoted"'}}
    messages = [
        {"id": "1", "type": "next", "payload": {"data": shared}},
        {"id": 'op "2"', "type": "next", "payload": {"data": shared}},
        {"id": "3", "type": "next", "payload": {"data": None, "errors": [{"message": "x"}]}},
        {"id": "4", "type": "complete"},
        {"type": "connection_ack"},
    ]
    for message in messages:
        assert json.loads(encoder.encode(message)) == message


def test_what_orjson_refuses_is_written_by_json() -> None:
    # A JSON scalar may hold integers of any size; orjson writes 64 bits at most.
    for data in [{"n": 10**20, "m": [-(2**64)]}, {"scores": {1: "a"}}]:
        assert compact(data) == json.dumps(data, separators=(",", ":"))
    assert json.loads(compact({"n": 10**20})) == {"n": 10**20}


def test_a_new_result_is_not_mistaken_for_an_older_one() -> None:
    encoder = MessageEncoder()
    for seq in range(100):
        data = {"conversationEvents": {"seq": seq}}
        message = {"id": "1", "type": "next", "payload": {"data": data}}
        assert json.loads(encoder.encode(message))["payload"]["data"] == data
