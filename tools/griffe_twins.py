"""Griffe extension of the API reference: a sync twin shows its async twin's signature.

A sync entry point is written as a docstring-only function decorated with
``@blocking(twin)`` (module functions, `vsdk_analytics._sync.blocking`) or
``@_blocking_method(AsyncClient.method)`` (`vsdk_analytics.Client`'s methods), and
``Client.__init__`` with ``@_options_of(AsyncClient)`` (its parameters). At run
time it takes the twin's parameters; griffe reads source, not run time, so without this
extension the reference would show it with none. After the package is loaded, each
such function gets its twin's parameters and return annotation (``mkdocs.yml`` lists
this file under the handler's ``extensions``).
"""

from __future__ import annotations

from typing import Any

import griffe

_DECORATORS = frozenset({"blocking", "_blocking_method", "_options_of"})


class SyncTwins(griffe.Extension):
    """Copy each twin's parameters onto the sync function that runs it."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Fill in every decorated sync function of ``pkg``."""
        for function in _functions(pkg):
            twin = _twin(function)
            if twin is not None:
                function.parameters = twin.parameters
                function.returns = twin.returns


def _functions(obj: griffe.Object) -> list[griffe.Function]:
    found: list[griffe.Function] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Function):
            found.append(member)
        elif isinstance(member, (griffe.Module, griffe.Class)):
            found.extend(_functions(member))
    return found


def _twin(function: griffe.Function) -> griffe.Function | None:
    for decorator in function.decorators:
        call = decorator.value
        if not isinstance(call, griffe.ExprCall) or str(call.function) not in _DECORATORS:
            continue
        argument = call.arguments[0]
        path = argument.canonical_path if isinstance(argument, griffe.Expr) else str(argument)
        target = function.modules_collection.get_member(path)
        if target.is_alias:
            target = target.final_target
        if isinstance(target, griffe.Class):
            target = target.members["__init__"]
        if not isinstance(target, griffe.Function):
            raise TypeError(f"{function.path}: the twin {path} is not a function")
        return target
    return None
