"""Properties of the step cache's key and mode text: the parameters read from a module's source are the
ones its function binds (checked against `inspect`), and every cache mode text survives its round trip
while any other text is a CacheModeError, never a crash."""

from __future__ import annotations

import inspect

from hypothesis import given
from hypothesis import strategies as st

from transpile.plan.cache_mode import CacheMode, CacheModeError
from transpile.runtime.cache_key import bound_parameters, document_key, value_digest

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=0, max_size=6, unique=True)
STEP_IDS = st.lists(st.from_regex(r"[a-z0-9_-]{1,6}(/[a-z0-9_-]{1,6}){0,2}", fullmatch=True), min_size=1, max_size=4)


@given(
    positional=NAMES,
    keyword=NAMES,
    defaults=st.integers(0, 6),
    star=st.booleans(),
    kwargs=st.booleans(),
    data=st.data(),
)
def test_bound_parameters_agree_with_the_functions_signature(positional, keyword, defaults, star, kwargs, data):
    keyword = [name for name in keyword if name not in positional]
    defaults = min(defaults, len(positional))
    kw_defaults = data.draw(st.lists(st.booleans(), min_size=len(keyword), max_size=len(keyword)))
    parts = [name if i < len(positional) - defaults else f"{name}=1" for i, name in enumerate(positional)]
    if star or keyword:
        parts.append("*args" if star else "*")
    parts += [f"{name}=2" if has else name for name, has in zip(keyword, kw_defaults, strict=True)]
    if kwargs:
        parts.append("**extra")
    source = f"import os\n\n\ndef step({', '.join(parts)}):\n    return None\n"
    found = bound_parameters(source.encode(), "step")
    if kwargs:
        assert found is None  # every visible value is then part of the key
        return
    namespace: dict = {}
    exec(compile(source, "<step>", "exec"), namespace)
    expected = [
        (p.name, p.default is not inspect.Parameter.empty)
        for p in inspect.signature(namespace["step"]).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert found == expected


def test_bound_parameters_refuse_what_only_running_would_tell():
    assert bound_parameters(b"def f(a):\n    pass\nf = g\n", "f") is None  # bound again
    assert bound_parameters(b"@wrap\ndef f(a):\n    pass\n", "f") is None  # decorated
    assert bound_parameters(b"def f(:\n", "f") is None  # does not parse
    assert bound_parameters(b"class C:\n    def m(self, a, b=1):\n        pass\n", "C.m") == [
        ("self", False),
        ("a", False),
        ("b", True),
    ]


@given(ids=STEP_IDS, enabled=st.booleans())
def test_cache_mode_text_round_trips(ids, enabled):
    mode = CacheMode.of(True, ids)
    assert CacheMode.parse(mode.text()) == mode
    assert CacheMode.parse(CacheMode.of(enabled).text()) == CacheMode.of(enabled)


@given(st.text(max_size=40))
def test_any_other_mode_text_is_a_clear_error(text):
    try:
        mode = CacheMode.parse(text)
    except CacheModeError as exc:
        assert repr(text) in str(exc) or "is not a step id" in str(exc)
        return
    assert mode.text() in ("on", "off") or mode.text().startswith("refresh=")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_digests_are_deterministic_and_see_every_change(value):
    assert value_digest(value) == value_digest(value)
    assert value_digest([value]) != value_digest([value, None])
    assert document_key({"inputs": value}) == document_key({"inputs": value})
    assert document_key({"inputs": value}) != document_key({"inputs": [value]})
