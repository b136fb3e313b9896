from dmabot.venues.binance.sim import main

raise SystemExit(main())
