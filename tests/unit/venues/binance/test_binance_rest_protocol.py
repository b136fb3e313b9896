"""REST client connection with bytes only: replies paired with requests, a queue behind the one
in flight, timeouts and closes as unknown outcomes, rate-limit headers, 429 and 418."""
from __future__ import annotations

import json

import h11
import pytest

from dmabot.venues.binance.protocol import Credentials, parse_exchange_info
from dmabot.venues.binance.protocol.rest_protocol import (
    ConnectionClosedError,
    ConnectionState,
    FailureReason,
    RateLimitState,
    RateLimitStatus,
    RequestFailed,
    Response,
    RestConnection,
)
from dmabot.venues.binance.protocol.rest_request import RestRequests
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
S = 1_000_000_000
T0 = 1_000 * S
REQUESTS = RestRequests("api.binance.com", Credentials("k" * 64, "s" * 64))
TIME_BODY = (DATA / "rest" / "time.json").read_bytes()


class Server:
    """The other end: an h11 server reading our bytes and answering."""

    def __init__(self):
        self.conn = h11.Connection(h11.SERVER)

    def read(self, data: bytes) -> h11.Request:
        self.conn.receive_data(data)
        request = self.conn.next_event()
        assert isinstance(request, h11.Request)
        while not isinstance(self.conn.next_event(), h11.EndOfMessage):
            pass
        return request

    def reply(self, status=200, body=TIME_BODY, headers=(), chunked=False):
        framing = [("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", str(len(body)))]
        wire = self.conn.send(h11.Response(status_code=status, headers=[
            ("Content-Type", "application/json;charset=UTF-8"), *framing, *headers]))
        if chunked:
            wire += self.conn.send(h11.Data(data=body[:5])) + self.conn.send(h11.Data(data=body[5:]))
        else:
            wire += self.conn.send(h11.Data(data=body))
        wire += self.conn.send(h11.EndOfMessage())
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return wire


def test_one_request_one_reply_fed_byte_by_byte():
    conn, server = RestConnection(), Server()
    conn.submit("time", REQUESTS.server_time(), T0)
    assert server.read(conn.data_to_send()).target == b"/api/v3/time"
    assert conn.in_flight == "time" and conn.data_to_send() == b""
    wire = server.reply(headers=[("X-MBX-USED-WEIGHT-1M", "7")])
    outcomes = []
    for i in range(len(wire)):
        outcomes += conn.receive_data(wire[i:i + 1], T0 + 5_000_000)
    (response,) = outcomes
    assert isinstance(response, Response) and response.tag == "time" and response.status == 200
    assert response.json() == {"serverTime": 1795858200000}
    assert response.header("x-mbx-used-weight-1m") == "7" and response.header("retry-after") is None
    assert (response.sent_ns, response.received_ns) == (T0, T0 + 5_000_000)
    assert conn.in_flight is None and conn.state is ConnectionState.OPEN


def test_queue_keeps_one_in_flight_and_keep_alive_reuses_the_connection():
    conn, server = RestConnection(), Server()
    conn.submit("a", REQUESTS.server_time(), T0)
    conn.submit("b", REQUESTS.open_orders("BTCUSDT", 1795858200000), T0 + 1)
    conn.submit("c", REQUESTS.account(1795858200000), T0 + 2)
    assert server.read(conn.data_to_send()).target == b"/api/v3/time"
    assert conn.queued == 2
    (a,) = conn.receive_data(server.reply(), T0 + 10)
    assert a.tag == "a"
    assert server.read(conn.data_to_send()).target.startswith(b"/api/v3/openOrders?")
    (b,) = conn.receive_data(server.reply(body=b"[]", chunked=True), T0 + 20)
    assert b.tag == "b" and b.body == b"[]" and b.sent_ns == T0 + 10
    assert server.read(conn.data_to_send()).target.startswith(b"/api/v3/account?")
    (c,) = conn.receive_data(server.reply(status=400, body=b'{"code":-1022,"msg":"x"}'), T0 + 30)
    assert c.tag == "c" and c.status == 400 and conn.in_flight is None and conn.queued == 0


