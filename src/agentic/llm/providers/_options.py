"""An agent's model options split into a wire format's named SDK arguments and extra body fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def split_options(
    options: Mapping[str, Any],
    *,
    sdk_params: frozenset[str],
    request_owned: frozenset[str],
    renamed: Mapping[str, str],
    adapt: Callable[[str, Any], Any] = lambda _name, value: value,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`(named SDK arguments, extra body fields)` of `options` for one wire format.

    Names of the other wire format are translated by `renamed` (agents switch providers, and a fallback chain
    mixes them), then `adapt` may reshape a value for its new name. Options the SDK names become its
    arguments; the rest go into the body as given, merged with an explicit `extra_body` option, so that a
    compatible server's own parameters reach it. Options the request decides (`request_owned`) and unset
    (`null`) ones are left out.
    """
    named: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in options.items():
        if value is None or key in request_owned:
            continue
        if key == "extra_body":
            if isinstance(value, dict):
                extra |= value
            continue
        name = renamed.get(key, key)
        (named if name in sdk_params else extra)[name] = adapt(name, value)
    return named, extra
