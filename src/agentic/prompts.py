"""Agent prompts: Jinja2 templates in the sandbox, declared input variables checked with JSON Schema.

An agent's `system_prompt` and `prompt_template` are Jinja2 templates written by members of the organisation
and filled with task input from (possibly other) members, so both sides are untrusted. They only ever run in
Jinja2's `SandboxedEnvironment`, which refuses access to internals (`''.__class__.__mro__`, `__globals__`, …),
with `StrictUndefined` so a missing variable is an error rather than an empty string.

The sandbox stops escapes, not resource exhaustion, so rendering adds budgets of its own: every string or
list a template builds is capped (`MAX_VALUE_CHARS`), loops have an iteration budget per render, the output is
capped, and a wall-clock deadline is checked at every guarded operation. Templates are checked when an agent
version is saved (`check_template`): syntax, no includes or imports, no `_`-prefixed names or attributes,
and only variables declared in the input schema.

`render_prompt` is the one rendering path: the preview endpoint uses it, and the agent loop should too, so a
preview shows exactly what a run sends.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing.exceptions import Unresolvable

from agentic.errors import InvalidInput

MAX_TEMPLATE_CHARS = 100_000
MAX_VALUE_CHARS = 100_000  # longest string (or list) a template may build
MAX_OUTPUT_CHARS = 200_000  # longest rendered prompt
MAX_ITERATIONS = 100_000  # loop iterations per render, all loops together
MAX_RANGE = 10_000  # items of one `range(...)`
RENDER_DEADLINE_S = 1.0
_MAX_INT_BITS = 100_000  # about 30,000 decimal digits

# Names the checked template is rewritten to call. A template cannot name them itself: `_`-prefixed names are
# refused by `check_template`.
_ITER_GUARD = "_agentic_iter"
_CONCAT_GUARD = "_agentic_concat"

# String methods and filters whose integer arguments size their result: checked before they allocate.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "batch", "slice"})
# A width or precision of 6+ digits in a format string, a `*` width, or a nested `{…}` field in a format
# spec: `'%0999999999d' % 1` or `'{:{w}}'.format(1, w=10**9)` would allocate before any size check.
_PERCENT_WIDTH = re.compile(r"%[^a-zA-Z%]*(?:\d{6,}|\*)")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*(?:\d{6,}|\{)")


class TemplateInvalid(InvalidInput):
    """A prompt template does not compile, or uses what it may not."""

    code = "template_invalid"


class TemplateUnsafe(InvalidInput):
    """A prompt template tried something the sandbox forbids (internals, or a resource budget)."""

    code = "template_unsafe"


class TemplateRenderFailed(InvalidInput):
    """A prompt template failed while rendering (e.g. an undefined variable or a type error)."""

    code = "template_render_failed"


@dataclass(slots=True)
class _Budget:
    deadline: float
    iterations: int = 0

    def tick(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > MAX_ITERATIONS:
            raise SecurityError(f"the template loops more than {MAX_ITERATIONS} times")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template took longer than {RENDER_DEADLINE_S:g}s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "agentic_prompt_budget", default=None
)


def _tick(count: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick(count)


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > MAX_VALUE_CHARS:
        raise SecurityError(f"the template built a value longer than {MAX_VALUE_CHARS} items or characters")
    return value


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_format_string(text: Any, percent: bool) -> None:
    if isinstance(text, str) and (_PERCENT_WIDTH if percent else _BRACE_WIDTH).search(text):
        raise SecurityError("format widths of 100000 or more, `*` widths and nested width fields are refused")


def _guarded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    # Every `for` loop of a checked template iterates through this: one shared budget bounds nested loops.
    for item in iterable:
        _tick()
        yield item


def _guarded_concat(*parts: Any) -> str:
    # `a ~ b`: sizes are checked before joining, so doubling a string in a loop stops at the cap.
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_VALUE_CHARS:
        raise SecurityError(f"the template built a string longer than {MAX_VALUE_CHARS} characters")
    _tick(0)
    return "".join(texts)


def _guarded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items")
    return numbers


def _make_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return _check_size(dict(*args, **kwargs))  # type: ignore[no-any-return]


def _make_namespace(*args: Any, **kwargs: Any) -> Namespace:
    return Namespace(*args, **kwargs)


def _join_guard(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> Any:
        items = list(value)
        if attribute is None:
            total = sum(len(str(item)) for item in items) + len(d) * max(len(items) - 1, 0)
            if total > MAX_VALUE_CHARS:
                raise SecurityError(f"the template built a string longer than {MAX_VALUE_CHARS} characters")
        return _check_size(original(eval_ctx, items, d, attribute))

    return join


def _filter_guard(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick(0)
        if name in _WIDTH_FILTERS:
            _check_int_args(args[1:], kwargs)
        if name == "format":
            # `format` applies `%`; its subject is the first positional argument (no context is passed).
            _check_format_string(args[0] if args else None, percent=True)
        return _check_size(original(*args, **kwargs))

    return guarded


def _check_int_args(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and abs(value) > MAX_VALUE_CHARS:
            raise SecurityError(f"a size argument above {MAX_VALUE_CHARS} is refused")


class PromptEnvironment(SandboxedEnvironment):
    """The sandbox, plus size and time budgets on the operations that can allocate or loop."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        # Only what prompts need: `lipsum`, `cycler` and `joiner` add surface for nothing, and `dict` and
        # `namespace` are functions rather than the classes themselves, so no class object (`dict.mro()`) is
        # reachable from a template.
        self.globals = {
            "range": _guarded_range,
            "dict": _make_dict,
            "namespace": _make_namespace,
            _ITER_GUARD: _guarded_iter,
            _CONCAT_GUARD: _guarded_concat,
        }
        self.filters = {
            name: _join_guard(fn) if name == "join" else _filter_guard(name, fn)
            for name, fn in self.filters.items()
        }

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `*`, `**`, `+` and `%` whose result would exceed the size caps, before computing it."""
        _tick(0)
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 100:
                raise SecurityError("exponents above 100 are refused")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > _MAX_INT_BITS:
                raise SecurityError("the template built a number that is too large")
        elif operator == "*":
            # Squaring in a loop doubles the digits every time.
            both_ints = isinstance(left, int) and isinstance(right, int)
            if both_ints and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise SecurityError("the template built a number that is too large")
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int) and size * times > MAX_VALUE_CHARS:
                    raise SecurityError(f"the template built a value longer than {MAX_VALUE_CHARS} items")
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if left_size is not None and right_size is not None and left_size + right_size > MAX_VALUE_CHARS:
                raise SecurityError(f"the template built a value longer than {MAX_VALUE_CHARS} items")
        elif operator == "%":
            _check_format_string(left, percent=True)
        return _check_size(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call from template code: size-limit string methods and results, and keep the deadline."""
        _tick(0)
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps `str.format` to check attributes
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            name = getattr(target, "__name__", "")
            if name in _WIDTH_METHODS:
                _check_int_args(args, kwargs)
            elif name in ("format", "format_map"):
                _check_format_string(owner, percent=False)
        return _check_size(super().call(context, obj, *args, **kwargs))


