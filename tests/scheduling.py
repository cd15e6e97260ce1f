"""How the test files are shared out among the pytest-xdist workers (`--dist loadfile`).

Each file runs whole on one worker, in order: module-scoped emulators live in their
module's event loop, which runs only while a test of that module does, so a test of
another file in between would starve the bot that talks to them (handing tests out one
by one failed `test_crash_safety` that way).

Two rules on top of xdist's `loadfile`:
- longest first: files that start real processes and wait for Telegram's pacing go
  out before the many short ones, which then fill the gaps (otherwise xdist orders by
  number of tests, and a one-test file of minutes starts last);
- one rate measurement at a time: the files in `RATE_FILES` count sends per second
  against the clock on a 2-core machine, so they never run beside each other.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController

# Measure throughput and rates of real `bot run` processes (README, "Reliability").
RATE_FILES = frozenset({"tests/reliability/test_burst.py", "tests/reliability/test_replicas.py"})

# Most first. Measured (benchmarks/README.md, "The test suite"): a reliability file takes
# one to four minutes, a browser or end-to-end file 5-80 s (mostly waiting for Telegram's
# one message a second per chat), a file of the other folders a few seconds.
FOLDER_WEIGHT = {"tests/reliability/": 3, "tests/web/": 2, "tests/e2e/": 2}


def weight(scope: str) -> int:
    """How early a file goes out: rate files, then its folder's weight, then the rest."""
    if scope in RATE_FILES:
        return 4
    return next((w for folder, w in FOLDER_WEIGHT.items() if scope.startswith(folder)), 0)


class LongestFirst(LoadFileScheduling):
    """`--dist loadfile` with the two rules of this module."""

    def _rate_file_running(self) -> bool:
        return any(
            scope in RATE_FILES and not all(unit.values())
            for work in self.assigned_work.values()
            for scope, unit in work.items()
        )

    def _assign_work_unit(self, node: WorkerController) -> None:
        """The heaviest file that may go now (xdist's order among equals); none while
        only rate files are left and one of them runs."""
        busy = self._rate_file_running()
        allowed = [scope for scope in self.workqueue if not (busy and scope in RATE_FILES)]
        if not allowed:
            return
        scope = max(allowed, key=weight)  # the first of the heaviest
        work_unit = self.workqueue.pop(scope)
        self.assigned_work.setdefault(node, {})[scope] = work_unit
        collection = self.registered_collections[node]
        node.send_runtest_some(
            [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
        )

    def mark_test_complete(
        self, node: WorkerController, item_index: int, duration: float = 0
    ) -> None:
        """Also look at the other workers: one may wait for the rate file that just ended."""
        super().mark_test_complete(node, item_index, duration)
        for other in self.nodes:
            if other is not node:
                self._reschedule(other)
