"""LLM-facing chat messages (§5): the models an agent builds its prompt from, with upstream's serializer rules.

A message serializes to a plain string ``content`` unless caching, vision or function calling asks for the list form
(and ``force_string_serializer`` does not forbid it).
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_serializer

_EPHEMERAL = {"type": "ephemeral"}


class _Content(BaseModel):
    model_config = ConfigDict(frozen=True)

    cache_prompt: bool = False


class TextContent(_Content):
    type: Literal["text"] = "text"
    text: str

    @model_serializer(mode="plain")
    def _dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "text": self.text}
        if self.cache_prompt:
            data["cache_control"] = dict(_EPHEMERAL)
        return data


class ImageContent(_Content):
    """One content item holding several images; it serializes to a list, one dict per image."""

    type: Literal["image_url"] = "image_url"
    image_urls: list[str]

    @model_serializer(mode="plain")
    def _dump(self) -> list[dict[str, Any]]:
        images: list[dict[str, Any]] = [{"type": self.type, "image_url": {"url": url}} for url in self.image_urls]
        if self.cache_prompt and images:
            images[-1]["cache_control"] = dict(_EPHEMERAL)
        return images


class ToolCallFunction(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str


class ToolCall(BaseModel):
    """An assistant tool call, as chat-completions APIs return it."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class Message(BaseModel):
    role: Literal["user", "system", "assistant", "tool"]
    content: list[TextContent | ImageContent] = Field(default_factory=list)
    cache_enabled: bool = False
    vision_enabled: bool = False
    function_calling_enabled: bool = False
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    force_string_serializer: bool = False

    @property
    def uses_list_form(self) -> bool:
        return not self.force_string_serializer and (
            self.cache_enabled or self.vision_enabled or self.function_calling_enabled
        )

    @model_serializer(mode="plain")
    def _dump(self) -> dict[str, Any]:
        data = self._list_form() if self.uses_list_form else self._string_form()
        if self.tool_calls is not None:
            data["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            if self.name is None:
                raise ValueError("a tool message needs the tool's name")
            data["tool_call_id"] = self.tool_call_id
            data["name"] = self.name
        return data

    def _string_form(self) -> dict[str, Any]:
        text = "\n".join(item.text for item in self.content if isinstance(item, TextContent))
        return {"content": text, "role": self.role}

    def _list_form(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        tool_caching = False
        for item in self.content:
            moves_cache_to_message = self.role == "tool" and item.cache_prompt
            tool_caching = tool_caching or moves_cache_to_message
            if isinstance(item, TextContent):
                dumped = [item.model_dump()]
            elif self.vision_enabled:
                dumped = cast("list[dict[str, Any]]", item.model_dump())
            else:
                continue
            for entry in dumped:
                if moves_cache_to_message:
                    entry.pop("cache_control", None)
                items.append(entry)
        data: dict[str, Any] = {"content": items, "role": self.role}
        if tool_caching:
            data["cache_control"] = dict(_EPHEMERAL)
        return data
