"""A Binance-compatible exchange simulator on the project's reactor: market data and a venue.

One port serves REST over HTTP/1.1 (`/api/v3/time`, `/api/v3/ping`, `/api/v3/exchangeInfo`
and the signed trading endpoints `POST/GET/DELETE /api/v3/order`, `GET/DELETE
/api/v3/openOrders`, `GET /api/v3/account`, `GET /api/v3/myTrades`), WebSocket market
streams (`/ws`, `/ws/<stream>`, `/stream?streams=a/b`), the WebSocket API (`/ws-api/v3`:
`ping`, `time`, `userDataStream.subscribe.signature` and the user-data events,
`order.place`, `order.cancel`, ...) and the fault switches (`POST /sim/fault`, see
`dmabot.venues.binance.sim._faults`). Orders match against the simulator's own books
(`dmabot.venues.binance.sim._venue`).
With `--probe-tick-to-trade N` the first symbol's book is the wire tick-to-trade probe's
(`dmabot.venues.binance.sim._probe`).

    python -m dmabot.venues.binance.sim --port 0 --tls-cert cert.pem --tls-key key.pem --rate 50 \
        --api-key KEY --api-secret SECRET --balances USDT=100000,BTC=1,ETH=10

In-process::

    reactor = Reactor()
    sim = Simulator(reactor, SimConfig(port=0))
    sim.start(); ...; sim.stall(2.0); ...; sim.close()
"""

from dmabot.venues.binance.sim._cli import main
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._faults import Fault, FaultAction
from dmabot.venues.binance.sim._limits import Limits
from dmabot.venues.binance.sim._simulator import SimConfig, Simulator
from dmabot.venues.binance.sim._venue import Venue

__all__ = ["VenueError", "Fault", "FaultAction", "Limits", "SimConfig", "Simulator", "Venue", "main"]
