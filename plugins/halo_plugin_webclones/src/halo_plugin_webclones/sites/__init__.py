"""The three web clones.  ``make_site(name)`` returns a fresh site object."""

from __future__ import annotations

from ..server import BaseSite


def make_site(name: str) -> BaseSite:
    if name == "shop":
        from .shop import ShopSite

        return ShopSite()
    if name == "mail":
        from .mail import MailSite

        return MailSite()
    if name == "calendar":
        from .calendar_site import CalendarSite

        return CalendarSite()
    raise ValueError(f"unknown site {name!r}")


__all__ = ["make_site"]
