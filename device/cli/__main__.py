"""``python -m device.cli``: the same entry point as the ``pfmt`` console script."""
import sys

from device.cli.main import main

sys.exit(main())
