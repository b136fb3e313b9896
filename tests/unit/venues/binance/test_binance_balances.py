"""The balance book: the account snapshot and the user-data balance events of the samples, in
either order, applied by the account time they carry."""
from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from dmabot.venues.binance.protocol import Balance, BalanceBook, parse_account, parse_ws_api_message
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
D = Decimal
# samples/rest/account.json (updateTime T+5 s), then outbound_account_position.json (u = T+61 s:
# the BTC order filled), then balance_update.json (T = T+120 s: a 500 USDT deposit)
ACCOUNT = parse_account(json.loads((DATA / "rest" / "account.json").read_text()))
POSITION = parse_ws_api_message(json.loads((DATA / "user_data" / "outbound_account_position.json").read_text()))
DEPOSIT = parse_ws_api_message(json.loads((DATA / "user_data" / "balance_update.json").read_text()))


def amounts(book: BalanceBook) -> dict[str, tuple[Decimal, Decimal]]:
    return {b.asset: (b.free, b.locked) for b in book.balances()}


def test_snapshot_then_position_then_deposit():
    book = BalanceBook()
    assert book.balances() == []
    book.on_account(ACCOUNT)
    assert book.balances() == [Balance("BTC", D("0.0107892"), 0), Balance("ETH", D("1.25"), D("0.05")),
                               Balance("USDT", D("8913.39745"), D("109.5"))]
    book.on_account_position(POSITION)     # absolute: replaces BTC and USDT, leaves ETH
    assert amounts(book) == {"BTC": (D("0.011988"), 0), "ETH": (D("1.25"), D("0.05")),
                             "USDT": (D("8283.39745"), 0)}
    book.on_balance_update(DEPOSIT)        # a delta on free
    assert amounts(book)["USDT"] == (D("8783.39745"), 0)


def test_a_snapshot_older_than_an_event_does_not_undo_it():
    book = BalanceBook()
    book.on_account_position(POSITION)     # the user stream overtook the REST reply
    book.on_account(ACCOUNT)
    assert amounts(book) == {"BTC": (D("0.011988"), 0), "ETH": (D("1.25"), D("0.05")),
                             "USDT": (D("8283.39745"), 0)}


def test_an_event_older_than_the_snapshot_is_dropped():
    book = BalanceBook()
    book.on_account(dataclasses.replace(ACCOUNT, update_time=POSITION.update_time + 1))
    book.on_account_position(POSITION)
    assert amounts(book)["USDT"] == (D("8913.39745"), D("109.5"))


def test_absolute_facts_of_the_same_millisecond_apply_in_arrival_order():
    book = BalanceBook()
    book.on_account_position(POSITION)
    book.on_account(dataclasses.replace(ACCOUNT, update_time=POSITION.update_time))
    assert amounts(book)["USDT"] == (D("8913.39745"), D("109.5"))


def test_a_deposit_the_snapshot_already_holds_is_not_added_twice():
    book = BalanceBook()
    book.on_account(dataclasses.replace(ACCOUNT, update_time=DEPOSIT.clear_time))
    book.on_balance_update(DEPOSIT)
    assert amounts(book)["USDT"] == (D("8913.39745"), D("109.5"))
    book.on_balance_update(dataclasses.replace(DEPOSIT, delta=D(-13), clear_time=DEPOSIT.clear_time + 1))
    assert amounts(book)["USDT"] == (D("8900.39745"), D("109.5"))   # a later withdrawal is


def test_a_deposit_of_an_asset_not_yet_known_waits_for_its_position():
    book = BalanceBook()
    book.on_balance_update(dataclasses.replace(DEPOSIT, asset="BNB"))
    assert book.balances() == []
    bnb = dataclasses.replace(POSITION, balances=(Balance("BNB", D(500), D(0)),), update_time=DEPOSIT.clear_time)
    book.on_account_position(bnb)
    assert amounts(book) == {"BNB": (D(500), 0)}


def test_an_asset_a_newer_snapshot_leaves_out_is_zero():
    # omitZeroBalances=true: the ETH sold since is no longer listed
    book = BalanceBook()
    book.on_account(ACCOUNT)
    no_eth = tuple(b for b in ACCOUNT.balances if b.asset != "ETH")
    book.on_account(dataclasses.replace(ACCOUNT, balances=no_eth, update_time=ACCOUNT.update_time + 1))
    assert amounts(book)["ETH"] == (0, 0)
