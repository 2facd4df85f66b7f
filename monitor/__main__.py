"""``python -m monitor`` is the ``drift-monitor`` command."""

import sys

from monitor.cli import main

sys.exit(main())
