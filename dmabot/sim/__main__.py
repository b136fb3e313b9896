from dmabot.sim import main

raise SystemExit(main())
