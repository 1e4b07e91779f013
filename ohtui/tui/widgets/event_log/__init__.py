"""The event log, split the way Textual splits ``TextArea`` from its ``document/``: a pure model and its views.

* ``rows.py``: what is kept per event (a few envelope fields, no model, no text); ``event_rows.py``: how each kind
  of event reads (labels, summaries, marks, bodies, and what its envelope says about its row);
* ``model.py``: the transcript (rows, grouping by cause, orphans, dedupe, the filter); ``heights.py``: the
  geometry and the height index; ``search.py``: matching and the sliced scan; ``loading.py``: models read through
  the loader into a bounded cache. None of these imports Textual.
* ``render.py``, ``cells.py``, ``paint.py``, ``styles.py``: drawing rows; ``view.py``: the widget.
"""

from ohtui.tui.widgets.event_log.loading import Loader
from ohtui.tui.widgets.event_log.view import BURST_EVENTS, BURST_REPAINT
from ohtui.tui.widgets.event_log.widget import EventLog

__all__ = ["BURST_EVENTS", "BURST_REPAINT", "EventLog", "Loader"]
