"""Typed, namespaced per-episode state for plugins (pytest's ``Stash`` is the model).

A plugin makes a module-level key once and keeps its state under it::

    COUNTS = StashKey[dict]()

    @hookimpl
    def halo_episode_start(episode):
        episode.stash[COUNTS] = {"hits": 0}

Keys are objects, not strings, so two plugins can never collide, and a reader needs
the owner's key (its public API) to see the state.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

__all__ = ["Stash", "StashKey"]

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A key into a :class:`Stash`; its type parameter is the stored value's type."""

    __slots__ = ()


class Stash:
    """A mapping from :class:`StashKey` to values, one per episode."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast(T, self._data[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key: StashKey[T], default: T) -> T:
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default

    def __delitem__(self, key: StashKey[T]) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
