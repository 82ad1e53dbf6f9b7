"""Shared results are encoded once, and every message reads as plain json.dumps would."""

from __future__ import annotations

import json

from web.encoding import MessageEncoder


def plain(message: object) -> str:
    return json.dumps(message, separators=(",", ":"))


def test_messages_read_as_json_dumps_would_write_them() -> None:
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
        assert encoder.encode(message) == plain(message)


def test_a_new_result_is_not_mistaken_for_an_older_one() -> None:
    encoder = MessageEncoder()
    for seq in range(100):
        data = {"conversationEvents": {"seq": seq}}
        message = {"id": "1", "type": "next", "payload": {"data": data}}
        assert json.loads(encoder.encode(message))["payload"]["data"] == data
