"""The metrics HTTP server: the protocol with plain bytes."""
from __future__ import annotations

import h11
import pytest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dmabot.metrics_http import MetricsHttpProtocol

BODY = b"# HELP up Whether the engine is up.\n# TYPE up gauge\nup 1.0\n"


def render() -> bytes:
    return BODY


def request_bytes(method: str = "GET", target: str = "/metrics", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n").encode()


def parse_responses(raw: bytes, methods: list[str]) -> list[tuple[h11.Response, bytes]]:
    """Read one response per request method out of `raw`; fail if any is incomplete."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    responses = []
    for i, method in enumerate(methods):
        if i:
            client.start_next_cycle()
        # h11 frames a response by the request it answers (HEAD has no body).
        client.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
        client.send(h11.EndOfMessage())
        response, body = None, b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert event is not h11.NEED_DATA, "incomplete response"
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
        assert response is not None
        responses.append((response, body))
    return responses


def header(response: h11.Response, name: bytes) -> bytes | None:
    return dict(response.headers).get(name)


# -- protocol: plain bytes -------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/metrics", "/metrics?name[]=up"])
def test_get_serves_the_rendered_page(target: str) -> None:
    protocol = MetricsHttpProtocol(render)
    [(response, body)] = parse_responses(protocol.receive_data(request_bytes("GET", target)), ["GET"])
    assert response.status_code == 200
    assert body == BODY
    assert header(response, b"content-type") == CONTENT_TYPE_LATEST.encode()
    assert header(response, b"content-length") == str(len(BODY)).encode()
    assert not protocol.must_close


def test_head_gets_the_headers_of_get_and_no_body() -> None:
    protocol = MetricsHttpProtocol(render)
    raw = protocol.receive_data(request_bytes("HEAD", "/"))
    [(response, body)] = parse_responses(raw, ["HEAD"])
    assert response.status_code == 200
    assert header(response, b"content-length") == str(len(BODY)).encode()
    assert body == b""
    assert raw.endswith(b"\r\n\r\n")


def test_unknown_path_is_404() -> None:
    protocol = MetricsHttpProtocol(render)
    [(response, body)] = parse_responses(protocol.receive_data(request_bytes("GET", "/nope")), ["GET"])
    assert response.status_code == 404
    assert body == b"404 Not Found\n"
    assert not protocol.must_close


def test_other_method_is_405_with_allow_and_its_body_is_skipped() -> None:
    protocol = MetricsHttpProtocol(render)
    post = request_bytes("POST", "/metrics", (("Content-Length", "5"),)) + b"hello"
    raw = protocol.receive_data(post + request_bytes("GET"))
    [(refused, _), (served, body)] = parse_responses(raw, ["POST", "GET"])
    assert refused.status_code == 405
    assert header(refused, b"allow") == b"GET, HEAD"
    assert (served.status_code, body) == (200, BODY)


def test_garbage_gets_400_then_close() -> None:
    protocol = MetricsHttpProtocol(render)
    [(response, _)] = parse_responses(protocol.receive_data(b"\x16\x03\x01 not http\r\n\r\n"), ["GET"])
    assert response.status_code == 400
    assert header(response, b"connection") == b"close"
    assert protocol.must_close
    assert protocol.receive_data(request_bytes()) == b""


def test_oversized_request_head_is_refused_without_buffering_it() -> None:
    protocol = MetricsHttpProtocol(render, max_head_bytes=1024)
    raw = protocol.receive_data(b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 2048)
    [(response, _)] = parse_responses(raw, ["GET"])
    assert response.status_code == 431
    assert protocol.must_close


def test_pipelined_requests_in_one_chunk_get_responses_in_order() -> None:
    protocol = MetricsHttpProtocol(render)
    raw = protocol.receive_data(request_bytes("GET", "/") + request_bytes("GET", "/missing") + request_bytes("HEAD"))
    statuses = [(r.status_code, body) for r, body in parse_responses(raw, ["GET", "GET", "HEAD"])]
    assert statuses == [(200, BODY), (404, b"404 Not Found\n"), (200, b"")]
    assert not protocol.must_close


def test_connection_close_is_honoured() -> None:
    protocol = MetricsHttpProtocol(render)
    raw = protocol.receive_data(request_bytes(headers=(("Connection", "close"),)) + request_bytes())
    [(response, body)] = parse_responses(raw, ["GET"])
    assert (response.status_code, body) == (200, BODY)
    assert header(response, b"connection") == b"close"
    assert protocol.must_close
    assert raw.count(b"HTTP/1.1") == 1  # the request after the close is not answered


def test_request_split_byte_by_byte() -> None:
    protocol = MetricsHttpProtocol(render)
    request = request_bytes()
    outputs = [protocol.receive_data(request[i : i + 1]) for i in range(len(request))]
    assert outputs[:-1] == [b""] * (len(request) - 1)
    [(response, body)] = parse_responses(outputs[-1], ["GET"])
    assert (response.status_code, body) == (200, BODY)


@pytest.mark.parametrize("before_eof", [b"", b"GET /met", request_bytes()])
def test_eof_means_close(before_eof: bytes) -> None:
    protocol = MetricsHttpProtocol(render)
    protocol.receive_data(before_eof)
    protocol.receive_data(b"")
    assert protocol.must_close


def test_failing_render_is_500_and_the_connection_survives(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bytes:
        raise RuntimeError("collector broke")

    protocol = MetricsHttpProtocol(broken)
    [(response, _)] = parse_responses(protocol.receive_data(request_bytes()), ["GET"])
    assert response.status_code == 500
    assert not protocol.must_close
    assert "rendering metrics failed" in caplog.text