ENVIRONMENT = PromptEnvironment()


def _reason(exc: TemplateSyntaxError) -> str:
    return str(exc.message or "syntax error").rstrip(".")


def _error(loc: list[str | int], message: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "message": message, "type": type_}


def _refuse_unsafe_nodes(tree: nodes.Template, loc: list[str | int]) -> None:
    # Caught here, when the agent is saved, so the author hears about it at once rather than at run time;
    # the sandbox refuses the same things (and their dynamic spellings) while rendering.
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        raise TemplateInvalid(
            "Prompt templates cannot include, extend or import other templates.",
            details=[_error(loc, f"{type(node).__name__.lower()} is not allowed", "template_invalid")],
        )
    for name_node in tree.find_all(nodes.Name):
        if name_node.name.startswith("_"):
            raise TemplateUnsafe(
                "Names starting with '_' are reserved in prompt templates.",
                details=[_error(loc, f"name {name_node.name!r} is reserved", "template_unsafe")],
            )
    for attr in tree.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            raise _unsafe_attribute(loc, attr.attr)
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
            and item.arg.value.startswith("_")
        ):
            raise _unsafe_attribute(loc, item.arg.value)
    for flt in tree.find_all(nodes.Filter):
        if flt.name == "attr" and any(
            isinstance(arg, nodes.Const) and str(arg.value).startswith("_") for arg in flt.args
        ):
            raise _unsafe_attribute(loc, str(next(a.value for a in flt.args if isinstance(a, nodes.Const))))


