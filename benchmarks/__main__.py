import sys

# First: its LAUNCH_ENVIRONMENT is os.environ before any library changes it.
import benchmarks.measure  # noqa: F401
from benchmarks.cli import main

sys.exit(main())
