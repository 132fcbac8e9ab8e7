"""The Python API: transpile.run / load_run / list_runs / compile, Run and NodeRun, RunFailed, CompileError."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import transpile
from tests.conftest import REPO, run_cli
from transpile import Flow

STEPS = """
import os, time


def count(shards):
    return len(shards)


def upper(shard):
    return shard.upper()


def boom(n):
    raise ValueError(f"no good at {n}")


def flaky(marker):
    if not os.path.exists(marker):
        raise RuntimeError("marker missing")
    return "ok"


def cell(x):
    return x + 1


def double(x):
    return 2 * x


def again(y):
    return 2 * y


def nap():
    time.sleep(60)
"""


def double(x: int) -> int:
    """A step function in this test module: the run's processes import it as tests.test_api:double."""
    return 2 * x


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A directory with a steps module on sys.path, and a run store."""
    (tmp_path / "apisteps.py").write_text(STEPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_run_returns_values_and_nodes(project):
    pipeline = write(
        project / "ok.yaml",
        """\
        name: api-ok
        parameters: {shards: [a, b, c], label: x}
        steps:
          count: {python: apisteps:count, returns: [n]}
          each:
            needs: [count]
            map:
              over: shards
              as: shard
              steps: {up: {python: apisteps:upper, returns: [upper]}}
        """,
    )
    run = transpile.run(pipeline, {"shards": ["a", "b"]}, store=project / "store", parallelism=2)
    assert isinstance(run, transpile.Run)
    assert (run.status, run.ok) == ("succeeded", True)
    assert run.raise_for_status() is run
    assert run.values == {"shards": ["a", "b"], "label": "x", "n": 2, "upper": ["A", "B"]}
    assert set(run.nodes) == {"count", "each", "each@0/up", "each@1/up"}
    up = run.nodes["each@1/up"]
    assert (up.status, up.attempts, up.inputs, up.returns, up.error) == (
        "succeeded",
        1,
        {"shard": "b"},
        {"upper": "B"},
        None,
    )
    assert up.stdout is not None and up.stdout.is_file() and up.stderr is not None and up.stderr.is_file()
    assert up.seconds >= 0 and run.nodes["each"].items == 2
    assert run.run_id.startswith("api-ok-")

    again = transpile.load_run(run.run_id, store=project / "store")
    assert (again.status, again.values, list(again.nodes)) == (run.status, run.values, list(run.nodes))
    assert [r.run_id for r in transpile.list_runs(project / "store")] == [run.run_id]


def test_failure_and_raise_for_status(project):
    pipeline = write(
        project / "fail.yaml",
        """\
        name: api-fail
        parameters: {shards: [a]}
        steps:
          count: {python: apisteps:count, returns: [n]}
          boom: {python: apisteps:boom, needs: [count]}
          after: {python: apisteps:count, needs: [boom]}
        """,
    )
    run = transpile.run(pipeline, store=project / "store", run_id="failing-1", parallelism=1)
    assert (run.run_id, run.status, run.ok) == ("failing-1", "failed", False)
    assert run.values == {"shards": ["a"], "n": 1}
    assert run.nodes["boom"].status == "failed" and "ValueError: no good at 1" in run.nodes["boom"].error
    assert "after" not in run.nodes
    with pytest.raises(transpile.RunFailed) as caught:
        run.raise_for_status()
    assert [node.key for node in caught.value.failed] == ["boom"]
    assert caught.value.run is run
    message = str(caught.value)
    assert "run failing-1 failed" in message and "boom: ValueError: no good at 1" in message


def test_resume_through_the_api(project):
    marker = project / "marker"
    pipeline = write(
        project / "resume.yaml",
        f"""\
        name: api-resume
        parameters: {{shards: [a, b], marker: "{marker}"}}
        steps:
          count: {{python: apisteps:count, returns: [n]}}
          flaky: {{python: apisteps:flaky, needs: [count], returns: [state]}}
        """,
    )
    store = project / "store"
    first = transpile.run(pipeline, store=store, parallelism=1)
    assert first.status == "failed" and "marker missing" in first.nodes["flaky"].error
    marker.write_text("")
    second = transpile.run(pipeline, store=store, resume=first.run_id)
    assert (second.run_id, second.status) == (first.run_id, "succeeded")
    assert second.nodes["count"].attempts == 1  # reused, not rerun
    assert second.nodes["flaky"].attempts == 2
    assert second.values["state"] == "ok" and second.values["n"] == 2
    with pytest.raises(transpile.CompileError, match="no run 'nope'"):
        transpile.run(pipeline, store=store, resume="nope")


def test_values_of_nested_maps(project):
    pipeline = write(
        project / "nested.yaml",
        """\
        name: api-nested
        parameters: {rows: [[1, 2], [3], []]}
        steps:
          outer:
            map:
              over: rows
              as: row
              steps:
                inner:
                  map:
                    over: row
                    as: x
                    steps: {plus: {python: apisteps:cell, returns: [y]}}
        """,
    )
    run = transpile.run(pipeline, store=project / "store", parallelism=2).raise_for_status()
    assert run.values["y"] == [[2, 3], [4], []]
    assert run.nodes["outer@0/inner@1/plus"].returns == {"y": 3}
    assert transpile.load_run(run.run_id, store=project / "store").values["y"] == [[2, 3], [4], []]


def test_a_flow_object_runs(project):
    flow = Flow("api-flow", parameters={"x": 21})
    first = flow.python("twice", double, returns="y")  # a function of this test module, one return name
    flow.python("again", "apisteps:again", needs=first, returns="z")  # needs= one step
    store = project / "store"
    run = flow.run(store=store, parallelism=1)
    assert run.raise_for_status().values == {"x": 21, "y": 42, "z": 84}
    assert run.nodes["twice"].inputs == {"x": 21}
    other = transpile.run(flow, {"x": 1}, store=store)
    assert other.values["z"] == 4
    # Both runs used the one pipeline file the Flow was written to, so the same plan (and hash).
    assert run.pipeline_file == other.pipeline_file and Path(run.pipeline_file).is_file()
    assert transpile.load_run(run.run_id, store=store).values == run.values


def test_flow_errors_stay_at_the_python_line(project):
    flow = Flow("api-bad", parameters={"when": float("nan")})
    line = sys._getframe().f_lineno - 1
    flow.python("a", "apisteps:double", needs=["missing"])
    with pytest.raises(transpile.CompileError) as caught:
        flow.run(store=project / "store")
    spans = [d.span for d in caught.value.diagnostics]
    assert spans[0] is not None and (Path(spans[0].file).name, spans[0].line) == ("test_api.py", line)
    assert "parameters.when: nan is not a JSON value" in str(caught.value)
    assert not (project / "store").exists()  # nothing ran, nothing written


def test_parameters_must_be_json(project):
    pipeline = write(project / "p.yaml", "name: p\nparameters: {x: 1}\nsteps: {a: {python: apisteps:double}}\n")
    with pytest.raises(transpile.CompileError, match="parameter 'x'"):
        transpile.run(pipeline, {"x": {1, 2}}, store=project / "store")
    with pytest.raises(transpile.CompileError, match="unknown parameter"):
        transpile.run(pipeline, {"y": 1}, store=project / "store")


def test_compile_gives_the_cli_files_and_report(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    files = transpile.compile("samples/etl.py", "argo")
    assert list(files) == ["etl-daily.yaml"]
    assert files["etl-daily.yaml"] == run_cli("compile", "samples/etl.py").stdout
    from transpile.frontends.python_loader import load_flow

    flow, _ = load_flow("samples/etl.py")
    assert flow.compile("argo") == files  # a Flow object: the same files, loaded by pods from the same file
    assert list(transpile.compile("samples/etl.yaml", "prefect", {"image": "x:1"})) != []

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\nsteps:\n  a: {python: m:f, retry: 2}\n  b: {needs: [zz], shell: echo}\n")
    with pytest.raises(transpile.CompileError) as caught:
        transpile.compile(str(bad))
    assert len(caught.value.diagnostics) >= 2
    assert isinstance(caught.value, transpile.TranspileError)
    cli = run_cli("compile", str(bad))
    assert cli.returncode == 2 and cli.stderr == str(caught.value) + "\n"
    with pytest.raises(transpile.CompileError, match="unknown target"):
        transpile.compile("samples/etl.yaml", "argoo")


def test_load_run_of_an_unknown_id(tmp_path):
    with pytest.raises(transpile.RunNotFound, match="no run 'nope'"):
        transpile.load_run("nope", store=tmp_path)
    assert transpile.list_runs(tmp_path) == []


SCRIPT = """\
import transpile
from transpile import Flow

