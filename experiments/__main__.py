"""``python -m difficult_customer.experiments <command>``: the same as ``difficult-customer <command>``."""

import sys

from difficult_customer.experiments.cli import main

sys.exit(main())
