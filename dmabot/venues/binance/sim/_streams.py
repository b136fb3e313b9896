"""Market-data stream sessions (`/ws...`, `/stream...`), sans-IO.

A session knows which streams its connection wants and whether frames are wrapped
(`/stream`, or `SET_PROPERTY ["combined", true]`), and answers the JSON control messages
of docs/binance.md, "Market data streams", with Binance's codes (0 unknown property, 1 bad value type,
2 invalid request, 3 invalid JSON). Subscribing to a stream the simulator does not serve
is refused with code 2, where the real server would accept it and stay silent: a typo in a
test should fail loudly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_INT64 = 2**63


class ControlError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class UnknownStream(ValueError):
    pass


class StreamSession:
    def __init__(self, served_streams: Collection[str], streams: Iterable[str], combined: bool) -> None:
        self._served = served_streams
        self.combined = combined
        self.subscriptions: dict[str, None] = {}  # insertion-ordered set, as LIST_SUBSCRIPTIONS shows it
        self._subscribe(list(streams))
        self._methods: dict[str, Callable[[Any], Any]] = {
            "SUBSCRIBE": self._on_subscribe,
            "UNSUBSCRIBE": self._on_unsubscribe,
            "LIST_SUBSCRIPTIONS": lambda params: list(self.subscriptions),
            "SET_PROPERTY": self._on_set_property,
            "GET_PROPERTY": self._on_get_property,
        }

    def frame(self, stream: str, payload: str) -> str | None:
        """The text frame carrying `payload` of `stream`, or None when not subscribed."""
        if stream not in self.subscriptions:
            return None
        if self.combined:
            return f'{{"stream":"{stream}","data":{payload}}}'
        return payload

    def server_shutdown(self, now_ms: int) -> str:
        """The notice Binance sends before a maintenance disconnect, in this session's form."""
        event = f'{{"e":"serverShutdown","E":{now_ms}}}'
        return f'{{"stream":"!serverShutdown","data":{event}}}' if self.combined else event

    def handle_text(self, text: str, now_ms: int) -> str:
        """Answer one control message; returns the reply frame.

        `now_ms` is unused: it keeps the signature of `WsApiClientSession.handle_text`.
        """
        try:
            request = json.loads(text)
        except ValueError as exc:
            return _dumps({"code": 3, "msg": f"Invalid JSON: {exc}"})
        if not isinstance(request, dict):
            return _invalid("expected a JSON object")
        request_id = request.get("id")
        if not _valid_id(request_id):
            return _invalid("'id' must be an int64, a string of at most 36 [A-Za-z0-9_-] or null")
        method = request.get("method")
        if method is None:
            return _invalid("missing field `method`")
        handler = self._methods.get(method) if isinstance(method, str) else None
        if handler is None:
            expected = ", ".join(f"`{name}`" for name in self._methods)
            return _invalid(f"unknown variant `{method}`, expected one of {expected}")
        try:
            result = handler(request.get("params"))
        except ControlError as exc:
            return _dumps({"code": exc.code, "msg": exc.msg, "id": request_id})
        return _dumps({"result": result, "id": request_id})

    def _subscribe(self, streams: list[str]) -> None:
        unknown = [s for s in streams if s not in self._served]
        if unknown:
            raise UnknownStream(f"unknown stream {unknown[0]!r}")
        self.subscriptions.update(dict.fromkeys(streams))

    def _on_subscribe(self, params: Any) -> None:
        try:
            self._subscribe(_stream_list(params))
        except UnknownStream as exc:
            raise ControlError(2, f"Invalid request: {exc}") from None

    def _on_unsubscribe(self, params: Any) -> None:
        for stream in _stream_list(params):
            self.subscriptions.pop(stream, None)

    def _on_set_property(self, params: Any) -> None:
        if not isinstance(params, list) or len(params) != 2:
            raise ControlError(2, "Invalid request: SET_PROPERTY takes [name, value]")
        self._check_property(params[0])
        if not isinstance(params[1], bool):
            raise ControlError(1, "Invalid value type: expected Boolean")
        self.combined = params[1]

    def _on_get_property(self, params: Any) -> bool:
        if not isinstance(params, list) or len(params) != 1:
            raise ControlError(2, "Invalid request: GET_PROPERTY takes [name]")
        self._check_property(params[0])
        return self.combined

    @staticmethod
    def _check_property(name: Any) -> None:
        if name != "combined":
            raise ControlError(0, "Unknown property")


def _stream_list(params: Any) -> list[str]:
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ControlError(2, "Invalid request: 'params' must be a list of stream names")
    return params


def _valid_id(request_id: Any) -> bool:
    if request_id is None:
        return True
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return -_INT64 <= request_id < _INT64
    return isinstance(request_id, str) and _ID_RE.match(request_id) is not None


def _invalid(reason: str) -> str:
    # like the real server: a request it cannot read gets id null
    return _dumps({"code": 2, "msg": f"Invalid request: {reason}", "id": None})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
