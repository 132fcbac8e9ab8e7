"""What a user installs is what we test: the wheel and the sdist are complete, the README's quick-start commands
work in a fresh virtualenv, and `.ci/run` runs the README's test command.

The README's commands are read from README.md (its first two ```sh blocks), never copied into this file, so a
README edit is tested as written. The fresh venv gets its packages from the registry (pip's download cache may
serve them), like a new user's machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".transpile", ".venv")


def quick_start() -> list[str]:
    """The README's quick-start commands: the first line of each of its first two ```sh blocks."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (REPO / "README.md").read_text(encoding="utf-8"), re.S | re.M)
    commands = [block.strip() for block in blocks[:2]]
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    return commands


def tracked_files() -> list[str]:
    """Files of the checkout as git knows them (the sdist must hold them), else every file on disk."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [name for name in listed.stdout.splitlines() if (REPO / name).is_file()]
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts]


def clean_copy(destination: Path) -> Path:
    """A copy of the checkout without build leftovers, as a fresh clone would be."""
    return Path(shutil.copytree(REPO, destination, ignore=COPY_IGNORE))


def user_env(venv: Path, home: Path) -> dict[str, str]:
    """A user's shell with the venv activated: nothing of this checkout on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), HOME=str(home))
    env.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))  # pip's download cache, as on the user's machine
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(wheel, sdist, source copy) built from a clean copy of the checkout with the test venv's setuptools."""
    base = tmp_path_factory.mktemp("dist")
    source = clean_copy(base / "src")
    out = base / "out"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist, source


def test_the_wheel_holds_every_module_and_data_file(built):
    wheel, _, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(REPO)) for p in (REPO / "transpile").rglob("*.py") if "__pycache__" not in p.parts}
    expected.add("transpile/py.typed")
    for data in ("templates", "schemas"):
        expected |= {f"transpile/{data}/{p.name}" for p in (REPO / data).iterdir() if p.is_file()}
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks {len(missing)} file(s): {missing}"
    from transpile.ir.kube_schema import SCHEMA_FILE

    assert f"transpile/schemas/{SCHEMA_FILE}" in names, "the pinned Kubernetes schema the pod checks read"
    assert any(re.match(r"transpile-[^/]+\.dist-info/licenses/LICENSE$", n) for n in names), "no LICENSE in the wheel"
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text


def test_the_sdist_holds_the_whole_project(built):
    _, sdist, _ = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = [n for n in tracked_files() if not n.startswith(".git")]
    missing = sorted(set(wanted) - names)
    assert not missing, f"the sdist lacks {len(missing)} tracked file(s): {missing[:20]}"


def test_a_wheel_built_from_the_sdist_is_the_same(built, tmp_path):
    """The sdist is complete enough to build the wheel again, file for file."""
    wheel, sdist, _ = built
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (source,) = tmp_path.iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(tmp_path / "out"), str(source)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (again,) = (tmp_path / "out").glob("*.whl")
    assert sorted(zipfile.ZipFile(again).namelist()) == sorted(zipfile.ZipFile(wheel).namelist())


@pytest.fixture(scope="module")
def fresh_user(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """A fresh venv in which the README's first quick-start command ran, verbatim, in a clean copy of the
    checkout: (venv, the copy, the user's environment)."""
    base = tmp_path_factory.mktemp("user")
    venv, home = base / "venv", base / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    project = clean_copy(base / "project")
    env = user_env(venv, home)
    first = quick_start()[0]
    done = subprocess.run(["bash", "-c", first], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"`{first}` exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return venv, project, env


def test_the_first_quick_start_command_compiles_the_sample(fresh_user):
    venv, project, env = fresh_user
    spec = project / "etl-daily.yaml"
    assert spec.is_file(), "the README's first command did not write etl-daily.yaml"
    assert "kind: WorkflowTemplate" in spec.read_text(encoding="utf-8")
    where = subprocess.run(
        ["python", "-c", "import transpile; print(transpile.__file__)"],
        cwd=venv,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(venv)), f"transpile imported from {where.stdout or where.stderr}"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["targets"], ["compile", "--help"]])
