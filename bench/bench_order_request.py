"""Building one signed ``POST /api/v3/order``: the prepared template against the obvious way
(h11's client ``send`` + ``urllib.parse.urlencode`` + ``hmac.new``), in the same run so the
ratio survives a noisy machine. Each round builds N orders of varying price, quantity and id.
"""
import hashlib
import hmac
import urllib.parse

import h11
import pytest

from dmabot.venues.binance.protocol import Credentials, OrderType, TimeInForce, WireSide
from dmabot.venues.binance.protocol.rest_request import OrderTemplate

N = 2_000
HOST = "api.binance.com"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
TS = 1795858200000
# (side, quantity, price, client id, timestamp): what changes from one order to the next
ORDERS = [(WireSide.BUY if i % 2 else WireSide.SELL, f"0.{i % 900 + 100:05d}", f"{91250 + i % 97}.{i % 100:02d}",
           f"mx07lrk0-01-1-{i:x}-{i + 1:x}", TS + i) for i in range(N)]


def template_orders(template):
    build = template.build
    limit, gtc = OrderType.LIMIT, TimeInForce.GTC
    for side, qty, px, cid, ts in ORDERS:
        build(side, limit, gtc, qty, px, cid, ts)


def h11_orders(secret):
    for side, qty, px, cid, ts in ORDERS:
        query = urllib.parse.urlencode([
            ("symbol", "BTCUSDT"), ("side", side.value), ("type", "LIMIT"), ("timeInForce", "GTC"),
            ("quantity", qty), ("price", px), ("newClientOrderId", cid), ("newOrderRespType", "RESULT"),
            ("recvWindow", 5000), ("timestamp", ts)])
        signature = hmac.new(secret, query.encode(), hashlib.sha256).hexdigest()
        body = f"{query}&signature={signature}".encode()
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method="POST", target="/api/v3/order", headers=[
            ("Host", HOST), ("User-Agent", "dmabot"), ("X-MBX-APIKEY", API_KEY),
            ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body)))]))
        client.send(h11.Data(data=body))
        client.send(h11.EndOfMessage())


def test_same_bytes():
    # The comparison is only fair if both build the same request.
    template = OrderTemplate(HOST, "BTCUSDT", Credentials(API_KEY, SECRET))
    side, qty, px, cid, ts = ORDERS[0]
    wire = template.build(side, OrderType.LIMIT, TimeInForce.GTC, qty, px, cid, ts)
    body = wire.partition(b"\r\n\r\n")[2]
    query = urllib.parse.urlencode([
        ("symbol", "BTCUSDT"), ("side", side.value), ("type", "LIMIT"), ("timeInForce", "GTC"),
        ("quantity", qty), ("price", px), ("newClientOrderId", cid), ("newOrderRespType", "RESULT"),
        ("recvWindow", 5000), ("timestamp", ts)])
    assert body.decode() == f"{query}&signature={hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()}"


@pytest.mark.benchmark(group="order_request")
def test_template(benchmark, record_per_message):
    template = OrderTemplate(HOST, "BTCUSDT", Credentials(API_KEY, SECRET))
    benchmark(template_orders, template)
    record_per_message("fast", N)


@pytest.mark.benchmark(group="order_request")
def test_h11_urlencode_hmac(benchmark, record_per_message):
    benchmark(h11_orders, SECRET.encode())
    record_per_message("baseline", N)
