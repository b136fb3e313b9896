"""`python -m dmabot`: the command line of dmabot.app.cli."""
import sys

from dmabot.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