def test_timeout_is_unknown_and_closes():
    conn = RestConnection(timeout_ns=2 * S)
    conn.submit("order", b"POST ...", T0)
    conn.submit("query", b"GET ...", T0 + S, timeout_ns=10 * S)
    assert conn.next_deadline_ns == T0 + 2 * S
    assert conn.expire(T0 + 2 * S - 1) == []
    failed = conn.expire(T0 + 2 * S)
    assert failed == [RequestFailed("order", FailureReason.TIMED_OUT), RequestFailed("query", FailureReason.NOT_SENT)]
    assert failed[0].reason.outcome_unknown and not failed[1].reason.outcome_unknown
    assert conn.state is ConnectionState.CLOSED and conn.next_deadline_ns is None
    with pytest.raises(ConnectionClosedError):
        conn.submit("again", b"GET ...", T0 + 3 * S)
    # a late reply on the dead connection is not paired with anything
    assert conn.receive_data(Server().reply(), T0 + 4 * S) == []


def test_queued_request_can_expire_unsent():
    conn = RestConnection(timeout_ns=10 * S)
    conn.submit("slow", b"GET ...", T0)
    conn.submit("urgent", b"GET ...", T0, timeout_ns=S)
    assert conn.expire(T0 + S) == [RequestFailed("urgent", FailureReason.NOT_SENT)]
    assert conn.state is ConnectionState.OPEN and conn.in_flight == "slow"


def test_peer_close_makes_in_flight_unknown():
    conn = RestConnection()
    conn.submit("order", b"POST ...", T0)
    conn.submit("next", b"GET ...", T0)
    assert conn.receive_data(b"", T0 + 1) == [
        RequestFailed("order", FailureReason.CONNECTION_LOST), RequestFailed("next", FailureReason.NOT_SENT)]
    assert conn.state is ConnectionState.CLOSED and conn.close() == []


def test_connection_close_header_ends_after_the_reply():
    conn, server = RestConnection(), Server()
    conn.submit("a", REQUESTS.server_time(), T0)
    conn.submit("b", REQUESTS.server_time(), T0)
    server.read(conn.data_to_send())
    outcomes = conn.receive_data(server.reply(headers=[("Connection", "close")]), T0 + 1)
    assert [type(o) for o in outcomes] == [Response, RequestFailed]
    assert outcomes[1] == RequestFailed("b", FailureReason.NOT_SENT) and conn.state is ConnectionState.CLOSED


