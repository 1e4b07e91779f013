"""REST API (§3.3 mirror, plus conversation management). Errors are JSON with a status code and a message."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ohtui import __version__
from ohtui.agent.errors import IllegalAction
from ohtui.agent.registry import AGENTS
from ohtui.protocol import event_to_dict
from ohtui.protocol.intents import user_message
from ohtui.server.auth import KEY_HEADER, KEY_QUERY, key_matches
from ohtui.server.conversations import ConversationManager
from ohtui.server.intake import admit_action, parse_client_action
from ohtui.server.security import json_error
from ohtui.store import ConversationInfo, StoreError

log = logging.getLogger(__name__)

MAX_PAGE = 1000
"""Upstream caps a page at 100 events; ohtui accepts larger pages (a stock client never asks for them)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestApi:
    def __init__(self, manager: ConversationManager, *, key: str | None, max_payload: int) -> None:
        self._manager = manager
        self._key = key
        self._max_payload = max_payload

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/health", self.health),
            web.get("/api/conversations", self.list_conversations),
            web.post("/api/conversations", self.create_conversation),
            web.get("/api/conversations/{conversation_id}", self.get_conversation),
            web.delete("/api/conversations/{conversation_id}", self.delete_conversation),
            web.get("/api/conversations/{conversation_id}/events", self.get_events),
            web.post("/api/conversations/{conversation_id}/events", self.post_event),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Key check for every API route but health; JSON for every error, never an HTML page or a traceback."""
        if not request.path.startswith("/api/"):
            return await handler(request)  # Socket.IO's own route answers for itself
        if request.path != "/api/health":
            given = request.headers.get(KEY_HEADER) or request.query.get(KEY_QUERY)
            if not key_matches(self._key, given):
                return json_error(401, "invalid_session_api_key", f"a valid {KEY_HEADER} header is required")
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return json_error(error.status, error.reason.lower().replace(" ", "_"), error.text or error.reason)
        except StoreError as error:
            return json_error(503, "store_error", str(error))
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return json_error(500, "internal_error", "the server failed to handle this request; see its log")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": __version__})

    def _conversation_json(self, info: ConversationInfo, request: web.Request) -> dict[str, Any]:
        live = self._manager.get_live(info.conversation_id)
        status = live.last_status.id if live is not None and live.last_status is not None else None
        return {
            "conversation_id": info.conversation_id,
            "title": info.title,
            "created_at": info.created_at.isoformat(),
            "last_updated_at": info.updated_at.isoformat(),
            "status": "RUNNING" if live is not None else "STOPPED",
            "runtime_status": status if live is not None else None,
            "agent_state": self._manager.agent_state(info),
            "agent_name": info.agent_name,
            "event_count": info.event_count,
            "url": f"/api/conversations/{info.conversation_id}",
            "session_api_key": self._key,
            "conversation_version": "V0",
        }

    async def list_conversations(self, request: web.Request) -> web.Response:
        # Listing counts every conversation's events (a walk over all of them, about 35 ms per 100,000): in a thread,
        # so the sockets of live sessions are served meanwhile.
        infos = await asyncio.to_thread(self._manager.db.conversations.list)
        results = [self._conversation_json(info, request) for info in infos]
        return web.json_response({"results": results, "next_page_id": None})

    async def create_conversation(self, request: web.Request) -> web.Response:
        body = await self._json_body(request, required=False)
        if not isinstance(body, dict):
            return json_error(400, "bad_request", "the body must be a JSON object")
        conversation_id, title, message = body.get("conversation_id"), body.get("title"), body.get("initial_user_msg")
        agent = body.get("agent")  # an ohtui extension: which agent runs the new conversation
        fields = (
            ("conversation_id", conversation_id),
            ("title", title),
            ("initial_user_msg", message),
            ("agent", agent),
        )
        for name, value in fields:
            if value is not None and not isinstance(value, str):
                return json_error(400, "bad_request", f"{name} must be a string")
        if agent is not None and agent not in AGENTS:
            return json_error(400, "bad_request", f"unknown agent {agent!r}; known agents: {', '.join(sorted(AGENTS))}")
        try:
            info = self._manager.create(conversation_id or None, title=title, agent_name=agent)
        except ValueError as error:
            return json_error(409, "conflict", str(error))
        await self._manager.ensure_running(info.conversation_id)
        if message:
            action, problem = admit_action(user_message(message), self._max_payload)
            if action is None:
                return json_error(400, "bad_request", f"initial_user_msg: {problem}")
            await self._manager.submit(info.conversation_id, action)
        return web.json_response({"status": "ok", "conversation_id": info.conversation_id}, status=201)

    def _info_or_404(self, request: web.Request) -> ConversationInfo:
        """The conversation's metadata without its event count (which only :meth:`get_conversation` shows)."""
        conversation_id = request.match_info["conversation_id"]
        return _found(conversation_id, self._manager.info(conversation_id, count_events=False))

    async def get_conversation(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation_id"]
        info = _found(conversation_id, await asyncio.to_thread(self._manager.info, conversation_id))
        return web.json_response(self._conversation_json(info, request))

    async def delete_conversation(self, request: web.Request) -> web.Response:
        info = self._info_or_404(request)
        await self._manager.delete(info.conversation_id)
        return web.json_response({"success": True})

    async def get_events(self, request: web.Request) -> web.Response:
        info = self._info_or_404(request)
        start_id = _int_param(request, "start_id", 0)
        end_id = _int_param(request, "end_id", None)
        limit = _int_param(request, "limit", 20)
        if limit is None or not 0 <= limit <= MAX_PAGE:
            raise web.HTTPBadRequest(text=f"limit must be between 0 and {MAX_PAGE}")
        reverse = request.query.get("reverse", "false").lower() in ("1", "true", "yes")
        events = self._manager.db.events(info.conversation_id)
        page = [event_to_dict(e) for e in events.search(start_id or 0, end_id, reverse=reverse, limit=limit + 1)]
        return web.json_response({"events": page[:limit], "has_more": len(page) > limit}, dumps=_dumps)

    async def post_event(self, request: web.Request) -> web.Response:
        info = self._info_or_404(request)
        body = await self._json_body(request, required=True)
        action, problem = parse_client_action(body, self._max_payload)
        if action is None:
            return web.json_response({"error": True, "message": problem}, status=400)
        try:
            stored = await self._manager.submit(info.conversation_id, action)
        except IllegalAction as error:
            return web.json_response({"error": True, "message": str(error)}, status=409)
        return web.json_response({"success": True, "id": stored.id})

    async def _json_body(self, request: web.Request, *, required: bool) -> Any:
        if not request.can_read_body:
            if required:
                raise web.HTTPBadRequest(text="a JSON body is required")
            return {}
        try:
            return await request.json()
        except web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, UnicodeDecodeError) as error:
            raise web.HTTPBadRequest(text=f"the body is not valid JSON: {error}") from None


def _found(conversation_id: str, info: ConversationInfo | None) -> ConversationInfo:
    if info is None:
        raise web.HTTPNotFound(text=f"no conversation {conversation_id}")
    return info


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer, got {raw!r}") from None


def _dumps(value: Any) -> str:
    return json.dumps(value)
