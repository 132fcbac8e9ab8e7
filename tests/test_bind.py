"""How an attempt reads a Python step's parameters (body.parameters): from the code object for a plain
function, exactly as `inspect.signature` gives them, for any parameter list."""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from transpile.runtime import body

NAMES = st.lists(st.sampled_from([f"p{i}" for i in range(8)]), unique=True, max_size=8)


@st.composite
def parameter_lists(draw: st.DrawFn) -> str:
    """The text of a parameter list: positional-only, positional, *args, keyword-only, **kwargs, defaults."""
    names = draw(NAMES)
    cut = sorted(draw(st.lists(st.integers(0, len(names)), min_size=2, max_size=2)))
    posonly, positional, kwonly = names[: cut[0]], names[cut[0] : cut[1]], names[cut[1] :]
    ordered = posonly + positional
    first_default = draw(st.integers(0, len(ordered)))
    parts = [f"{n}=1" if i >= first_default else n for i, n in enumerate(ordered)]
    if posonly:
        parts.insert(len(posonly), "/")
    star = draw(st.booleans())
    if star or kwonly:
        parts.append("*args" if star else "*")
    parts += [f"{n}=2" if draw(st.booleans()) else n for n in kwonly]
    if draw(st.booleans()):
        parts.append("**kw")
    return ", ".join(parts)


def _function(params: str):
    namespace: dict = {}
    exec(f"def f({params}):\n    return None\n", namespace)  # noqa: S102 - test-made source
    return namespace["f"]


@given(parameter_lists())
def test_a_plain_function_reads_as_inspect_reads_it(params: str) -> None:
    function = _function(params)
    assert body.parameters(function) == body._inspected(function), params


def test_wrapped_partial_and_callable_objects_go_through_inspect() -> None:
    def inner(a, b=1, **rest):
        return a

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)

    class Callable:
        def __call__(self, x, *, y):
            return x

    inner_parameters = [("a", "named", False), ("b", "named", True), ("rest", "**", False)]
    assert body.parameters(wrapper) == inner_parameters
    assert body.parameters(functools.partial(inner, b=2)) == inner_parameters
    assert body.parameters(Callable()) == [("x", "named", False), ("y", "named", False)]
