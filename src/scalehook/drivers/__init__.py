"""Drivers: what a receiver does when its URL is POSTed. One module per driver."""

from __future__ import annotations

from typing import Any

from scalehook.drivers.base import Driver, HookCall, Outcome
from scalehook.drivers.scale_host import ScaleHostDriver
from scalehook.drivers.scale_service import ScaleServiceDriver
from scalehook.drivers.upgrade_service import ServiceUpgradeDriver
from scalehook.errors import InvalidRequest

DRIVERS: dict[str, Driver[Any]] = {
    driver.name: driver
    for driver in (ScaleServiceDriver(), ServiceUpgradeDriver(), ScaleHostDriver())
}


def driver_for(name: str) -> Driver[Any]:
    try:
        return DRIVERS[name]
    except KeyError:  # from None: the KeyError only repeats the name this message gives
        known = ", ".join(sorted(DRIVERS))
        raise InvalidRequest(
            f"driver: {name!r} is not known; use one of {known}", field="driver"
        ) from None


__all__ = ["DRIVERS", "Driver", "HookCall", "Outcome", "driver_for"]
