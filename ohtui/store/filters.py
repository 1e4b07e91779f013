"""``EventFilter`` with upstream's exact semantics (OPENHANDS_V0.md §3.3), and the part of it SQL can check first.

:meth:`EventFilter.include` is the definition. :func:`sql_conditions` only narrows the rows read: every row it keeps
may still be refused by ``include``, and it never drops a row ``include`` would keep, so pushing work into SQL cannot
change a result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ohtui.protocol import ACTION_TYPES, OBSERVATION_TYPES, Event, InvalidEvent, OpaqueEvent, event_to_dict


@dataclass(frozen=True)
class EventFilter:
    """Which events a search yields. Empty values (``None``, ``""``, ``()``) do not filter, exactly as upstream."""

    exclude_hidden: bool = False
    query: str | None = None  # case-insensitive substring of json.dumps(event_to_dict(event))
    include_types: tuple[type[Event], ...] | None = None  # isinstance
    exclude_types: tuple[type[Event], ...] | None = None  # isinstance
    source: str | None = None  # compared to event.source.value
    start_date: str | None = None  # string comparison with the ISO timestamp, inclusive
    end_date: str | None = None

    def __post_init__(self) -> None:
        # isinstance wants a tuple; accept any iterable of classes (or one class) the way people write them.
        for name in ("include_types", "exclude_types"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, (value,) if isinstance(value, type) else tuple(value))

    def include(self, event: Event) -> bool:
        if self.include_types and not isinstance(event, self.include_types):
            return False
        if self.exclude_types is not None and (
            isinstance(event, self.exclude_types) or _kept_as(event, self.exclude_types)
        ):
            return False
        if self.source and (event.source is None or event.source.value != self.source):
            return False
        if self.start_date and event.timestamp is not None and event.timestamp < self.start_date:
            return False
        if self.end_date and event.timestamp is not None and event.timestamp > self.end_date:
            return False
        if self.exclude_hidden and getattr(event, "hidden", False):
            return False
        return not (self.query and self.query.lower() not in json.dumps(event_to_dict(event)).lower())

    def exclude(self, event: Event) -> bool:
        return not self.include(event)


def _kept_as(event: Event, classes: tuple[type[Event], ...]) -> bool:
    """Whether ``event`` was kept whole (:class:`InvalidEvent`) under the type name of one of ``classes``: excluding a
    type excludes its events that did not validate too, as the SQL condition on the ``kind`` column does."""
    if not isinstance(event, InvalidEvent):
        return False
    kind = event.kind
    cls = ACTION_TYPES.get(kind) if event.is_action else OBSERVATION_TYPES.get(kind)
    return cls is not None and issubclass(cls, classes)


_KNOWN: list[tuple[bool, str, type[Event]]] = [(True, kind, cls) for kind, cls in ACTION_TYPES.items()]
_KNOWN += [(False, kind, cls) for kind, cls in OBSERVATION_TYPES.items()]


def row_types(classes: tuple[type[Event], ...]) -> frozenset[tuple[bool, str]]:
    """The ``(is_action, kind)`` column values of stored known events that are instances of ``classes``."""
    return frozenset((is_action, kind) for is_action, kind, cls in _KNOWN if issubclass(cls, classes))


def _kinds_clause(pairs: frozenset[tuple[bool, str]]) -> tuple[str, list[Any]]:
    """SQL true for rows whose (is_action, kind) is one of ``pairs``."""
    parts: list[str] = []
    params: list[Any] = []
    for is_action in (1, 0):
        kinds = sorted(kind for flag, kind in pairs if flag == is_action)
        if kinds:
            parts.append(f"(is_action = {is_action} AND kind IN ({', '.join('?' * len(kinds))}))")
            params += kinds
    return ("(" + " OR ".join(parts) + ")" if parts else "0"), params


def _may_include_opaque(classes: tuple[type[Event], ...]) -> bool:
    """Whether kept-whole events (opaque or invalid, whose ``kind`` column names no class of theirs) may pass."""
    return any(issubclass(OpaqueEvent, cls) or issubclass(cls, OpaqueEvent) for cls in classes)


def sql_conditions(flt: EventFilter) -> tuple[list[str], list[Any]]:
    """WHERE conditions (ANDed) over the events table's copied columns; ``query`` is left to Python."""
    conditions: list[str] = []
    params: list[Any] = []
    if flt.include_types and not _may_include_opaque(flt.include_types):
        clause, values = _kinds_clause(row_types(flt.include_types))
        conditions.append(clause)
        params += values
    if flt.exclude_types:
        excluded = row_types(flt.exclude_types)
        if excluded:
            clause, values = _kinds_clause(excluded)
            conditions.append(f"NOT {clause}")
            params += values
    if flt.source:
        conditions.append("source = ?")
        params.append(str(flt.source))
    if flt.start_date:
        conditions.append("(timestamp IS NULL OR timestamp >= ?)")
        params.append(flt.start_date)
    if flt.end_date:
        conditions.append("(timestamp IS NULL OR timestamp <= ?)")
        params.append(flt.end_date)
    if flt.exclude_hidden:
        conditions.append("hidden = 0")
    return conditions, params
