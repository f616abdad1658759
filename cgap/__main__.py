"""`python -m cgap` (also what torchrun launches)."""

import sys

from cgap.cli import main

sys.exit(main())
