"""The Python SDK is checked as strictly as YAML, every error at the user's .py line, through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, run_cli
from transpile.compiler import compile_pipeline


def compile_py(tmp_path, body: str):
    """`transpile compile flow.py` of a file starting with the imports (line 1-3) and `body` (from line 4)."""
    path = tmp_path / "flow.py"
    path.write_text("import datetime, sys\nfrom transpile import Flow\n\n" + textwrap.dedent(body))
    return run_cli("compile", "flow.py", cwd=tmp_path)


def refused(result, line: int, *messages: str, count: int = 1) -> None:
    assert result.returncode == 2, result.stderr
    assert f"flow.py:{line}:" in result.stderr, result.stderr
    for message in messages:
        assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith(f"{count} error{'s' if count > 1 else ''} found"), result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("datetime.date(2026, 1, 1)", "parameters.x: a date is not a JSON value"),
        ("datetime.datetime(2026, 1, 1, 3, 0)", "parameters.x: a datetime is not a JSON value"),
        ("{'a', 'b'}", "parameters.x: a set is not a JSON value"),
        ("float('nan')", "parameters.x: nan is not a JSON value"),
        ("float('inf')", "parameters.x: inf is not a JSON value"),
        ("[1, {'deep': -float('inf')}]", "parameters.x[1].deep: -inf is not a JSON value"),
        ("{1: 'one'}", "parameters.x: the key 1 is not a string"),
        ("object()", "parameters.x: an object is not a JSON value"),
        ("b'raw'", "parameters.x: bytes is not a JSON value"),
    ],
)
def test_parameter_values_must_be_json(tmp_path, value, message):
    result = compile_py(
        tmp_path, f"flow = Flow('p', parameters={{'x': {value}}}, defaults={{'image': 'i'}})\nflow.stub('a')\n"
    )
    refused(result, 4, message)


def test_a_date_gets_a_hint_with_its_text(tmp_path):
    result = compile_py(
        tmp_path,
        "flow = Flow('p', parameters={'day': datetime.date(2026, 1, 2)}, defaults={'image': 'i'})\nflow.stub('a')\n",
    )
    refused(result, 4, "help: write it as a string, e.g. '2026-01-02'")


def test_settings_values_must_be_json(tmp_path):
    result = compile_py(
        tmp_path,
        """\
        flow = Flow('p', defaults={'image': 'i'})
        flow.python('a', 'm:f', env={'WHEN': datetime.date(2026, 1, 1)})
        """,
    )
    refused(result, 5, "error in step 'a': env.WHEN: a date is not a JSON value")


def test_a_function_defined_in_the_pipeline_file_is_refused(tmp_path):
    result = compile_py(
        tmp_path,
        """\
        def hello():
            return 1


        flow = Flow('p', defaults={'image': 'i'})
        flow.python('a', hello)
        """,
    )
    refused(result, 9, "function 'hello' is defined in the pipeline file itself", "into an importable module")


@pytest.mark.parametrize("target", ["lambda: 1", "make()"])
def test_lambdas_and_nested_functions_are_refused(tmp_path, target):
    result = compile_py(
        tmp_path,
        f"""\
        def make():
            def inner():
                return 1
            return inner
        flow = Flow('p', defaults={{'image': 'i'}})
        flow.python('a', {target})
        """,
    )
    refused(result, 9, "is a nested function or a lambda, which pods cannot import")


@pytest.mark.parametrize("call", ["sys.exit(0)", "sys.exit(3)", "sys.exit('bye')", "raise SystemExit"])
def test_system_exit_at_import_is_an_error(tmp_path, call):
    result = compile_py(tmp_path, f"flow = Flow('p', defaults={{'image': 'i'}})\n{call}\n")
    refused(result, 5, "the pipeline file called sys.exit(", 'if __name__ == "__main__"')


def test_returns_given_as_one_string_is_one_name(tmp_path):
    body = """\
        flow = Flow('p', defaults={'image': 'i'})
        a = flow.python('a', 'm:f', returns='rows')
        b = flow.shell('b', 'echo', needs=a, returns=('x', 'y'), catalog={'get': 'in.csv', 'put': ['o.csv']})
        flow.stub('c', needs='b')
        """
    assert compile_py(tmp_path, body).returncode == 0
    steps = compile_pipeline(str(tmp_path / "flow.py")).pipeline.steps
    assert steps["a"].returns == ("rows",)
    assert (steps["b"].needs, steps["b"].returns) == (("a",), ("x", "y"))
    assert (steps["b"].catalog.get, steps["b"].catalog.put) == (("in.csv",), ("o.csv",))
    assert steps["c"].needs == ("b",)


def test_a_misspelt_setting_gets_the_right_suggestion(tmp_path):
    result = compile_py(tmp_path, "flow = Flow('p', defaults={'image': 'i'})\nflow.python('a', 'm:f', retry=2)\n")
    refused(result, 5, "unexpected keyword argument 'retry'", "did you mean 'retries'?")


def test_every_sdk_error_at_once(tmp_path):
    result = compile_py(
        tmp_path,
        """\
        def hello():
            return 1
        flow = Flow('p', parameters={'d': datetime.date(2026, 1, 1)}, defaults={'image': 'i'})
        flow.python('a', hello)
        flow.python('a', 'm:f')
        """,
    )
    refused(result, 6, "a date is not a JSON value", count=3)
    assert "flow.py:7:" in result.stderr and "declared twice" in result.stderr and "flow.py:8:" in result.stderr


SCRIPT = """\
import transpile
from transpile import Flow


