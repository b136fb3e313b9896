"""Rounding and checking one LIMIT order: LimitOrderGrid.prepare against the Decimal path the
gateway runs today (round_price, round_qty, check, format_decimal), in the same run so the
ratio survives a noisy machine. Each round prepares N BUY and SELL orders on BTCUSDT's sample
rules with a mid reference: touch prices and round quantities (15 or fewer digits, read
without dtoa), and the float noise of computed prices and split quantities (17 digits: dtoa).
"""
import json

import pytest

from dmabot.venues.binance.fast.grid import LimitOrderGrid
from dmabot.venues.binance.protocol import OrderType, format_decimal, parse_exchange_info
from tests.helpers.paths import TEST_DATA

N = 2_000
SAMPLE = TEST_DATA / "binance" / "rest"
RULES = parse_exchange_info(json.loads((SAMPLE / "exchange_info_btcusdt_ethusdt.json").read_text())).rules("BTCUSDT")

# (side, px, qty, reference): a bid or ask in cents around 91250, 0.001 .. 0.1 BTC, the mid
TOUCH = [(1 if i % 2 else -1, (9_125_000 + i % 97 + i % 2) / 100, (100 + i % 900 * 11) / 100_000,
          (9_125_000 + i % 97 + 0.5) / 100) for i in range(N)]
# a price 5 bps through the mid and a quantity split in three: 16-17 digit floats
NOISE = [(side, ref * (1 + 5e-4 * side), qty / 3, ref) for side, _, qty, ref in TOUCH]


def decimal_path(orders):
    round_price, round_qty, check, limit = RULES.round_price, RULES.round_qty, RULES.check, OrderType.LIMIT
    for side, px, qty, reference in orders:
        price, quantity = round_price(side, px), round_qty(qty)
        if check(side, limit, price, quantity, reference) is None:
            format_decimal(price), format_decimal(quantity)


def fast_path(grid, orders):
    prepare = grid.prepare
    for side, px, qty, reference in orders:
        prepare(side, px, qty, reference)


def expected(orders):
    results = []
    for side, px, qty, reference in orders:
        price, quantity = RULES.round_price(side, px), RULES.round_qty(qty)
        accepted = RULES.check(side, OrderType.LIMIT, price, quantity, reference) is None
        results.append((format_decimal(price), format_decimal(quantity)) if accepted else None)
    return results


@pytest.mark.parametrize("orders", [TOUCH, NOISE], ids=["touch", "noise"])
def test_same_results(orders):
    # The comparison is only fair if both accept the same orders with the same texts.
    grid = LimitOrderGrid(RULES)
    results = [grid.prepare(*order) for order in orders]
    assert results == expected(orders)
    assert all(results)


@pytest.mark.benchmark(group="grid_touch")
def test_grid_touch(benchmark, record_per_message):
    benchmark(fast_path, LimitOrderGrid(RULES), TOUCH)
    record_per_message("fast", N)


@pytest.mark.benchmark(group="grid_touch")
def test_decimal_touch(benchmark, record_per_message):
    benchmark(decimal_path, TOUCH)
    record_per_message("baseline", N)


@pytest.mark.benchmark(group="grid_noise")
def test_grid_noise(benchmark, record_per_message):
    benchmark(fast_path, LimitOrderGrid(RULES), NOISE)
    record_per_message("fast", N)


@pytest.mark.benchmark(group="grid_noise")
def test_decimal_noise(benchmark, record_per_message):
    benchmark(decimal_path, NOISE)
    record_per_message("baseline", N)
