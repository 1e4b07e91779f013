"""One widget per module; each is driven only by method calls and data, never by I/O of its own."""

from ohtui.tui.widgets.agent_state import AgentStatePanel
from ohtui.tui.widgets.chat_input import ChatInput
from ohtui.tui.widgets.connection_status import ConnectionStatusPanel
from ohtui.tui.widgets.event_log import EventLog

__all__ = ["AgentStatePanel", "ChatInput", "ConnectionStatusPanel", "EventLog"]
