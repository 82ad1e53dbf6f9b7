"""JSON for the wire, with each shared subscription result encoded once.

Subscribers of a shared stream (subscriptions.shared) are sent the very same result
object; a thousand of them would otherwise encode its data a thousand times per
event. Only a message's envelope (its operation id) differs between them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import orjson

RECENT = 16  # results in flight at once; a miss only costs one more encoding


def compact(data: object) -> str:
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        # What orjson refuses and json writes: integers past 64 bits (a JSON scalar may
        # hold any), keys that are not strings.
        return json.dumps(data, separators=(",", ":"))


class MessageEncoder:
    def __init__(self) -> None:
        # By the identity of a result's data; the object is kept so its id is not reused.
        self._recent: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def encode(self, message: object) -> str:
        if not _is_plain_next(message):
            return compact(message)
        assert isinstance(message, dict)
        operation = compact(message["id"])
        data = self._data(message["payload"]["data"])
        return f'{{"id":{operation},"type":"next","payload":{{"data":{data}}}}}'

    def _data(self, data: object) -> str:
        key = id(data)
        found = self._recent.get(key)
        if found is not None and found[0] is data:
            return found[1]
        encoded = compact(data)
        self._recent[key] = (data, encoded)
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        return encoded


def _is_plain_next(message: Any) -> bool:
    """A graphql-transport-ws `next` message whose payload holds only data."""
    return (
        isinstance(message, dict)
        and message.get("type") == "next"
        and message.keys() == {"id", "type", "payload"}
        and isinstance(message["payload"], dict)
        and message["payload"].keys() == {"data"}
    )
