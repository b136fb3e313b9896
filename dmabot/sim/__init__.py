"""A Binance-compatible exchange simulator (market data part) on the project's reactor.

One port serves REST over HTTP/1.1 (`/api/v3/time`, `/api/v3/ping`, `/api/v3/exchangeInfo`),
WebSocket market streams (`/ws`, `/ws/<stream>`, `/stream?streams=a/b`), the WebSocket API
(`/ws-api/v3`) and the fault switches (`POST /sim/fault`, see `dmabot.sim._faults`).

    python -m dmabot.sim --port 0 --tls-cert cert.pem --tls-key key.pem --rate 50

In-process::

    reactor = Reactor()
    sim = Simulator(reactor, SimConfig(port=0))
    sim.start(); ...; sim.stall(2.0); ...; sim.close()
"""

from dmabot.sim._cli import main
from dmabot.sim._faults import Fault, FaultAction
from dmabot.sim._simulator import SimConfig, Simulator

__all__ = ["Fault", "FaultAction", "SimConfig", "Simulator", "main"]
