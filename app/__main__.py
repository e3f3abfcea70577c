"""``python -m app``: start the Moebius Studio window."""

import sys

from app.main import main

sys.exit(main())
