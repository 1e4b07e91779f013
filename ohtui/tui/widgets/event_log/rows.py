"""What the log keeps per event: a few fields of its envelope and some counts, never its model or its text.

An :class:`Entry` is one event; a :class:`Row` is a top-level cell (an event plus the observations it caused, which
are entries of their own). Both are made from an :class:`~ohtui.protocol.record.EventRecord` without parsing it:
the row's form, whether it is noise and whether it hosts observations follow from the envelope's kind, source and
``hidden`` flag. Body line counts are exact when the record came with its model and estimated from the text
otherwise; the view makes them exact when the row is first shown (:func:`count_exactly`).
"""

from __future__ import annotations

from sys import intern

from ohtui.protocol import Event, EventSource, OpaqueEvent
from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log.event_rows import (
    RowKind,
    Traits,
    child_blocks,
    count_lines,
    head_blocks,
    kind_traits,
    traits,
)

ID_STEP = 1024
"""Row keys are ``id * ID_STEP + n``: events without an id sort after the highest id seen when they arrived."""

# Entry.flags
ACTS = 1
"""Its envelope names an action."""
EXACT = 2
"""``lines`` (and a row's ``size``) were counted from the model, not estimated from the text."""
KEPT_WHOLE = 4
"""Its model turned out to be kept whole (unknown or invalid): search reads it, never the prefilter alone."""
# Row.flags
NOISE = 8
HOST = 16
EXPANDED = 32
SHOWN = 64


class Entry:
    """One event: its key, kind (interned), source, ``HH:MM:SS``, body lines, flags. About 100 bytes."""

    __slots__ = ("clock", "flags", "key", "kind", "lines", "source")

    def __init__(self, key: int, kind: str, source: EventSource | None, clock: str, flags: int) -> None:
        self.key = key
        self.kind = kind
        self.source = source
        self.clock = clock
        self.flags = flags
        self.lines = 0

    @property
    def id(self) -> int | None:
        return self.key // ID_STEP if self.key % ID_STEP == 0 else None

    @property
    def acts(self) -> bool:
        return bool(self.flags & ACTS)


class Row(Entry):
    """A top-level cell: an entry plus the observations grouped under it. ``height`` is exact or an estimate;
    ``version`` changes whenever what it renders does; ``measured`` is the width a wrapped row was measured at."""

    __slots__ = ("children", "form", "height", "measured", "size", "version")

    def __init__(self, key: int, kind: str, source: EventSource | None, clock: str, flags: int, form: RowKind) -> None:
        super().__init__(key, kind, source, clock, flags)
        self.form = form
        self.children: list[Entry] | None = None
        self.height = 1
        self.measured = -1
        self.size = 0
        self.version = 0

    @property
    def expanded(self) -> bool:
        return bool(self.flags & EXPANDED)

    @property
    def shown(self) -> bool:
        """Whether the filter passes it (it is in the view)."""
        return bool(self.flags & SHOWN)

    @property
    def wraps(self) -> bool:
        return self.form is RowKind.PROSE or bool(self.flags & EXPANDED)

    @property
    def exact(self) -> bool:
        """Whether every entry's line count (and the size) came from a model."""
        return bool(self.flags & EXACT) and all(child.flags & EXACT for child in self.children or ())

    @property
    def body(self) -> int:
        """Body lines under the header (a cell's), counting the children's."""
        children = self.children
        return self.lines + sum(child.lines for child in children) if children else self.lines

    def entries(self) -> list[Entry]:
        return [self, *self.children] if self.children else [self]


def row_key(row: Entry) -> int:
    return row.key


def clock_of(timestamp: str | None) -> str:
    """``HH:MM:SS`` straight from the wire timestamp, interned (a conversation has few distinct seconds)."""
    if timestamp and len(timestamp) >= 19 and timestamp[10] in "T ":
        return intern(timestamp[11:19])
    return "--:--:--"


def kind_of(record: EventRecord, kind: str, acts: bool) -> tuple[Traits, bool]:
    """The traits of the record's row and whether it is noise, from its model if it came with one (an invalid
    model is kept whole), else from its envelope alone (``kind``, ``acts``: read from it already)."""
    model = record.parsed
    found = traits(model) if model is not None else kind_traits(kind, acts)
    if found.noise:
        return found, True
    if found.env_noise and record.source is EventSource.ENVIRONMENT:
        return found, True
    if found.hideable:
        return found, model.hidden if model is not None else record.details.hidden
    return found, False


def make_entry(record: EventRecord, key: int, kind: str, acts: bool, form: RowKind | None) -> Entry:
    """The entry of ``record``: a :class:`Row` of ``form``, or a child entry when ``form`` is None."""
    flags = ACTS if acts else 0
    source, clock, model = record.source, clock_of(record.timestamp), record.parsed
    entry = Entry(key, kind, source, clock, flags) if form is None else Row(key, kind, source, clock, flags, form)
    if model is not None:
        count_exactly(entry, model, as_child=form is None)
    elif record.text is None:  # from the store's columns alone: measured when it comes on screen
        entry.lines = 0 if flags else 1
    else:
        text = record.text
        newlines = text.count("\\n")
        if isinstance(entry, Row) and form is RowKind.PROSE:  # the text is there twice: content, message
            entry.lines, entry.size = newlines // 2, max(len(text) - 160, 0) // 2
        else:
            entry.lines = newlines if flags else max(newlines, 1)  # an output's last line ends with one
    return entry


def count_exactly(entry: Entry, model: Event, as_child: bool) -> None:
    """Body lines (and a chat message's size) from the model."""
    if isinstance(model, OpaqueEvent):
        entry.flags |= KEPT_WHOLE
    if isinstance(entry, Row) and entry.form is RowKind.PROSE:
        content = _content(model).strip("\n")
        entry.size, entry.lines = len(content), content.count("\n")
    else:
        entry.lines = count_lines(child_blocks(model) if as_child else head_blocks(model))
    entry.flags |= EXACT


def _content(model: Event) -> str:
    args = model.field_values.get("args")
    content = getattr(args, "content", "") if args is not None else ""
    return content if isinstance(content, str) else ""


def as_child(entry: Entry) -> Entry:
    """A row's entry moved under the action that caused it (an orphan adopted): its lines count as a child's,
    estimated until the row is shown again."""
    child = Entry(entry.key, entry.kind, entry.source, entry.clock, entry.flags & (ACTS | KEPT_WHOLE))
    child.lines = entry.lines
    return child


class SeenIds:
    """The event ids held: a bitmap for the dense ids a store assigns, a set for any far beyond them."""

    DENSE = 1 << 27

    def __init__(self) -> None:
        self._bits = bytearray()
        self._sparse: set[int] = set()

    def add(self, event_id: int) -> bool:
        """Remember ``event_id``; False if it was already held."""
        if not 0 <= event_id < self.DENSE:
            if event_id in self._sparse:
                return False
            self._sparse.add(event_id)
            return True
        byte, bit = event_id >> 3, 1 << (event_id & 7)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        if bits[byte] & bit:
            return False
        bits[byte] |= bit
        return True

    def clear(self) -> None:
        self._bits = bytearray()
        self._sparse.clear()
