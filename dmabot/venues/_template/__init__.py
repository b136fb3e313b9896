"""A skeleton venue package: copy this directory to `dmabot/venues/<yourvenue>/` and fill in.

It runs as it is (a feed of one fixed book per symbol, a gateway that fills every order at its
price), so the copy starts green and each step below replaces a stand-in with the real thing:

1. `settings.py`: your keys (`TEMPLATE_*` -> `YOURVENUE_*`) and the frozen dataclass holding
   them. Then add `YOURVENUE_KEYS` to `KEYS` in dmabot/app/config.py, your section to
   `Config`, a `VenueMode` value, and a row per key to the README's configuration table.
2. `feed.py`: connect to the venue's market data (a transport from dmabot.io on the reactor),
   decode each message, `pipeline.push_tick(...)` then `pipeline.drain()`, then `after_step()`.
3. `gateway.py`: send each order in `submit` and turn every reply into `pipeline.on_exec(
   ExecReport(...))`: one ACK (or REJECTED), then each fill, then the end (FILLED, EXPIRED,
   CANCELED). Never raise out of `submit` or a reactor callback; count and log what is bad.
4. `venue.py`: the `VenueBuilder` the engine calls; register it in `select_venue`
   (dmabot/app/engine.py) under your `VenueMode` value.
5. Metrics: `collect()` on the feed and the gateway yields your metric families (names
   prefixed with your venue, a `venue` label), read at scrape time from counters you keep.

tests/unit/venues/test_template.py checks the protocols and drives a round trip; copy it too.
"""