@pytest.mark.parametrize("garbage", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n"])
def test_garbage_is_a_lost_connection(garbage):
    conn = RestConnection()
    conn.submit("order", b"POST ...", T0)
    assert conn.receive_data(garbage, T0 + 1) == [RequestFailed("order", FailureReason.CONNECTION_LOST)]


def test_reply_to_nothing_closes():
    conn = RestConnection()
    assert conn.receive_data(Server().reply(), T0) == [] and conn.state is ConnectionState.CLOSED


# -- rate limits -----------------------------------------------------------------------------

@pytest.fixture
def limits():
    info = parse_exchange_info(json.loads((DATA / "rest" / "exchange_info_btcusdt_ethusdt.json").read_text()))
    return RateLimitState.from_exchange_info(info.rate_limits)


def test_limits_from_exchange_info(limits):
    assert (limits.weight_limit_1m, limits.order_limit_10s, limits.order_limit_1d) == (6000, 100, 200000)


def test_headers_are_tracked_through_the_connection(limits):
    conn, server = RestConnection(rate_limits=limits), Server()
    conn.submit("order", REQUESTS.server_time(), T0)
    server.read(conn.data_to_send())
    conn.receive_data(server.reply(headers=[
        ("x-mbx-used-weight", "12"), ("X-MBX-USED-WEIGHT-1M", "12"),
        ("X-MBX-ORDER-COUNT-10S", "3"), ("X-MBX-ORDER-COUNT-1D", "1200")]), T0 + 1)
    assert (limits.used_weight_1m, limits.order_count_10s, limits.order_count_1d) == (12, 3, 1200)
    assert limits.status(T0 + 2) is RateLimitStatus.OPEN and limits.may_send(T0 + 2)
    limits.on_response(200, [(b"x-mbx-order-count-10s", b"50")], b"{}", T0 + 3)
    assert limits.status(T0 + 3) is RateLimitStatus.SLOW_DOWN and limits.may_send(T0 + 3)


def test_429_backs_off_for_retry_after(limits):
    body = (DATA / "errors" / "rest_-1003_http429_too_much_weight.json").read_bytes()
    limits.on_response(429, [(b"retry-after", b"17"), (b"x-mbx-used-weight-1m", b"6001")], body, T0)
    assert limits.status(T0) is RateLimitStatus.BACKING_OFF and limits.resume_at_ns == T0 + 17 * S
    assert not limits.may_send(T0 + 17 * S - 1) and limits.may_send(T0 + 17 * S)
    assert limits.status(T0 + 17 * S) is RateLimitStatus.SLOW_DOWN   # 6001 used, until a fresh reply
    assert limits.backoffs == 1


def test_429_without_retry_after_uses_the_window(limits):
    body = (DATA / "errors" / "rest_-1015_http429_too_many_orders.json").read_bytes()
    limits.on_response(429, [], body, T0)
    assert limits.orders_resume_at_ns == T0 + 10 * S
    limits.on_response(429, [], b"not json", T0)
    assert limits.resume_at_ns == T0 + 60 * S


def test_429_for_the_order_count_holds_new_orders_only(limits):
    body = (DATA / "errors" / "rest_-1015_http429_too_many_orders.json").read_bytes()
    limits.on_response(429, [(b"retry-after", b"7200")], body, T0)      # the day's window: hours
    assert limits.status(T0) is RateLimitStatus.ORDERS_HELD and limits.backoffs == 1
    assert limits.may_send(T0) and limits.resume_at_ns == 0              # queries, cancels: go on
    assert not limits.may_send_orders(T0 + 7200 * S - 1) and limits.may_send_orders(T0 + 7200 * S)
    assert limits.orders_resume_in_ns(T0 + 7100 * S) == 100 * S


def test_a_request_weight_429_holds_orders_too(limits):
    body = (DATA / "errors" / "rest_-1003_http429_too_much_weight.json").read_bytes()
    limits.on_response(429, [(b"retry-after", b"5")], body, T0)
    assert not limits.may_send(T0) and not limits.may_send_orders(T0)
    assert limits.orders_resume_in_ns(T0) == 5 * S


def test_the_ws_api_order_count_429_holds_new_orders_only(limits):
    limits.on_ws_api_reply(429, [], -1015, 3 * S, T0)
    assert limits.may_send(T0) and not limits.may_send_orders(T0) and limits.may_send_orders(T0 + 3 * S)


def test_418_ban_outranks_a_later_429(limits):
    body = (DATA / "errors" / "rest_-1003_http418_ip_banned.json").read_bytes()
    limits.on_response(418, [(b"retry-after", b"600")], body, T0)
    assert limits.status(T0 + 1) is RateLimitStatus.BANNED
    limits.on_response(429, [(b"retry-after", b"5")], b"{}", T0 + 2)
    assert limits.status(T0 + 3) is RateLimitStatus.BANNED and limits.resume_at_ns == T0 + 600 * S
    assert limits.status(T0 + 600 * S) is RateLimitStatus.OPEN and limits.bans == 1


@pytest.mark.parametrize("status, error", [(429, "rest_-1003_http429_too_much_weight.json"),
                                           (429, "rest_-1015_http429_too_many_orders.json"),
                                           (418, "rest_-1003_http418_ip_banned.json")])
def test_requests_queued_behind_a_429_or_418_are_not_written_into_the_wait(limits, status, error):
    conn, server = RestConnection(rate_limits=limits), Server()
    conn.submit("order", REQUESTS.server_time(), T0)
    conn.submit("next order", REQUESTS.server_time(), T0)
    conn.submit("query", REQUESTS.account(1795858200000), T0)
    server.read(conn.data_to_send())
    body = (DATA / "errors" / error).read_bytes()
    outcomes = conn.receive_data(server.reply(status, body, [("Retry-After", "3")]), T0 + 1)
    assert [o.status for o in outcomes[:1]] == [status]
    assert outcomes[1:] == [RequestFailed("next order", FailureReason.NOT_SENT),
                            RequestFailed("query", FailureReason.NOT_SENT)]
    assert conn.data_to_send() == b"" and conn.queued == 0 and conn.state is ConnectionState.OPEN
    conn.submit("after", REQUESTS.server_time(), T0 + 3 * S + 1)   # kept alive for after the wait
    assert server.read(conn.data_to_send()).target == b"/api/v3/time"
