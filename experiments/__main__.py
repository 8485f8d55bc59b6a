"""``difficult-customer <command>``: see :mod:`difficult_customer.experiments.cli`."""

import sys

from difficult_customer.experiments.cli import main

sys.exit(main())
