"""Import aiogram without building every Telegram type and method at start-up.

aiogram describes Telegram's ~300 types and ~170 methods as pydantic models, and
pydantic builds a validator and a serializer for each when its class is created, unless
the model says `defer_build`. aiogram's types say it and then defeat it:
`aiogram/types/__init__.py` calls `model_rebuild()` on every type to hand it the names
its module imports only under `TYPE_CHECKING`. Its methods do not say it at all. So
the whole API is built at import whether the bot uses it or not: about 60 % of this
service's start-up time and ~100 MB of its memory (aiogram issues #1513 and #1891,
open upstream).

Here the types' loop only puts those names into each type's module, where pydantic
looks when it builds a model on first use, and the methods' base class gets
`defer_build`. This bot meets a few dozen types and methods; each is built once, the
first time it is used.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from pydantic import BaseModel

_TYPES_PACKAGE = "aiogram.types."
_METHODS_BASE = "aiogram.methods.base"


def import_aiogram_lazily() -> None:
    """Import `aiogram` so that its Telegram types and methods are built on first use.

    Safe whatever aiogram does: a type without `defer_build`, or any other call to
    `model_rebuild`, is built as aiogram asked; a renamed method base class is left as
    it is; if aiogram is already imported, this does nothing.
    """
    if "aiogram" in sys.modules:
        return
    original = vars(BaseModel)["model_rebuild"]
    eager = original.__func__

    def publish_names(
        cls: type[BaseModel], *, _types_namespace: dict[str, Any] | None = None, **kwargs: Any
    ) -> bool | None:
        deferred = cls.model_config.get("defer_build", False)
        if (
            _types_namespace is None
            or kwargs
            or not deferred
            or not cls.__module__.startswith(_TYPES_PACKAGE)
        ):
            return eager(cls, _types_namespace=_types_namespace, **kwargs)  # type: ignore[no-any-return]
        module_names = vars(sys.modules[cls.__module__])
        for name, value in _types_namespace.items():
            module_names.setdefault(name, value)
        return None

    finder = _DeferMethods()
    sys.meta_path.insert(0, finder)
    BaseModel.model_rebuild = classmethod(publish_names)  # type: ignore[method-assign,assignment,arg-type]
    try:
        import aiogram  # noqa: F401  (the import is the point)
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


class _DeferMethods(MetaPathFinder):
    """Give aiogram's method base class `defer_build` before any method subclasses it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != _METHODS_BASE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def load_then_defer(module: ModuleType) -> None:
            load(module)
            base = getattr(module, "TelegramMethod", None)
            if base is not None:
                base.model_config["defer_build"] = True

        spec.loader.exec_module = load_then_defer  # type: ignore[method-assign]
        return spec