def _unsafe_attribute(loc: list[str | int], name: str) -> TemplateUnsafe:
    return TemplateUnsafe(
        "Prompt templates cannot reach attributes that start with '_' (Python internals).",
        details=[_error(loc, f"access to {name!r} is not allowed", "template_unsafe")],
    )


class _Guard(NodeTransformer):
    """Routes every `for` loop through the budgeted iterator and every `~` through the size-checked join."""

    # Jinja's visitor dispatches on `visit_<NodeClass>`, hence the names.
    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802
        """`for x in <iter>` → `for x in _agentic_iter(<iter>)`."""
        loop = self.generic_visit(node)
        assert isinstance(loop, nodes.For)  # noqa: S101  # generic_visit returns the node it was given
        guard = nodes.Call(nodes.Name(_ITER_GUARD, "load"), [loop.iter], [], None, None)
        loop.iter = guard.set_lineno(loop.lineno)
        return loop

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        """`a ~ b` → `_agentic_concat(a, b)`."""
        concat = self.generic_visit(node)
        assert isinstance(concat, nodes.Concat)  # noqa: S101  # generic_visit returns the node it was given
        guard = nodes.Call(nodes.Name(_CONCAT_GUARD, "load"), list(concat.nodes), [], None, None)
        return guard.set_lineno(concat.lineno)


def _guarded_tree(source: str) -> nodes.Template:
    tree: nodes.Template = _Guard().visit(ENVIRONMENT.parse(source))
    tree.set_environment(ENVIRONMENT)  # the new nodes need it, like the parsed ones
    return tree


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    tree = _guarded_tree(source)
    code = ENVIRONMENT.compile(tree)
    return ENVIRONMENT.template_class.from_code(ENVIRONMENT, code, ENVIRONMENT.make_globals(None))


