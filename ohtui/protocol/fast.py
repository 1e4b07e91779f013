"""Every reach into pydantic's internals, in one place: what the protocol's and the store's fast paths rely on.

Events are parsed, serialized, copied and read by the hundred thousand, and pydantic's public API costs Python frames
on each: ``model_validate``/``model_dump``/``model_dump_json`` wrap one pydantic-core call in a dozen keyword
arguments, ``model_copy`` goes through ``__copy__``, ``model_extra`` is a property, and ``getattr`` of a field a model
does not have falls through to ``BaseModel.__getattr__``, which raises. What is here does the same work with fewer
frames or none, because it knows how pydantic 2 lays a model out:

* a model's field values live in its instance ``__dict__``, and writing there sets a field with no validation and
  no frozen check (:attr:`FastModel.field_values`);
* ``BaseModel`` has the slots ``__pydantic_fields_set__``, ``__pydantic_extra__`` and ``__pydantic_private__``, whose
  descriptors read and write them, on a frozen model too (:attr:`FastModel.extra_values`, :data:`set_fields_set`,
  :data:`set_extra`, :func:`copy_with_values`);
* a class's ``__pydantic_validator__``/``__pydantic_serializer__`` are pydantic-core's SchemaValidator and
  SchemaSerializer (stand-ins that build the real ones on first use while the class's build is deferred), and a
  ``TypeAdapter``'s ``validator`` is its SchemaValidator;
* pydantic calls a model's ``__init__`` on every validation unless it carries ``__pydantic_base_init__``
  (:func:`python_only_init`);
* ``__pydantic_init_subclass__`` runs once a class's fields are known (:attr:`FastModel.shared_fields_set`).

No other module of ohtui touches these names: a pydantic release that changes one breaks this module alone, and
``tests/test_protocol_fast.py``, which checks each shortcut against the public call it replaces. Each has a public
equivalent, named in its docstring, that is slower but gives the same result: the way back if pydantic takes the
internal away. The pin in ``pyproject.toml`` names the versions the suite has run against.

Reads that run per event cost about what the attribute access they replace costs: :class:`FastModel` gives the slots'
descriptors plain names, so ``event.field_values`` is ``event.__dict__`` under another name, not a call, and the
validators and serializers are bound methods kept per class. :func:`copy_with_values` costs one Python call, about
1% of a stamped copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

_Model = TypeVar("_Model", bound=BaseModel)
_Init = TypeVar("_Init", bound=Callable[..., None])
_Bound = TypeVar("_Bound", bound=Callable[..., Any])

_SLOTS = BaseModel.__dict__  # the descriptors of BaseModel's ``__slots__``, by slot name

set_fields_set: Callable[[BaseModel, set[str]], None] = _SLOTS["__pydantic_fields_set__"].__set__
"""Give a model this set (itself, not a copy) as the names of its given fields. One C call: the model is frozen, and
``object.__setattr__`` would look the name up on every call. Public equivalent: none (``model_construct`` with
``_fields_set`` builds a new model)."""

set_extra: Callable[[BaseModel, dict[str, Any] | None], None] = _SLOTS["__pydantic_extra__"].__set__
"""Replace a model's unknown keys. Public equivalent: none (a ``model_copy`` of the model validated without them)."""

_new = object.__new__
_set_dict = _SLOTS["__dict__"].__set__
_set_private = _SLOTS["__pydantic_private__"].__set__