def hello():
    return 1


flow = Flow("p", defaults={"image": "i"})
flow.python("a", hello)
try:
    flow.compile("argo")
except transpile.CompileError as exc:
    print(str(exc))
"""


def test_a_function_of_the_running_script_is_refused(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert "function 'hello' is defined in the script being run (__main__)" in result.stdout
    assert "script.py:10:" in result.stdout


# ---- issue 21: every SDK mistake at once, each at its line, in plain words ----


def test_several_sdk_mistakes_and_format_errors_are_reported_together(tmp_path):
    """Misspelt keywords no longer stop the import at the first one, and what the builder refused is
    reported with the format's errors (a bad retries value) in one report."""
    result = compile_py(
        tmp_path,
        """\
        flow = Flow('p', defaults={'image': 'i'}, shedule='@daily')
        flow.python('a', 'm:f', retry=2)
        flow.shell('b', 'echo', needz=['a'], retries='many')
        """,
    )
    refused(result, 4, "unexpected keyword argument 'shedule'", "did you mean 'schedule'?", count=4)
    assert "unexpected keyword argument 'retry'" in result.stderr and "flow.py:5:" in result.stderr
    assert "unexpected keyword argument 'needz'" in result.stderr and "did you mean 'needs'?" in result.stderr
    assert "retries: expected a retry count" in result.stderr and "flow.py:6:" in result.stderr


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ("3", "needs: an int (3) is not a step or a list of steps"),
        ("[a, 3]", "needs: an int (3) is not a step"),
        ("flow", "needs: the Flow itself is not a step or a list of steps"),
        ("[len]", "needs: the function len is not a step"),
    ],
)
def test_needs_misuse_is_blamed_on_the_call_not_a_type_error(tmp_path, needs, message):
    result = compile_py(
        tmp_path, f"flow = Flow('p', defaults={{'image': 'i'}})\na = flow.stub('a')\nflow.stub('b', needs={needs})\n"
    )
    refused(result, 6, message, "give a step's handle")
    assert "TypeError" not in result.stderr and "importing the pipeline module failed" not in result.stderr


def test_a_bound_method_or_a_callable_object_is_not_a_step_function(tmp_path):
    (tmp_path / "steps_mod.py").write_text(
        "import functools\n\nclass Loader:\n    def load(self):\n        return 1\n\n"
        "    @classmethod\n    def build(cls):\n        return 2\n\n"
        "loader = Loader()\npartial = functools.partial(print, 1)\n"
    )
    result = compile_py(
        tmp_path,
        """\
        from steps_mod import Loader, loader, partial
        flow = Flow('p', defaults={'image': 'i'})
        flow.python('a', loader.load)
        flow.python('b', partial)
        flow.python('c', Loader.build)
        """,
    )
    refused(result, 6, "'Loader.load' is a method bound to an instance", count=2)
    assert "flow.py:7:" in result.stderr and "a partial" in result.stderr and "is not a function" in result.stderr
    assert "Loader.build" not in result.stderr  # a classmethod keeps its class: pods can call it


def test_a_misspelt_attribute_gets_a_suggestion_and_two_flows_are_named_with_their_lines(tmp_path):
    (tmp_path / "flows.py").write_text(
        "from transpile import Flow\n\n"
        "etl = Flow('etl', defaults={'image': 'i'})\netl.stub('a')\n\n"
        "nightly = Flow('nightly', defaults={'image': 'i'})\nnightly.stub('a')\n"
    )
    both = run_cli("check", "flows.py", cwd=tmp_path)
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert "flows.py defines 2 Flows: 'etl' (line 3), 'nightly' (line 6)" in both.stderr
    assert "flows.py:6:" in both.stderr and "name one: flows.py:etl" in both.stderr
    typo = run_cli("check", "flows.py:etll", cwd=tmp_path)
    assert typo.returncode == 2 and "'etll' in flows.py is not defined" in typo.stderr
    assert "did you mean 'etl'?" in typo.stderr
    assert run_cli("check", "flows.py:nightly", cwd=tmp_path).returncode == 0


def test_a_pipeline_in_a_subdirectory_imports_the_project_package_from_the_working_directory(tmp_path):
    """`transpile check pipelines/flow.py` from the project root imports the project's own package, as
    `transpile run` gives step code the working directory."""
    (tmp_path / "reportlib").mkdir()
    (tmp_path / "reportlib" / "__init__.py").write_text("")
    (tmp_path / "reportlib" / "steps.py").write_text("def build():\n    return 1\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flow.py").write_text(
        "from transpile import Flow\nfrom reportlib import steps\n\n"
        "flow = Flow('report', defaults={'image': 'i'})\nflow.python('build', steps.build, returns='n')\n"
    )
    result = run_cli("check", "pipelines/flow.py", cwd=tmp_path, env={"PYTHONSAFEPATH": "1"})
    assert result.returncode == 0, result.stderr
    run = run_cli("run", "pipelines/flow.py", "--store", "store", cwd=tmp_path, env={"PYTHONSAFEPATH": "1"})
    assert run.returncode == 0, run.stderr


def test_deep_parameter_values_are_refused_not_a_crash(tmp_path):
    result = compile_py(
        tmp_path,
        """\
        deep = [1]
        for _ in range(5000):
            deep = [deep]
        flow = Flow('p', parameters={'deep': deep}, defaults={'image': 'i'})
        flow.stub('a')
        """,
    )
    refused(result, 7, "lists and dicts nest more than 100 levels deep")