def check_template(source: str, *, declared: Iterable[str], loc: list[str | int]) -> None:
    """Check a template when it is saved: it compiles, uses nothing unsafe and only declared variables.

    Args:
        source: The template text.
        declared: The input variables it may use (`input_schema.properties`).
        loc: Where the template is in the request, for error details (e.g. `["body", "prompt_template"]`).

    Raises:
        TemplateInvalid: Syntax error, include/import, unknown filter, or an undeclared variable.
        TemplateUnsafe: A reserved name or an `_`-prefixed attribute.
    """
    try:
        tree = ENVIRONMENT.parse(source)
        _refuse_unsafe_nodes(tree, loc)
        undeclared = sorted(meta.find_undeclared_variables(tree) - set(declared))
        _compiled(source)
    except TemplateSyntaxError as exc:  # includes compile-time errors, e.g. an unknown filter
        raise TemplateInvalid(
            f"The template does not compile: {_reason(exc)} (line {exc.lineno}).",
            details=[_error(loc, f"line {exc.lineno}: {_reason(exc)}", "template_syntax")],
        ) from None
    if undeclared:
        names = ", ".join(undeclared)
        raise TemplateInvalid(
            f"The template uses undeclared variables: {names}. Declare them in `input_schema.properties`.",
            details=[_error(loc, f"undeclared variables: {names}", "template_undeclared_variable")],
        )


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def check_input_schema(schema: dict[str, Any], *, loc: list[str | int]) -> None:
    """Check that `schema` is a JSON Schema (draft 2020-12) of an object, with local references only.

    Raises:
        InvalidInput: Not a valid schema; the details' `loc` points inside it.
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = [*loc, *exc.path]
        raise InvalidInput(
            f"`input_schema` is not a valid JSON Schema at {'/'.join(map(str, exc.path)) or 'its root'}.",
            details=[_error(where, "not a valid JSON Schema (draft 2020-12)", "json_schema")],
        ) from None
    if schema.get("type") != "object":
        raise InvalidInput(
            '`input_schema` must describe an object: `{"type": "object", "properties": {…}}`.',
            details=[_error([*loc, "type"], 'must be "object"', "json_schema")],
        )
    # Remote references would make validation fetch URLs from the server (SSRF) or fail at run time, and a
    # dangling local one would fail every run: both are refused now.
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise InvalidInput(
                "`input_schema` may only use local references (`#/…`).",
                details=[_error(loc, f"reference {ref!r} is not local", "json_schema")],
            )
        if ref.startswith("#/") and not _resolves(schema, ref[2:]):
            raise InvalidInput(
                f"`input_schema` refers to {ref!r}, which it does not define.",
                details=[_error(loc, f"reference {ref!r} does not resolve", "json_schema")],
            )


def _resolves(document: Any, pointer: str) -> bool:
    for raw in pointer.split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return False
    return True


def declared_variables(input_schema: dict[str, Any] | None) -> list[str]:
    """The input variables a schema declares: the names of its top-level `properties`."""
    if not input_schema:
        return []
    properties = input_schema.get("properties") or {}
    return list(properties) if isinstance(properties, dict) else []


def _describe(error: ValidationError) -> tuple[list[str | int], str]:
    # Messages never echo the value: input may carry secrets, and the API does not reflect input in errors.
    path: list[str | int] = list(error.absolute_path)
    rule, expected = error.validator, error.validator_value
    instance = error.instance
    if rule == "required" and isinstance(instance, dict):
        missing = [name for name in list(expected) if name not in instance]  # type: ignore[arg-type]
        return [*path, *missing[:1]], "is required"
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = set((error.schema or {}).get("properties") or {}) if isinstance(error.schema, dict) else set()
        extra = sorted(set(instance) - known)
        return [*path, *extra[:1]], "is not a declared input"
    messages = {
        "type": f"must be of type {expected}",
        "enum": f"must be one of {expected}",
        "const": f"must be {expected!r}",
        "format": f"must be a valid {expected}",
        "minLength": f"must have at least {expected} characters",
        "maxLength": f"must have at most {expected} characters",
        "pattern": f"must match the pattern {expected!r}",
        "minimum": f"must be ≥ {expected}",
        "maximum": f"must be ≤ {expected}",
        "exclusiveMinimum": f"must be > {expected}",
        "exclusiveMaximum": f"must be < {expected}",
        "minItems": f"must have at least {expected} items",
        "maxItems": f"must have at most {expected} items",
    }
    return path, messages.get(str(rule), f"does not satisfy the schema's {rule!r} rule")


@functools.lru_cache(maxsize=1024)
def _validator(schema: str) -> Draft202012Validator:
    # Compiled once per schema and reused (validators are stateless): building one is most of the cost of
    # validating a small input, and every task creation validates its input.
    return Draft202012Validator(json.loads(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_input(
    input_schema: dict[str, Any] | None, data: dict[str, Any], *, loc: list[str | int]
) -> None:
    """Validate task input against an agent's input schema (formats checked too).

    Raises:
        InvalidInput: The input does not match; one detail per problem, each naming the field.
    """
    if not input_schema:
        return
    validator = _validator(json.dumps(input_schema, sort_keys=True))
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    except Unresolvable as exc:  # a remote reference in a schema saved before they were refused
        raise InvalidInput("The agent's input schema cannot be used; fix it.") from exc
    if errors:
        details = []
        for error in errors[:20]:
            path, message = _describe(error)
            details.append(_error([*loc, *path], message, f"json_schema.{error.validator}"))
        fields = ", ".join(".".join(map(str, d["loc"][len(loc) :])) or "input" for d in details)
        raise InvalidInput(f"The input does not match the agent's input schema: {fields}.", details=details)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """What a run sends the model first: the system prompt and the opening messages."""

    system_prompt: str
    messages: list[dict[str, str]] = field(default_factory=list)


def _render_one(source: str, variables: dict[str, Any], name: str) -> str:
    try:
        template = _compiled(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(
            f"The {name} does not compile: {_reason(exc)} (line {exc.lineno}).",
            details=[_error([name], f"line {exc.lineno}: {_reason(exc)}", "template_syntax")],
        ) from None
    output: list[str] = []
    size = 0
    try:
        # Streamed so an oversized output stops as soon as it crosses the cap.
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError(f"the rendered {name} is longer than {MAX_OUTPUT_CHARS} characters")
            _tick(0)
            output.append(chunk)
    except SecurityError as exc:
        reason = str(exc).rstrip(".")
        raise TemplateUnsafe(
            f"The {name} was stopped by the sandbox: {reason}.",
            details=[_error([name], reason, "template_unsafe")],
        ) from None
    except UndefinedError as exc:
        reason = str(exc.message or "undefined value")
        missing = re.fullmatch(r"'([^']+)' is undefined", reason)
        if missing:
            raise TemplateRenderFailed(
                f"The {name} could not be rendered: {reason}. Give the variable a value, or guard it with "
                "`{% if … is defined %}`.",
                details=[_error(["body", "input", missing.group(1)], reason, "template_undefined")],
            ) from None
        raise TemplateRenderFailed(
            f"The {name} could not be rendered: {reason}.",
            details=[_error([name], reason, "template_undefined")],
        ) from None
    except (TemplateError, RecursionError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        # Template code is user code: its failures are the template's, reported as such, never a 500.
        raise TemplateRenderFailed(
            f"The {name} could not be rendered: {type(exc).__name__}: {exc}",
            details=[_error([name], f"{type(exc).__name__}: {exc}", "template_render_failed")],
        ) from None
    return "".join(output)


def default_user_message(task_input: dict[str, Any]) -> str:
    """The first user message without a `prompt_template`: `input.message`, else the input as JSON."""
    message = task_input.get("message")
    return message if isinstance(message, str) else json.dumps(task_input, sort_keys=True)


def render_prompt(config: dict[str, Any], task_input: dict[str, Any]) -> RenderedPrompt:
    """Validate `task_input` against the version's `input_schema` and render its templates.

    CPU-bound and budgeted (`RENDER_DEADLINE_S`): call it through `asyncio.to_thread` from async code.

    Args:
        config: An agent version's configuration.
        task_input: The task's input; its top-level keys are the template variables.

    Returns:
        The rendered system prompt and the opening messages (system first, then the user message).

    Raises:
        InvalidInput: The input does not match the schema (details name the fields).
        TemplateInvalid, TemplateUnsafe, TemplateRenderFailed: A template failed (always a 422, never a 500).
    """
    validate_input(config.get("input_schema"), task_input, loc=["body", "input"])
    token = _budget.set(_Budget(deadline=time.monotonic() + RENDER_DEADLINE_S))
    try:
        system_prompt = _render_one(str(config.get("system_prompt") or ""), task_input, "system_prompt")
        template = config.get("prompt_template")
        if template:
            user = _render_one(str(template), task_input, "prompt_template")
        else:
            user = default_user_message(task_input)
    finally:
        _budget.reset(token)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": user})
    return RenderedPrompt(system_prompt=system_prompt, messages=messages)