flow = Flow("script-flow", parameters={"x": 2})
flow.python("double", "apisteps:double", returns="y")
run = flow.run(store="store", parallelism=1)  # at the top of a script, with no __main__ guard
print("flow", run.status, run.values["y"])
failed = transpile.run("fail.yaml", store="store", parallelism=1)
try:
    failed.raise_for_status()
except transpile.RunFailed as exc:
    print("failed", [node.key for node in exc.failed])
for call in (
    lambda: transpile.run("missing.yaml", store="store"),
    lambda: transpile.run("exits.py", store="store"),
    lambda: transpile.compile("fail.yaml", "nope"),
):
    try:
        call()
    except transpile.CompileError as exc:
        print("refused", len(exc.diagnostics))
try:
    transpile.load_run("nope", store="store")
except transpile.RunNotFound:
    print("not found")
print("alive")
"""


def test_no_api_call_prints_a_traceback_or_exits(project):
    write(project / "fail.yaml", "name: f\nparameters: {n: 1}\nsteps: {boom: {python: apisteps:boom}}\n")
    write(project / "exits.py", "import sys\nsys.exit(0)\n")
    script = write(project / "script.py", SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, script], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "flow succeeded 4",
        "failed ['boom']",
        "refused 1",
        "refused 1",
        "refused 1",
        "not found",
        "alive",
    ]
    assert result.stderr == ""  # no traceback, no progress: nothing printed


def test_progress_prints_the_runner_output(project, capfd):
    write(project / "one.yaml", "name: one\nparameters: {x: 1}\nsteps: {d: {python: apisteps:double, returns: [y]}}\n")
    run = transpile.run(str(project / "one.yaml"), store=project / "store", progress=True, parallelism=1)
    assert run.ok
    assert f"run {run.run_id} succeeded" in capfd.readouterr().err


INTERRUPT = """\
import transpile
run = transpile.run("sleepy.yaml", store="store", parallelism=1)
print(run.status, run.ok, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_ends_the_run_interrupted(project):
    write(project / "sleepy.yaml", "name: sleepy\nsteps: {nap: {python: apisteps:nap}}\n")
    script = write(project / "interrupt.py", INTERRUPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, script],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal or a notebook: pytest-xdist's workers ignore SIGINT, and a child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list((project / "store").glob("runs/*/nodes/nap/attempt.1")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert time.monotonic() < deadline, "the step never started"
    process.send_signal(signal.SIGINT)  # only to the caller, as a notebook's interrupt does
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.strip() == "interrupted False"
    assert "Traceback" not in err


def test_import_transpile_is_light():
    code = (
        "import sys, transpile; print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'yaml', 'jinja2'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_api_is_typed():
    pytest.importorskip("mypy", reason="mypy is in the test extras (pip install -e '.[test]')")
    assert (REPO / "transpile" / "py.typed").is_file()
    files = ["transpile/api.py", "transpile/api_child.py", "transpile/results.py", "transpile/__init__.py"]
    files += ["transpile/frontends/python.py", "transpile/frontends/plain.py"]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_sees_the_api_types(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extras (pip install -e '.[test]')")
    user = tmp_path / "user.py"
    user.write_text(
        "import transpile\n"
        "run = transpile.run('p.yaml')\n"
        "reveal_type(run.values)\n"
        "count: int = run.nodes['a'].attempts\n"
        "wrong: str = transpile.compile('p.yaml')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(user)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(REPO)},
    )
    assert re.search(r'Revealed type is "(builtins\.)?dict\[(builtins\.)?str, Any\]"', result.stdout), result.stdout
    assert "user.py:5: error: Incompatible types in assignment" in result.stdout
    assert "user.py:4" not in result.stdout


def test_store_default_follows_the_cli(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("TRANSPILE_STORE", str(project / "elsewhere"))
    write(project / "one.yaml", "name: one\nparameters: {x: 1}\nsteps: {d: {python: apisteps:double, returns: [y]}}\n")
    run = transpile.run("one.yaml", parallelism=1)
    assert run.store == project / "elsewhere" and run.values["y"] == 2
    assert [r.run_id for r in transpile.list_runs()] == [run.run_id]
    shutil.rmtree(project / "elsewhere")


# ---- issue 21: the README's pytest recipe works under bare `pytest`; values given must fit their types ----


def test_the_readme_pytest_recipe_passes_under_bare_pytest(tmp_path):
    """A project laid out as the README says (pipelines/, step packages at the root, tests/), with the
    README's test file and pyproject lines verbatim, passes under the bare `pytest` command, which does not
    put the project root on sys.path as `python -m pytest` does."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Testing pipelines with pytest") : readme.index("## Argo Workflows")]
    test_code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "tests").mkdir()
    shutil.copy(REPO / "samples" / "etl.yaml", project / "pipelines" / "etl.yaml")
    for package in ("etl", "ml"):
        shutil.copytree(REPO / "samples" / package, project / package)
    (project / "pyproject.toml").write_text(toml)
    (project / "tests" / "test_etl.py").write_text(test_code)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pytest"), "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"shards": "a,b"}, "parameter 'shards' must be a JSON list, got a string"),
        ({"date": 20260101}, "parameter 'date' must be a string, got an integer"),
        ({"shards": None}, "parameter 'shards' must be a JSON list, got null"),
        ({"shards": ["a", "\udc80"]}, "not valid Unicode"),
        ({"date": "a\x00b"}, "holds a NUL character"),
    ],
)
def test_api_values_must_have_the_declared_type(tmp_path, parameters, message):
    with pytest.raises(transpile.CompileError, match=re.escape(message)):
        transpile.run(REPO / "samples" / "etl.yaml", parameters, store=tmp_path / "store")
    assert not (tmp_path / "store" / "runs").exists()


@pytest.mark.parametrize("parallelism", [0, -1, 1.5, True])
def test_api_parallelism_must_be_a_positive_whole_number(tmp_path, parallelism):
    with pytest.raises(ValueError, match="parallelism must be a whole number of at least 1"):
        transpile.run(REPO / "samples" / "etl.yaml", store=tmp_path / "store", parallelism=parallelism)
