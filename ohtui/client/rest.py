"""The few REST calls the client makes: fetch a range of events (gap repair) and list/create conversations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from ohtui.protocol import Event, ProtocolError, stored_event_from_dict

KEY_HEADER = "X-Session-API-Key"
PAGE = 100
"""Upstream's largest page (§3.3): ohtui asks no more, so gap repair works against either server."""


class RestError(RuntimeError):
    """A REST call failed; the message says which call and why, ``status`` the HTTP status if one came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RestClient:
    def __init__(self, base_url: str, key: str | None = None, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {KEY_HEADER: key} if key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(method, url, **kwargs) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    message = body.get("message") if isinstance(body, dict) else None
                    status = response.status
                    raise RestError(f"{method} {path}: HTTP {status} {message or ''}".strip(), status)
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise RestError(f"{method} {path}: {error or type(error).__name__}") from None

    async def events(self, conversation_id: str, start_id: int, end_id: int) -> list[Event]:
        """Every stored event with ``start_id <= id <= end_id``, page by page; read as history (an event that does
        not validate is kept whole, see ``stored_event_from_dict``)."""
        found: list[Event] = []
        next_id = start_id
        while next_id <= end_id:
            params = {"start_id": str(next_id), "end_id": str(end_id), "limit": str(PAGE)}
            body = await self._request("GET", f"/api/conversations/{conversation_id}/events", params=params)
            raw = body.get("events") if isinstance(body, dict) else None
            if not isinstance(raw, list):
                raise RestError("GET events: the answer has no 'events' list")
            try:
                page = [stored_event_from_dict(item) for item in raw]
            except ProtocolError as error:
                raise RestError(f"GET events: {error}") from None
            found.extend(page)
            ids = [event.id for event in page if event.id is not None]
            if not body.get("has_more") or not ids:
                break
            next_id = max(ids) + 1
        return found

    async def conversations(self) -> list[dict[str, Any]]:
        body = await self._request("GET", "/api/conversations")
        results = body.get("results") if isinstance(body, dict) else body
        return [item for item in results or [] if isinstance(item, dict)]

    async def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """The server's record of the conversation, None if it has none (ohtui answers 404, OpenHands V0 ``null``).

        Asked before connecting to an id the user typed: a socket connect to an unknown id creates it (§1.2 step 7).
        """
        try:
            body = await self._request("GET", f"/api/conversations/{quote(conversation_id, safe='')}")
        except RestError as error:
            if error.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    async def create_conversation(
        self, title: str | None = None, agent: str | None = None, conversation_id: str | None = None
    ) -> str:
        """A new conversation; ``agent`` picks its agent on ohtui servers (others ignore the key). ``conversation_id``
        asks for that id (a conflict is a RestError with status 409); the answer's id is the one to use."""
        given = (("title", title), ("agent", agent), ("conversation_id", conversation_id))
        request = {key: value for key, value in given if value}
        body = await self._request("POST", "/api/conversations", json=request)
        conversation_id = body.get("conversation_id") if isinstance(body, dict) else None
        if not isinstance(conversation_id, str):
            raise RestError("POST /api/conversations: no conversation_id in the answer")
        return conversation_id

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
