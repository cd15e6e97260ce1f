"""When the service may speak first: unsolicited messages wait for daytime."""

from __future__ import annotations

from datetime import datetime, time, timedelta

QUIET_END = time(9, 0)
QUIET_START = time(21, 0)


def next_daytime(moment: datetime) -> datetime:
    """Return `moment` if it is within 09:00-21:00 local time, else the next 09:00.

    `moment` must be aware and already in the service's zone: a guardian in Almaty is
    not to be woken by a notice at night, whatever the server's clock says.
    """
    if moment.tzinfo is None:
        raise ValueError("next_daytime needs an aware datetime")
    local = moment.time()
    if QUIET_END <= local < QUIET_START:
        return moment
    day = moment.date() if local < QUIET_END else moment.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_END, tzinfo=moment.tzinfo)
