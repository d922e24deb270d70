"""``python -m predictive_training``: the command line (:mod:`.cli`)."""

import sys

from .cli import main

sys.exit(main())
