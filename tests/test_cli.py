"""The compile command's options, the registry with a real installed plugin, and the wheel's data."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
