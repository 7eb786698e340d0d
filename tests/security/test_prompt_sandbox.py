"""Prompt templates run only in the sandbox: known template-injection payloads never reach Python internals.

Each payload is tried twice: through the save-time check (`check_template`), and rendered directly as if it
had been stored without that check, so the sandbox itself is what is tested the second time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentic.errors import InvalidInput
from agentic.prompts import (
    MAX_OUTPUT_CHARS,
    TemplateInvalid,
    TemplateRenderFailed,
    TemplateUnsafe,
    check_template,
    render_prompt,
)

CANARY = Path("/tmp/agentic-sandbox-canary")  # noqa: S108  # a payload that escaped would create it

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ x.__init__.__globals__ }}",
    "{{ x['__class__'] }}",
    "{{ x | attr('__class__') }}",
    "{{ x | attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ()|attr('__class__')|attr('__base__') }}",
    "{{ namespace.__init__.__globals__['os'].system('touch " + str(CANARY) + "') }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ range.__globals__ }}",
    "{{ '%s'.__mod__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set f = x.__class__ %}{{ f }}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'os' import system %}",
    "{{ config }}{{ request }}{{ environment }}",
]
# Harmless-looking when saved; the sandbox refuses them while rendering.
RUNTIME_ONLY = [
    "{{ dict.mro() }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__init__.__globals__}'.format(namespace) }}",
    "{{ x | attr(['__cla', 'ss__'] | join) }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_when_saved(payload: str) -> None:
    with pytest.raises((TemplateUnsafe, TemplateInvalid)):
        check_template(payload, declared=["x"], loc=["body", "prompt_template"])


@pytest.mark.parametrize("payload", PAYLOADS + RUNTIME_ONLY)
def test_payload_fails_in_the_sandbox_even_unchecked(payload: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        render_prompt({"prompt_template": payload}, {"x": "value"})
    assert raised.value.status_code == 422
    assert not CANARY.exists()


@pytest.mark.parametrize(
    "template",
    [
        "{{ x * 1000000 }}",
        "{{ [x] * 1000000 }}",
        "{{ x.ljust(1000000000) }}",
        "{{ x | center(1000000000) }}",
        "{{ x | indent(1000000000) }}",
        "{{ 9 ** 9999999 }}",
        "{% set ns = namespace(n=99) %}{% for i in range(100) %}{% set ns.n = ns.n ** 99 %}{% endfor %}",
        "{% set ns = namespace(n=99) %}{% for i in range(100) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%*d' % (999999999, 1) }}",
        "{{ '{:{w}}'.format(1, w=999999999) }}",
        "{{ range(100000000) | list }}",
        "{% set ns = namespace(s=x) %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s=[x]) %}{% for i in range(200) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set ns = namespace(s=x) %}{% for i in range(200) %}{% set ns.s = [ns.s, ns.s]|join %}"
        "{% endfor %}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
        "{% for a in range(1000) %}{{ x * 100 }}{% endfor %}"
        "{% for a in range(1000) %}{{ x * 100 }}{% endfor %}",
    ],
)
def test_resource_bombs_stop_quickly(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateUnsafe):
        render_prompt({"prompt_template": template}, {"x": "value"})
    assert time.monotonic() - started < 3


def test_output_cap_counts_the_whole_prompt() -> None:
    big = "{% for i in range(10000) %}" + "y" * 30 + "{% endfor %}"
    with pytest.raises(TemplateUnsafe, match=str(MAX_OUTPUT_CHARS)):
        render_prompt({"prompt_template": big}, {})


def test_ordinary_templates_render() -> None:
    rendered = render_prompt(
        {
            "system_prompt": "You are {{ persona | default('helpful') }}.",
            "prompt_template": "{% for item in items %}{{ loop.index }}. {{ item | title }}\n{% endfor %}"
            "{% set ns = namespace(total=0) %}"
            "{% for n in numbers %}{% set ns.total = ns.total + n %}{% endfor %}"
            "Total: {{ ns.total }}; {{ '%05.1f' | format(3.14159) }}; {{ '{:>6}'.format('ok') }}; "
            "{{ data | tojson }}; {{ (x ~ '-') * 3 }}",
            "input_schema": {"type": "object", "properties": {}},
        },
        {"items": ["apple", "pear"], "numbers": [1, 2, 3], "data": {"k": [1, 2]}, "x": "ab"},
    )
    assert rendered.system_prompt == "You are helpful."
    assert rendered.messages[1]["content"] == (
        '1. Apple\n2. Pear\nTotal: 6; 003.1;     ok; {"k": [1, 2]}; ab-ab-ab-'
    )


def test_undefined_variable_names_the_input_field() -> None:
    with pytest.raises(TemplateRenderFailed) as raised:
        render_prompt({"prompt_template": "Hi {{ name }}"}, {})
    assert raised.value.details[0]["loc"] == ["body", "input", "name"]
