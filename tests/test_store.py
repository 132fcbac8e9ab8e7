"""The run store's layout, catalog, file modes, on_failure's view of failures and the end-of-run table."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transpile.runtime.store import RunStore
from transpile.runtime.workspace import CatalogError, matching, pattern_problem


def write(project: Path, name: str, text: str) -> str:
    (project / name).write_text(textwrap.dedent(text))
    return name


def run(project: Path, pipeline: str, *args: str, env: dict | None = None):
    return run_cli(
        "run", pipeline, "--store", "store", "--run-id", "r1", "--parallelism", "2", *args, cwd=project, env=env
    )


def store(project: Path) -> RunStore:
    return RunStore(project / "store", "r1")


def test_names_like_the_store_layout_never_collide(tmp_path):
    name = write(
        tmp_path,
        "names.yaml",
        """\
        name: names
        parameters: {xs: [a, b], pick: items}
        steps:
          items:
            map:
              over: xs
              as: x
              steps:
                attempt-1: {shell: 'echo "$x" > "$TRANSPILE_RETURNS/y"', returns: [y]}
                result: {needs: [attempt-1], stub: true}
          attempt-1:
            parallel:
              items: {steps: {items: {stub: true}}}
              attempt-2: {steps: {attempt-1: {stub: true}}}
          route:
            switch:
              on: pick
              cases:
                items: {steps: {attempt-1: {shell: 'echo routed'}}}
                other: {steps: {x: {stub: true}}}
        """,
    )
    result = run(tmp_path, name)
    assert result.returncode == 0, result.stderr
    keys = set(store(tmp_path).node_keys())
    assert keys == {
        "items",
        "items@0/attempt-1",
        "items@0/result",
        "items@1/attempt-1",
        "items@1/result",
        "attempt-1/items/items",
        "attempt-1/attempt-2/attempt-1",
        "route",
        "route/items/attempt-1",
    }
    assert store(tmp_path).result("items@1/attempt-1").returns == {"y": "b"}
    listing = run_cli("runs", "list", "--store", "store", cwd=tmp_path)
    assert listing.stdout.splitlines()[1].split()[2] == "succeeded"
    shown = run_cli("runs", "show", "r1", "--store", "store", cwd=tmp_path).stdout
    tree = [line[: len(line) - len(line.lstrip())] + line.split()[0] for line in shown.splitlines()[5:]]
    assert tree == [
        "items", "  [0]", "    attempt-1", "    result", "  [1]", "    attempt-1", "    result",
        "attempt-1", "  items", "    items", "  attempt-2", "    attempt-1",
        "route", "  items", "    attempt-1",
    ]  # fmt: skip


def test_catalog_patterns_must_stay_inside(tmp_path):
    for bad in ("../escape.txt", "/etc/hostname", "a/../../b", "~/x"):
        assert pattern_problem(bad) is not None
    assert pattern_problem("out/**/*.csv") is None
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "root" / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(CatalogError, match="leads outside"):
        matching(("*.txt",), tmp_path / "root", "catalog.get: no file")
    with pytest.raises(CatalogError, match="must not use '..'"):
        matching(("../outside.txt",), tmp_path / "root", "catalog.get: no file")


@pytest.mark.parametrize("pattern", ["../escape.txt", "/etc/hostname"])
def test_escaping_catalog_patterns_are_refused_end_to_end(tmp_path, pattern):
    (tmp_path / "escape.txt").write_text("no")
    name = write(tmp_path, "esc.yaml", f"name: esc\nsteps:\n  s: {{shell: 'true', catalog: {{get: ['{pattern}']}}}}\n")
    result = run(tmp_path, name)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr
    if result.returncode == 1:  # refused when the attempt runs (the compiler may refuse it first)
        assert "must" in store(tmp_path).attempts("s")[-1].error


def test_map_items_share_gets_and_cannot_put_the_same_path(tmp_path):
    name = write(
        tmp_path,
        "cat.yaml",
        """\
        name: cat
        parameters: {xs: [1, 2, 3, 4, 5, 6]}
        steps:
          make: {shell: 'head -c 300000 /dev/urandom > data.bin', catalog: {put: [data.bin]}}
          use:
            needs: [make]
            map:
              over: xs
              as: x
              steps:
                read:
                  shell: 'cmp data.bin data.bin && echo "$x" > "out-$x.txt"'
                  catalog: {get: [data.bin], put: ['out-*.txt']}
          clash:
            needs: [use]
            map: {over: xs, as: x, steps: {put: {shell: 'echo "$x" > same.txt', catalog: {put: [same.txt]}}}}
        """,
    )
    result = run(tmp_path, name)
    assert result.returncode == 1
    run_store = store(tmp_path)
    assert all(run_store.result(f"use@{i}/read") is not None for i in range(6))  # concurrent gets of one file
    assert sorted(p.name for p in run_store.catalog.glob("out-*.txt")) == [f"out-{i}.txt" for i in range(1, 7)]
    errors = [a[-1].error or "" for key in run_store.node_keys() if (a := run_store.attempts(key))]
    clash = [e for e in errors if "already put by node" in e]
    assert len(clash) >= 1
    assert "'same.txt' was already put by node 'clash@" in clash[0] and "node 'clash@" in clash[0].split("by node")[1]
    assert not [p for p in run_store.run_dir.rglob("*.tmp")]


@pytest.mark.parametrize(("umask", "mode"), [(None, 0o644), ("077", 0o600), ("002", 0o664)])
def test_store_files_are_readable_as_a_shared_volume_needs(tmp_path, umask, mode):
    name = write(
        tmp_path,
        "m.yaml",
        "name: m\nsteps:\n  s: {shell: 'echo 1 > f; echo 2 > $TRANSPILE_RETURNS/x', returns: [x],"
        " catalog: {put: [f]}}\n",
    )
    env = {"TRANSPILE_UMASK": umask} if umask else None
    old = os.umask(0o022)
    try:
        assert run(tmp_path, name, env=env).returncode == 0
    finally:
        os.umask(old)
    run_store = store(tmp_path)
    for path in (
        run_store.run_dir / "run.json",
        run_store.node_dir("s") / "result.json",
        run_store.attempt_dir("s", 1) / "record.json",
        run_store.catalog / "f",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_on_failure_sees_which_nodes_failed(tmp_path):
    name = write(
        tmp_path,
        "f.yaml",
        """\
        name: f
        parameters: {xs: [0, 1, 2]}
        steps:
          m: {map: {over: xs, as: x, steps: {s: {shell: '[ "$x" != 1 ]'}}}}
        on_failure:
          steps:
            alert: {shell: 'echo "$TRANSPILE_FAILED" > "$TRANSPILE_RETURNS/failed"', returns: [failed]}
        """,
    )
    assert run(tmp_path, name).returncode == 1
    assert store(tmp_path).result("on_failure/alert").returns["failed"] == ["m@1/s"]


def test_end_of_run_table_is_honest(tmp_path):
    name = write(
        tmp_path,
        "t.yaml",
        """\
        name: t
        steps:
          flaky: {shell: '[ "$TRANSPILE_ATTEMPT" -ge 2 ]', retries: 1}
          slow: {shell: 'sleep 20', timeout: 1}
          after: {needs: [slow], stub: true}
          later: {needs: [after], shell: 'true'}
        """,
    )
    result = run(tmp_path, name)
    assert result.returncode == 1
    rows = {line.split("  ")[0]: " ".join(line.split()) for line in result.stderr.splitlines()}
    assert rows["slow"].startswith("slow timed out 1 1")
    assert rows["flaky"].startswith("flaky succeeded after retry 1 2")
    assert rows["after"].startswith("after not started") and rows["later"].startswith("later not started")
    assert json.loads((store(tmp_path).run_dir / "status.json").read_text())["status"] == "failed"
