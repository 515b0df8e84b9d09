"""Long-running loops: what scalehook does on its own, beside answering requests.

- ``clock.py``: the one clock (wall time, monotonic time, sleep) every timing rule reads;
  ``ManualClock`` fast-forwards it in tests.
- ``leadership.py``: whether this instance leads. A loop that needs it runs only while
  this instance leads: one instance alone always does (``SoleLeadership``); several on
  one PostgreSQL elect one with a lease in the database (``LeaseLeadership``).
- ``supervisor.py``: runs each registered loop as a task, stops it when leadership is
  lost, and restarts one that raises (logged, counted in ``/metrics``, with backoff).

A loop is any object with a ``name``, a ``leader_only`` flag and ``async def run()``
that runs until cancelled (``base.py``). It reads time from the clock it was given and
acts only through the executor, so its actions are serialised per target and recorded
like a trigger's.
"""

from scalehook.loops.base import Loop, every
from scalehook.loops.clock import Clock, ManualClock, SystemClock
from scalehook.loops.leadership import (
    Leadership,
    LeaseHolder,
    LeaseLeadership,
    Leases,
    SoleLeadership,
)
from scalehook.loops.supervisor import LoopStatus, Supervisor

__all__ = [
    "Clock",
    "Leadership",
    "LeaseHolder",
    "LeaseLeadership",
    "Leases",
    "Loop",
    "LoopStatus",
    "ManualClock",
    "SoleLeadership",
    "Supervisor",
    "SystemClock",
    "every",
]