def test_the_installed_command_answers(fresh_user, argv, tmp_path):
    _, _, env = fresh_user
    done = subprocess.run(["transpile", *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if argv == ["--version"]:
        from transpile import __version__

        assert done.stdout.strip() == f"transpile {__version__}"


def test_the_python_api_works_installed(fresh_user, tmp_path):
    _, project, env = fresh_user
    code = "import transpile, sys; files = transpile.compile(sys.argv[1], 'airflow'); print(sorted(files))"
    done = subprocess.run(
        ["python", "-c", code, str(project / "samples/etl.yaml")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "etl-daily.py" in done.stdout


def test_the_pre_commit_hooks_run_installed(fresh_user, tmp_path):
    """The README's local hook and the repository hook of `.pre-commit-hooks.yaml`, run as pre-commit runs them
    (the entry, then the README's args, in a project holding the sample)."""
    _, project, env = fresh_user
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    configs = [
        yaml.load(b, Loader=yaml.CSafeLoader) for b in re.findall(r"^```yaml\n(- repo:.*?)^```", readme, re.S | re.M)
    ]
    local = next(c[0]["hooks"][0] for c in configs if c[0]["repo"] == "local")
    remote = next(c[0]["hooks"][0] for c in configs if c[0]["repo"] != "local")
    (hook,) = yaml.load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    assert remote["id"] == hook["id"]
    pipelines = project / "pipelines"
    pipelines.mkdir(exist_ok=True)
    shutil.copy(project / "samples/etl.yaml", pipelines / "etl.yaml")
    assert re.search(local["files"], "pipelines/etl.yaml")
    checked = subprocess.run(
        [*local["entry"].split(), "pipelines/etl.yaml"], cwd=project, env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    (project / "deploy.yaml").write_text((REPO / "samples/deploy.yaml").read_text(encoding="utf-8"))
    argv = [*hook["entry"].split(), *remote["args"]]
    stale = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    assert stale.returncode == 1, stale.stderr  # the committed spec does not exist yet: a diff, exit 1
    out = remote["args"][remote["args"].index("-o") + 1]
    (project / out).parent.mkdir(parents=True, exist_ok=True)
    compiled = subprocess.run(
        [*argv[: argv.index("--check")], *argv[argv.index("--check") + 1 :]], cwd=project, env=env
    )
    assert compiled.returncode == 0
    fresh = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci/run").read_text(encoding="utf-8")
    assert quick_start()[1] in script.splitlines(), "the README's second command is not a line of .ci/run"
    assert "python3 -m venv" in script and "system-site-packages" not in script


def test_every_test_import_is_a_declared_dependency():
    """Third-party modules the tests import are in the `test` extra (or the runtime dependencies)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=\[; ]", d)[0].lower().replace("-", "_") for d in project["dependencies"]}
    declared |= {
        re.split(r"[<>=\[; ]", d)[0].lower().replace("-", "_") for d in project["optional-dependencies"]["test"]
    }
    distribution = {"yaml": "pyyaml", "cel": "common_expression_language"}
    local = {"tests", "transpile", "benchmarks", "samples", "etl", "ml", "apisteps", "steps_mod"}
    found = set()
    for path in [*(REPO / "tests").rglob("*.py"), *(REPO / "samples/tests").rglob("*.py")]:
        if path.name.endswith("_probe.py"):
            continue  # run inside the engines' own venvs (tests/support/venvs.py), which install the engine
        for match in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_][\w]*)", path.read_text(encoding="utf-8"), re.M):
            found.add(match.group(1))
    third_party = {m for m in found - local if m not in sys.stdlib_module_names}
    undeclared = sorted(m for m in third_party if distribution.get(m, m).lower() not in declared)
    assert not undeclared, f"imported by the tests but not declared in pyproject.toml: {undeclared}"
