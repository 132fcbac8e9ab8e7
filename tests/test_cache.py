"""The step cache with `transpile run`: a second run settles every cacheable step from the cache without a
process and with the same values; a changed module, map item or catalog.get file reruns exactly the node
instances whose key it changes; max_age, --no-cache, --refresh, corrupt entries, racing writers,
`transpile cache list|prune`. (On the engines: tests/airflow/test_local_runs.py, tests/prefect/test_flow_runs.py,
tests/slurm/test_cluster_runs.py, tests/test_parity.py.)"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES, run_cli
from tests.support.outcomes import outcomes
from transpile.runtime import cache_store
from transpile.runtime.records import CacheEntry
from transpile.runtime.store import RunStore

EFFECTS = '''\
import os
from pathlib import Path


def _ran():
    """One line per execution, to count what ran."""
    with open(os.path.join(os.environ["TRANSPILE_PIPELINE_DIR"], "effects.log"), "a") as log:
        log.write(os.environ["TRANSPILE_KEY"] + "\\n")


def square(x):
    _ran()
    return x * x


def total(sq):
    _ran()
    return sum(sq)


def use():
    _ran()
    return Path("input.txt").read_text()


def make():
    _ran()
    Path("out").mkdir()
    Path("out/made.txt").write_text("made once")


def plus(c):
    _ran()
    return c + 1
'''

OTHER = "from effects import _ran\n\n\ndef const():\n    _ran()\n    return 10\n"

PIPELINE = """\
name: cachy
parameters: {xs: [1, 2, 3]}
defaults: {cache: true}
steps:
  fetch: {cache: false, shell: 'cp "$TRANSPILE_PIPELINE_DIR/input.txt" input.txt', catalog: {put: [input.txt]}}
  use: {needs: [fetch], python: effects:use, catalog: {get: [input.txt]}, returns: [text]}
  m: {map: {over: xs, as: x, steps: {s: {python: effects:square, returns: [sq]}}}}
  total: {needs: [m], python: effects:total, returns: [sum]}
  other: {python: other:const, returns: [c]}
  after: {needs: [other], python: effects:plus, returns: [d]}
  mk: {python: effects:make, catalog: {put: [out/*.txt]}}
"""

CACHED = {"use", "m@0/s", "m@1/s", "m@2/s", "total", "other", "after", "mk"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "effects.py").write_text(EFFECTS)
    (tmp_path / "other.py").write_text(OTHER)
    (tmp_path / "input.txt").write_text("first")
    (tmp_path / "cachy.yaml").write_text(PIPELINE)
    return tmp_path


def run(project: Path, run_id: str, *args: str, pipeline: str = "cachy.yaml", code: int = 0):
    result = run_cli("run", pipeline, "--store", "store", "--run-id", run_id, *args, cwd=project)
    assert result.returncode == code, result.stderr
    return result


def statuses(project: Path, run_id: str) -> dict[str, str]:
    store = RunStore(project / "store", run_id)
    return {key: store.attempts(key)[-1].status for key in store.node_keys() if store.attempts(key)}


def executed(project: Path) -> list[str]:
    """The node instances whose step ran since the last call (their effects.log lines)."""
    log = project / "effects.log"
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(lines)


def cached(project: Path, run_id: str) -> set[str]:
    return {key for key, status in statuses(project, run_id).items() if status == "cached"}


def test_second_run_of_the_sample_is_cached_without_a_process(tmp_path):
    shutil.copytree(SAMPLES, tmp_path / "samples")
    first = run(tmp_path, "r1", pipeline="samples/etl.yaml")
    assert "cached" not in first.stderr
    run(tmp_path, "r2", pipeline="samples/etl.yaml")
    before, after = RunStore(tmp_path / "store", "r1"), RunStore(tmp_path / "store", "r2")
    assert outcomes(after) == outcomes(before)  # identical values
    states = statuses(tmp_path, "r2")
    tasks = {key for key in states if key not in ("clean", "route")}  # the map's fan-out and the switch
    assert tasks and {key: states[key] for key in tasks} == dict.fromkeys(tasks, "cached")
    for key in tasks:
        record = after.attempts(key)[-1]
        assert record.logs is None and record.cache["run"] == "r1" and record.cache["node"] == key
        attempt_dir = after.node_dir(key) / f"attempt.{record.attempt}"
        assert not (attempt_dir / "stdout.log").exists()  # no attempt process ever wrote there
    shown = run_cli("runs", "show", "r2", "--store", "store", "--json", cwd=tmp_path)
    nodes = {node["key"]: node for node in json.loads(shown.stdout)["nodes"]}
    assert nodes["gate"]["status"] == "cached" and nodes["gate"]["cache"]["decision"] == "hit"


def test_changes_rerun_exactly_the_affected_instances(project):
    run(project, "r1")
    assert executed(project) == sorted(CACHED)
    run(project, "r2")
    assert executed(project) == [] and cached(project, "r2") == CACHED  # fetch (cache: false) ran, nothing else
    assert (project / "store/runs/r2/catalog/out/made.txt").read_text() == "made once"  # restored catalog.put
    owners = project / "store/runs/r2/catalog.owners/out/made.txt"
    assert owners.read_text() == "mk"

    run(project, "r3", "-p", "xs=[1,5,3]")  # one map item: that item and what receives its value
    assert executed(project) == ["m@1/s", "total"]
    assert RunStore(project / "store", "r3").result("total").returns == {"sum": 35}

    (project / "other.py").write_text(OTHER.replace("10", "20"))  # one step's module
    explained = run(project, "r4", "--explain-cache")
    assert executed(project) == ["after", "other"]
    assert "other: miss: the code of other.py changed (since the entry of run r1)" in explained.stderr
    assert "after: miss: input 'c' changed" in explained.stderr

    (project / "input.txt").write_text("second")  # one catalog.get file
    explained = run(project, "r5", "--explain-cache")
    assert executed(project) == ["use"]
    assert "use: miss: catalog.get file 'input.txt' changed" in explained.stderr
    assert RunStore(project / "store", "r5").result("use").returns == {"text": "second"}


def test_modes_no_cache_and_refresh(project):
    run(project, "r1")
    executed(project)
    run(project, "r2", "--no-cache")
    assert executed(project) == sorted(CACHED) and cached(project, "r2") == set()
    run(project, "r3", "--refresh", "m", "--refresh", "other")  # a composite covers every step under it
    assert executed(project) == ["m@0/s", "m@1/s", "m@2/s", "other"]
    run(project, "r4")
    assert executed(project) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--refresh", "totl"], "--refresh totl: the pipeline has no step 'totl'"),
        (["--refresh", "fetch"], "--refresh fetch: no step there has a cache setting"),
        (["--refresh", "use", "--no-cache"], "--no-cache and --refresh do not go together"),
        (["--refresh", "Bad Step"], "'Bad Step' is not a step id"),
    ],
)
def test_bad_modes_are_refused_before_anything_runs(project, args, message):
    result = run(project, "r1", *args, code=2)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (project / "store/runs/r1").exists()


def test_max_age_makes_old_entries_misses(project):
    (project / "cachy.yaml").write_text(PIPELINE.replace("{cache: true}", "{cache: {max_age: 1h}}"))
    run(project, "r1")
    executed(project)
    run(project, "r2")
    assert executed(project) == []
    root = project / "store"
    for listed in cache_store.entries(root):  # the clock moves 2 hours: every entry is older than max_age
        entry = listed.entry
        entry.created -= 7200
        (listed.directory / "entry.json").write_text(entry.dumps())
    explained = run(project, "r3", "--explain-cache")
    assert executed(project) == sorted(CACHED)
    assert "expired entry not used: the entry of run r1 is 2.0h old (max_age 3600s)" in explained.stderr
    run(project, "r4")
    assert executed(project) == []  # the expired entries were replaced


def test_find_honours_max_age_with_an_injected_clock(project, monkeypatch):
    run(project, "r1")
    root = project / "store"
    listed = next(e for e in cache_store.entries(root) if e.entry.node_key == "total")
    created = listed.entry.created
    assert cache_store.find(root, listed.key, 60, now=created + 59).state == "hit"
    assert cache_store.find(root, listed.key, 60, now=created + 61).state == "expired"
    monkeypatch.setattr(cache_store, "clock", lambda: created + 61)
    assert cache_store.find(root, listed.key, 60).state == "expired"
    assert cache_store.find(root, listed.key, None).state == "hit"


@pytest.mark.parametrize("damage", ["truncated-json", "changed-file", "missing-file", "changed-returns-key"])
def test_a_corrupt_entry_is_ignored_recorded_and_replaced(project, damage):
    run(project, "r1")
    executed(project)
    root = project / "store"
    node = "mk" if damage in ("changed-file", "missing-file") else "total"
    listed = next(e for e in cache_store.entries(root) if e.entry.node_key == node)
    entry_json = listed.directory / "entry.json"
    if damage == "truncated-json":
        entry_json.write_text(entry_json.read_text()[:40])
    elif damage == "changed-file":
        (listed.directory / "files/out/made.txt").write_text("made twice")
    elif damage == "missing-file":
        (listed.directory / "files/out/made.txt").unlink()
    else:  # the document no longer matches the key
        data = json.loads(entry_json.read_text())
        data["document"]["inputs"]["sq"] = "0" * 64
        entry_json.write_text(json.dumps(data))
    explained = run(project, "r2", "--explain-cache")
    assert executed(project) == [node]
    assert f"{node}: miss: corrupt entry not used:" in explained.stderr
    assert RunStore(root, "r2").attempts(node)[-1].cache["decision"] == "miss"
    if node == "mk":
        assert (root / "runs/r2/catalog/out/made.txt").read_text() == "made once"
    run(project, "r3")
    assert executed(project) == []  # the corrupt entry was replaced by a good one


def _publish(args: tuple[str, str, int]) -> str:
    root, catalog, number = args
    entry = CacheEntry(key=KEY, document=DOCUMENT, returns={"n": number}, files={}, created=cache_store.clock())
    return cache_store.publish(Path(root), entry, Path(catalog), ["f.txt"], replace=False, durable=False)


DOCUMENT = {"version": 1, "node": "x"}
KEY = cache_store.document_key(DOCUMENT)


def test_racing_writers_publish_one_entry(tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "f.txt").write_text("same bytes")
    with multiprocessing.get_context("fork").Pool(8) as pool:
        states = pool.map(_publish, [(str(tmp_path / "store"), str(catalog), n) for n in range(32)])
    assert set(states) <= {"written", "kept"} and states.count("written") >= 1
    listed = list(cache_store.entries(tmp_path / "store"))
    assert [e.key for e in listed] == [KEY]
    assert cache_store.find(tmp_path / "store", KEY, None).state == "hit"
    assert not list((tmp_path / "store/cache/steps").glob("*/.*"))  # no temporary directory left behind


def test_concurrent_runs_on_one_key_both_succeed_with_one_entry(project):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "transpile", "run", "cachy.yaml", "--store", "store", "--run-id"]
    runs = [subprocess.Popen([*command, f"c{i}"], cwd=project, env=env, stderr=subprocess.PIPE) for i in range(3)]
    for process in runs:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    keys = [e.entry.node_key for e in cache_store.entries(project / "store")]
    assert sorted(keys) == sorted(CACHED)  # one entry per node instance, whoever won
    for i in range(3):
        assert outcomes(RunStore(project / "store", f"c{i}"))["total"]["returns"] == {"sum": 14}


def test_cache_list_and_prune(project):
    run(project, "r1")
    listing = run_cli("cache", "list", "--store", "store", "--json", cwd=project)
    assert listing.returncode == 0, listing.stderr
    entries = json.loads(listing.stdout)["entries"]
    assert sorted(e["node"] for e in entries) == sorted(CACHED) and {e["run_id"] for e in entries} == {"r1"}
    text = run_cli("cache", "list", "--store", "store", cwd=project)
    assert "cachy" in text.stdout and f"{len(CACHED)} entries" in text.stderr
    kept = run_cli("cache", "prune", "--older-than", "1h", "--store", "store", cwd=project)
    assert kept.returncode == 0 and "removed 0 cache entries" in kept.stderr
    pruned = run_cli("cache", "prune", "--older-than", "0s", "--store", "store", cwd=project)
    assert f"removed {len(CACHED)} cache entries" in pruned.stderr
    assert list(cache_store.entries(project / "store")) == []
    bad = run_cli("cache", "prune", "--older-than", "soon", "--store", "store", cwd=project)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_execute_node_hits_the_entry_of_transpile_run(project):
    run(project, "r1")
    executed(project)

    def node(run_id: str, *extra: str, code: int = 0) -> subprocess.CompletedProcess:
        args = ["execute-node", "--pipeline", "cachy.yaml", "--store", "store", "--run-id", run_id, "--node", "mk"]
        result = run_cli(*args, *extra, cwd=project)
        assert result.returncode == code, result.stderr
        return result

    assert "comes from the step cache" in node("e1").stderr and executed(project) == []
    assert (project / "store/runs/e1/catalog/out/made.txt").read_text() == "made once"
    node("e2", "--cache", "off")
    assert executed(project) == ["mk"]
    assert RunStore(project / "store", "e2").attempts("mk")[-1].cache["decision"] == "off"
    node("e3", "--cache", "refresh=mk")
    assert executed(project) == ["mk"]
    bad = node("e4", "--cache", "sometimes", code=2)
    assert "cache mode 'sometimes'" in bad.stderr and "Traceback" not in bad.stderr


BAD = """\
name: bad
parameters: {transpile_cache: "x"}
defaults: {cache: {max_age: soon, key_file: [a]}}
steps:
  a: {shell: "echo", cache: "yes"}
  b: {shell: "echo", cache: {key_files: [/etc/passwd, ../x], key_env: ["1bad"]}}
"""


def test_bad_cache_settings_are_located_errors_all_at_once(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD)
    result = run_cli("check", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for message, where in [
        ("the parameter name 'transpile_cache' is reserved", "bad.yaml:2:14"),
        ("defaults.cache.max_age: 'soon' is not a duration", "bad.yaml:3:29"),
        ("did you mean 'key_files'?", "bad.yaml:3:35"),
        ("steps.a.cache: expected true or false, got a string 'yes'", "bad.yaml:5:29"),
        ("key file pattern '/etc/passwd' must be a path relative to the working directory", "bad.yaml:6:42"),
        ("key file pattern '../x' must stay inside the working directory", "bad.yaml:6:55"),
        ("'1bad' is not a valid environment variable name", "bad.yaml:6:72"),
    ]:
        assert message in result.stderr and where in result.stderr, (message, result.stderr)
    assert "7 errors found" in result.stderr


def test_the_python_api_takes_the_cache_modes(project, monkeypatch):
    import transpile

    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    first = transpile.run("cachy.yaml", store="store", parallelism=2).raise_for_status()
    executed(project)
    again = transpile.run("cachy.yaml", store="store", parallelism=2).raise_for_status()
    assert executed(project) == [] and again.nodes["total"].status == "cached" and again.nodes["total"].ok
    assert again.nodes["total"].cache["run"] == first.run_id and again.values == first.values
    transpile.run("cachy.yaml", store="store", cache=False).raise_for_status()
    assert executed(project) == sorted(CACHED)
    transpile.run("cachy.yaml", store="store", refresh="total").raise_for_status()
    assert executed(project) == ["total"]
    with pytest.raises(ValueError, match="cache=False and refresh do not go together"):
        transpile.run("cachy.yaml", store="store", cache=False, refresh=["total"])
    with pytest.raises(transpile.CompileError, match="the pipeline has no step 'totl'"):
        transpile.run("cachy.yaml", store="store", refresh=["totl"])


def _die_while_publishing(root: str, catalog: str) -> None:
    """A writer killed (SIGKILL) after copying its files, before its entry.json exists."""
    import signal

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    cache_store.write_atomic = killed  # type: ignore[assignment]
    entry = CacheEntry(key=KEY, document=DOCUMENT, returns={}, files={}, created=1.0)
    cache_store.publish(Path(root), entry, Path(catalog), ["f.txt"], replace=False, durable=False)


def test_a_writer_killed_mid_entry_leaves_nothing_readable_and_prune_clears_it(tmp_path):
    catalog, root = tmp_path / "catalog", tmp_path / "store"
    catalog.mkdir()
    (catalog / "f.txt").write_text("bytes")
    writer = multiprocessing.get_context("fork").Process(target=_die_while_publishing, args=(str(root), str(catalog)))
    writer.start()
    writer.join(30)
    assert writer.exitcode == -9
    leftovers = list((root / "cache/steps").glob("*/.*.tmp"))
    assert len(leftovers) == 1 and (leftovers[0] / "files/f.txt").exists()  # it died halfway
    assert cache_store.find(root, KEY, None).state == "none" and list(cache_store.entries(root)) == []
    assert _publish((str(root), str(catalog), 1)) == "written"  # the next writer is not in its way
    done = cache_store.prune(root, older_than=10**9)
    assert done.leftovers == 1 and done.entries == 0
    assert not list((root / "cache/steps").glob("*/.*.tmp")) and cache_store.find(root, KEY, None).state == "hit"
