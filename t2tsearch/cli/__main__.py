"""`python -m t2tsearch.cli`: the `t2tsearch` command."""

import sys

from t2tsearch.cli import main

sys.exit(main())
