"""`python -m bench.hub KIND ...`: the hub's own command line (`alertnet.cli.main`), under another name.

The bench starts the hub's processes through this module rather than `python -m alertnet` so that a
process-name match such as `pkill -f alertnet`, run by someone else on a shared machine, cannot stop
the stack in the middle of a measurement. The code that runs is exactly `python -m alertnet KIND`.
"""

from alertnet.cli import main

raise SystemExit(main())