class FastModel(BaseModel):
    """The base of the protocol's models: plain names for what the fast paths read, and one fields set per class."""

    model_config = ConfigDict(defer_build=True)

    if TYPE_CHECKING:

        @property
        def field_values(self) -> dict[str, Any]:
            """The model's field values: its instance dict itself, not a copy. ``field_values.get(name)`` is a dict
            lookup where ``getattr(model, name, None)`` of a field the class does not have goes through pydantic's
            ``__getattr__`` and an exception. Writing into it sets a field unvalidated, frozen or not. Public
            equivalent: ``getattr``; ``model_copy(update=...)`` to write."""
            raise NotImplementedError

        @property
        def extra_values(self) -> dict[str, Any] | None:
            """The unknown keys validation kept (``extra="allow"``), or None: ``model_extra`` without the property's
            frame."""
            raise NotImplementedError

    else:
        # The slots' own descriptors under plain names: reading one costs what ``model.__dict__`` costs.
        field_values: ClassVar = _SLOTS["__dict__"]
        extra_values: ClassVar = _SLOTS["__pydantic_extra__"]

    shared_fields_set: ClassVar[set[str]] = set()
    """The names of every field of the class: one set that its parsed instances share (:data:`set_fields_set`)
    instead of one each, a third of a parsed event's memory. A class attribute, so that a parse finds it without a
    call; never mutated (pydantic copies a fields set before it adds to it, as ``model_copy`` does). Set by
    ``__pydantic_init_subclass__``, the hook pydantic calls once the class's fields are known (``__init_subclass__``
    runs before)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.shared_fields_set = set(cls.model_fields)


def copy_with_values(model: _Model, values: dict[str, Any], added_fields: frozenset[str] = frozenset()) -> _Model:
    """What ``model.model_copy(update=...)`` makes, without its generic work: a model of the same class whose field
    values are ``values`` (that dict itself, not validated), with ``model``'s unknown keys and private attributes,
    and its fields set plus ``added_fields`` (the updated names, as ``model_copy`` adds them)."""
    copy = _new(type(model))
    _set_dict(copy, values)
    fields_set = model.__pydantic_fields_set__
    set_fields_set(copy, fields_set if fields_set >= added_fields else fields_set | added_fields)
    set_extra(copy, model.__pydantic_extra__)
    _set_private(copy, model.__pydantic_private__)
    return copy


class _PerClass(dict[type[BaseModel], _Bound]):
    """One bound method of each model class's pydantic-core validator or serializer, looked up at the class's first
    use (when its deferred build happens): ``json_dumpers[type(event)](event)`` costs what
    ``event.__pydantic_serializer__.to_json(event)`` costs, where a function around it would add a Python call per
    event (2% of a serialization). ohtui never rebuilds a model class once it is used, which would leave the old
    method here."""

    def __init__(self, attribute: str, method: str) -> None:
        super().__init__()
        self._attribute = attribute
        self._method = method

    def __missing__(self, cls: type[BaseModel]) -> _Bound:
        bound: _Bound = getattr(getattr(cls, self._attribute), self._method)
        self[cls] = bound
        return bound


python_validators: _PerClass[Callable[[Any], Any]] = _PerClass("__pydantic_validator__", "validate_python")
"""``python_validators[cls](data)`` is ``cls.model_validate(data)`` without its Python wrapper: the class's own
validator, one call into pydantic-core. It bypasses an overridden ``model_validate`` (``Event.model_validate`` reads
flat input)."""

python_dumpers: _PerClass[Callable[..., dict[str, Any]]] = _PerClass("__pydantic_serializer__", "to_python")
"""``python_dumpers[type(m)](m, mode="json")`` is ``m.model_dump(mode="json")`` without its Python wrapper (a dozen
keyword arguments per call)."""

json_dumpers: _PerClass[Callable[[Any], bytes]] = _PerClass("__pydantic_serializer__", "to_json")
"""``json_dumpers[type(m)](m)`` is ``m.model_dump_json()`` as bytes, without its Python wrapper (or the decode)."""


def json_validator(adapter: TypeAdapter[Any]) -> Callable[[str | bytes], Any]:
    """``adapter.validate_json`` without its Python wrapper: the bound method of pydantic-core's validator."""
    validate: Callable[[str | bytes], Any] = adapter.validator.validate_json
    return validate


def python_only_init(init: _Init) -> _Init:
    """Mark an ``__init__`` that only construction from Python needs: pydantic would otherwise take it for a custom
    one and call it on every validation too (``__pydantic_base_init__``, as ``BaseModel.__init__`` carries). Public
    equivalent: a ``model_validator(mode="before")``, which runs on every parse."""
    init.__pydantic_base_init__ = True  # type: ignore[attr-defined]
    return init
