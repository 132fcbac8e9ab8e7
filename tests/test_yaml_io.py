"""The YAML reader resolves scalars as YAML 1.2 does; the writer round-trips any string exactly."""

from __future__ import annotations

import random
import string

import pytest
import yaml

from transpile.backends.yaml_writer import dump_all
from transpile.frontends.yaml import load_yaml_document


def test_yaml_12_scalars_in_block_and_flow_style():
    data, _ = load_yaml_document(
        "a: 1\nb: {c: 2, d: 1.5, e: true, f: null}\ng: [3, 'x', \"4\"]\non: yes\nh: 2026-01-01\ni: 0x1f\n", "t.yaml"
    )
    assert data == {
        "a": 1,
        "b": {"c": 2, "d": 1.5, "e": True, "f": None},
        "g": [3, "x", "4"],
        "on": "yes",
        "h": "2026-01-01",
        "i": 31,
    }


def test_positions_are_kept():
    _, source = load_yaml_document("name: x\nsteps:\n  a:\n    python: m:f\n", "t.yaml")
    span = source.span(("steps", "a", "python"), key=True)
    assert (span.line, span.col) == (4, 5)


@pytest.mark.parametrize("seed", range(5))
def test_writer_round_trips_random_strings(seed):
    rng = random.Random(seed)
    alphabet = string.printable + "éü\u2028\x85\x00{}[]-#:'\"\\"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        if rng.random() < 0.3:
            text = rng.choice(["-", "--", "_", "/", "a ", "yes", "0", "{{"]) + text
        doc = {"k": text, "l": [text, {"m": text}], text or "empty": 1}
        out = dump_all([doc])
        assert yaml.load(out, Loader=yaml.CSafeLoader) == doc, (text, out)


def test_writer_output_is_block_style_with_literal_scripts():
    out = dump_all([{"a": {"b": [{"name": "x", "script": "echo 1\necho 2\n"}]}}], "# h\n")
    assert out == "# h\na:\n  b:\n    - name: x\n      script: |\n        echo 1\n        echo 2\n"


def test_explicit_tags_are_honoured():
    text = (
        "a: !!str 007\nb: !!int '12'\nc: !!float 1\nd: !!bool 'true'\ne: !!null ''\nf: !!str yes\n"
        "g: !!float .inf\n!!str 10: ten\nh: !!seq [1]\ni: !!map {j: 1}\n"
    )
    data, _ = load_yaml_document(text, "t.yaml")
    assert data == {
        "a": "007", "b": 12, "c": 1.0, "d": True, "e": None, "f": "yes", "g": float("inf"), "10": "ten",
        "h": [1], "i": {"j": 1},
    }  # fmt: skip
    assert isinstance(data["c"], float)


def test_unknown_tags_and_bad_tagged_values_are_located():
    from transpile.errors import TranspileError

    with pytest.raises(TranspileError) as caught:
        load_yaml_document("a: !!timestamp 2026-01-01\nb:\n  c: !!int 1.5\n", "t.yaml")
    found = [(d.message, d.span.line, d.span.col) for d in caught.value.diagnostics]
    assert found == [
        ("unsupported YAML tag '!!timestamp'", 1, 4),
        ("'1.5' is not a valid !!int value", 3, 6),
    ]


# ---- the writer, property-tested: any key (long, hostile) and any string round-trip through PyYAML ----

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from transpile.backends.yaml_writer import dump  # noqa: E402

_HOSTILE = [
    "", " ", "-", "- x", "? x", ": x", "a: b", "#", "a #b", "&a", "*a", "!tag", "%x", "@x", "`x", "|", ">", "'", '"',
    "{{workflow.name}}", "yes", "No", "~", "null", ".inf", "0x1F", "1e3", "0o17", "2026-01-01", "<<", "=",
    "\t", "\n", "\r\n", "\x00", "\x85", "\u2028", "\ufeff", "\ufffe", "\uffff", "é", "😀", "\\",
]  # fmt: skip
_texts = st.one_of(
    st.sampled_from(_HOSTILE),
    st.text(max_size=40),
    st.text(min_size=1000, max_size=3000),
    st.builds(
        lambda a, n, b: a * n + b,
        st.sampled_from(["k", "é", "\\n", '"', "😀"]),
        st.integers(1000, 1400),
        st.text(max_size=5),
    ),
)
_scalars = st.one_of(_texts, st.integers(-(2**63), 2**63), st.booleans(), st.none(), st.floats(allow_nan=False))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_texts, inner, max_size=3)),
    max_leaves=8,
)


def _loaders():
    loaders = [yaml.SafeLoader]
    if hasattr(yaml, "CSafeLoader"):
        loaders.append(yaml.CSafeLoader)
    return loaders


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.dictionaries(_texts, _values, min_size=1, max_size=4))
def test_writer_round_trips_any_keys_and_values(document):
    text = dump(document)
    text.encode("utf-8", errors="surrogatepass")
    for loader in _loaders():
        assert yaml.load(text, Loader=loader) == document


@pytest.mark.parametrize("length", [1000, 1001, 1024, 1025, 5000])
def test_long_keys_use_the_explicit_form(length):
    key = "k" * length
    document = {"a": {key: {"b": [key, {key: 1}]}}, key: None}
    text = dump(document)
    assert ("? " in text) == (length > 1000)
    for loader in _loaders():
        assert yaml.load(text, Loader=loader) == document
