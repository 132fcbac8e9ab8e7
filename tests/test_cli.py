"""The compile command's options, the registry with a real installed plugin, and the wheel's data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, run_cli


def pip_install_target(source, target) -> None:
    """A real `pip install` of a project into a target directory (no network: setuptools is here)."""
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr


def test_output_to_directory_and_check(tmp_path):
    result = run_cli("compile", "samples/etl.yaml", "-o", str(tmp_path) + "/")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "etl-daily.yaml"
    assert written.is_file()
    check = run_cli("compile", "samples/etl.yaml", "-o", str(tmp_path), "--check")
    assert check.returncode == 0 and "up to date" in check.stderr
    written.write_text(written.read_text().replace('timeout: "1800s"', 'timeout: "60s"'))
    stale = run_cli("compile", "samples/etl.yaml", "-o", str(written), "--check")
    assert stale.returncode == 1
    assert '-      timeout: "60s"' in stale.stdout and '+      timeout: "1800s"' in stale.stdout
    assert "recompile" in stale.stderr


def test_check_on_missing_file(tmp_path):
    result = run_cli("compile", "samples/etl.yaml", "-o", str(tmp_path / "none.yaml"), "--check")
    assert result.returncode == 1 and "is missing" in result.stderr


def test_targets_lists_argo():
    result = run_cli("targets")
    assert result.returncode == 0 and result.stdout.startswith("argo\t")


def test_third_party_backend_plugin(tmp_path):
    """A tiny plugin, installed by pip into a target directory, is found through its entry point."""
    plugin = tmp_path / "plugin"
    (plugin / "tp_plugin").mkdir(parents=True)
    (plugin / "tp_plugin" / "__init__.py").write_text(
        textwrap.dedent(
            """\
            class CountBackend:
                name = "count"
                suffix = ".txt"

                def emit(self, plan, options):
                    return f"{plan.name}: {len(plan.nodes)} nodes\\n"
            """
        )
    )
    (plugin / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "tp-plugin"
            version = "0.1"
            [project.entry-points."transpile.backends"]
            count = "tp_plugin:CountBackend"
            """
        )
    )
    target = tmp_path / "site"
    pip_install_target(plugin, target)
    result = run_cli("compile", "samples/etl.yaml", "-t", "count", env={"PYTHONPATH": f"{REPO}:{target}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "etl-daily: 12 nodes\n"
    typo = run_cli("compile", "samples/etl.yaml", "-t", "cont", env={"PYTHONPATH": f"{REPO}:{target}"})
    assert typo.returncode == 2 and "did you mean 'count'?" in typo.stderr


def test_internal_errors_are_short_and_point_to_debug_switch(tmp_path):
    plugin = tmp_path / "bad_plugin.py"
    plugin.write_text(
        "class Broken:\n    name='broken'\n    suffix='.x'\n    def emit(self, *a):\n        raise ValueError('oops')\n"
    )
    dist = tmp_path / "bad_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[transpile.backends]\nbroken = bad_plugin:Broken\n")
    result = run_cli("compile", "samples/etl.yaml", "-t", "broken", env={"PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert result.returncode == 3
    assert "internal error: ValueError: oops" in result.stderr and "Traceback" not in result.stderr


def test_schema_command_writes_schemas(tmp_path):
    result = run_cli("schema", "-o", str(tmp_path))
    assert result.returncode == 0
    assert (tmp_path / "pipeline.schema.json").read_text() == (REPO / "schemas" / "pipeline.schema.json").read_text()


def test_wheel_ships_schemas_and_templates(tmp_path):
    """`pip install .` (a real wheel build) ships schemas/ and templates/, usable from another directory."""
    target = tmp_path / "site"
    pip_install_target(REPO, target)
    assert (target / "transpile" / "schemas" / "pipeline.schema.json").is_file()
    assert (target / "transpile" / "templates" / "airflow_dag.py.j2").is_file()
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from transpile.package_data import schemas_dir, templates_dir; print(schemas_dir(), templates_dir())",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == [str(target / "transpile" / "schemas"), str(target / "transpile" / "templates")]


# ---- file-system problems, pipes, standard input and `transpile check` (in-process where possible) ----

import os  # noqa: E402

from tests.support.inprocess import run_main  # noqa: E402

PLAIN = "name: p\nsteps:\n  a: {shell: echo hi}\n"


@pytest.mark.parametrize(
    "output, message",
    [
        ("afile/x.yaml", "cannot write afile/x.yaml: afile is a file, not a directory"),
        ("afile/deeper/x.yaml", "afile is a file, not a directory"),
        ("/proc/version", "cannot write /proc/version"),
        ("adir/", None),
    ],
)
def test_output_problems_are_one_line_errors(tmp_path, capsys, monkeypatch, output, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "etl-daily.yaml").mkdir()  # the file to write is a directory
    result = run_main(capsys, "compile", str(REPO / "samples" / "etl.yaml"), "-o", output)
    assert result.code == 2 and "Traceback" not in result.err and "internal error" not in result.err
    assert result.errors == 1
    assert (message or "it is a directory") in result.err


def test_run_store_that_is_a_file_is_a_one_line_error(tmp_path):
    store = tmp_path / "store"
    store.write_text("")
    result = run_cli("run", "samples/etl.yaml", "--store", str(store))
    assert result.returncode == 2 and "internal error" not in result.stderr and "Not a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["compile", "samples/etl.yaml"], ["targets"], ["graph", "samples/etl.yaml"]])
def test_a_closed_pipe_ends_quietly(args):
    """`transpile ... | head -1` once head has gone: no traceback, the status of a process ended by SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        result = subprocess.run(
            [sys.executable, "-m", "transpile", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == b""


def test_check_and_compile_read_standard_input(capsys):
    ok = run_main(capsys, "check", "-", stdin=PLAIN.encode())
    assert ok.code == 0 and ok.out == "" and "-: ok (1 step)" in ok.err
    bad = run_main(capsys, "check", "-", stdin=b"name: p\nsteps:\n  a: {shell: echo, retry: 1}\n")
    assert bad.code == 2 and "<stdin>:3:20" in bad.err and "a: {shell: echo, retry: 1}" in bad.err
    compiled = run_main(capsys, "compile", "-", stdin=(PLAIN + "defaults: {image: i}\n").encode())
    assert compiled.code == 2 and "pipeline_file" in compiled.err  # pods need the file's path in the image


def test_compile_from_standard_input_with_a_pipeline_file(tmp_path, capsys):
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text("image: img\npipeline_file: pipelines/p.yaml\n")
    result = run_main(capsys, "compile", "-", "-c", str(deploy), stdin=PLAIN.encode())
    assert result.code == 0, result.err
    assert "--pipeline" in result.out and "pipelines/p.yaml" in result.out


def test_check_needs_no_image_unless_a_target_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PLAIN)
    assert run_main(capsys, "check", "p.yaml").code == 0
    with_target = run_main(capsys, "check", "p.yaml", "-t", "argo")
    assert with_target.code == 2 and "no image for this step" in with_target.err
    assert with_target.lines == [3]
    assert sorted(os.listdir(tmp_path)) == ["p.yaml"]  # nothing written


def test_check_reports_what_the_target_cannot_express(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ndefaults: {image: i}\nschedule: '@every 1h'\nsteps:\n  a: {shell: echo}\n")
    assert run_main(capsys, "check", str(path), "-t", "argo").code == 0
    airflow = run_main(capsys, "check", str(path), "-t", "airflow")
    assert airflow.code == 2 and airflow.errors == 1 and "@every" in airflow.err


def test_check_takes_several_files_and_reports_each(tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(PLAIN)
    bad.write_text("name: p\nsteps: {}\n")
    result = run_main(capsys, "check", str(good), str(bad))
    assert result.code == 2
    assert "good.yaml: ok" in result.err and "steps: needs at least one step" in result.err


# ---- issue 21: help texts, argument checks, schema output, check --json, broken pipes ----


def _actions(parser, path=()):
    """(command path, action) for every argument and option of every command, sub-commands included."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), ("command", helps.get(name))
                yield from _actions(sub, (*path, name))
        else:
            yield path, (action.option_strings or action.dest, action.help)


def test_every_command_argument_and_option_has_a_help_text():
    import argparse

    from transpile.cli import build_parser
    from transpile.runtime.command import register

    node = argparse.ArgumentParser(prog="transpile")
    register(node.add_subparsers())
    missing = [
        (path, what)
        for parser in (build_parser(), node)
        for path, (what, text) in _actions(parser)
        if not text and what != ["--poll"]  # --poll is hidden on purpose (tests only)
    ]
    assert missing == []


def test_the_top_level_help_names_every_target():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "targets (-t): argo, airflow, prefect, slurm" in result.stdout
    for command in ("compile", "check", "run", "runs", "submit", "diff", "graph", "schema", "targets"):
        assert command in result.stdout


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_run_parallelism_must_be_a_positive_whole_number(value, tmp_path):
    store = tmp_path / "never-created"
    result = run_cli("run", "samples/etl.yaml", "--parallelism", value, "--store", str(store))
    assert result.returncode == 2 and "argument --parallelism" in result.stderr
    assert "Traceback" not in result.stderr and not store.exists()


def test_schema_goes_to_stdout_and_never_into_the_package(tmp_path):
    shipped = {p.name: p.stat().st_mtime_ns for p in (REPO / "schemas").iterdir()}
    to_stdout = run_cli("schema", "-o", "-", cwd=tmp_path)
    assert to_stdout.returncode == 0 and not (tmp_path / "-").exists()
    assert to_stdout.stdout.startswith("# ==> pipeline.schema.json <==\n")
    default = run_cli("schema", cwd=tmp_path)
    assert default.returncode == 0 and default.stdout == to_stdout.stdout and list(tmp_path.iterdir()) == []
    one = run_cli("schema", "deploy", cwd=tmp_path)
    assert json.loads(one.stdout) == json.loads((REPO / "schemas" / "deploy.schema.json").read_text())
    assert {p.name: p.stat().st_mtime_ns for p in (REPO / "schemas").iterdir()} == shipped
    (tmp_path / "file").write_text("x")
    blocked = run_cli("schema", "-o", str(tmp_path / "file"))
    assert blocked.returncode == 2 and "is a file, not a directory" in blocked.stderr


def test_check_json_for_scripts(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: p\nsteps:\n  a: {shell: x, retry: 2}\n  b: {shell: x, needs: [c]}\n")
    result = run_cli("check", "samples/etl.yaml", str(tmp_path / "bad.yaml"), "--json")
    assert result.returncode == 2 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["target"] is None
    good, bad = document["pipelines"]
    assert good == {"pipeline": "samples/etl.yaml", "ok": True, "steps": 13, "errors": []}
    assert bad["ok"] is False and [e["line"] for e in bad["errors"]] == [3, 4]
    assert bad["errors"][0]["hint"] == "did you mean 'retries'?" and bad["errors"][1]["step"] == "b"
    assert set(bad["errors"][0]) == {"message", "file", "line", "column", "step", "hint"}
    ok = run_cli("check", "samples/etl.yaml", "-t", "argo", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True


def test_a_reader_that_went_away_gives_141_and_an_output_the_pipe_took_gives_0(tmp_path):
    """The README's promise, as Unix pipes behave: a write that fails because the reader is gone (EPIPE)
    ends transpile quietly with 141; an output the pipe already took is not an error (`| head -1` on a
    small spec exits 0, like `cat`)."""
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read
    gone = subprocess.run(
        [sys.executable, "-m", "transpile", "compile", "samples/etl.yaml"],
        cwd=REPO,
        env=env,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    assert gone.returncode == 141 and gone.stderr == ""
    piped = subprocess.run(
        f"{sys.executable} -m transpile compile samples/etl.yaml | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert piped.returncode in (0, 141) and piped.stderr == ""
    assert piped.stdout.startswith("# Generated by transpile")
