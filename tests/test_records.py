"""The store's typed records: the on-disk JSON round-trips (unknown keys kept), a file that is not JSON or holds
a wrong type is one `CorruptRecord` naming the file, and status.json as the SLURM script writes it reads back."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from transpile.runtime.records import AttemptRecord, CorruptRecord, LeaseRecord, NodeResult, RunRecord, RunStatus

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
words = st.text(min_size=1, max_size=12)
times = st.floats(0, 2e9, allow_nan=False)
extra = st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k.startswith("x_")), json_values, max_size=3)

RECORDS = {
    RunRecord: st.builds(
        RunRecord,
        run_id=words,
        pipeline=words,
        hash=words,
        parameters=st.dictionaries(words, json_values, max_size=3),
        pipeline_file=st.none() | words,
        created=st.none() | times,
        extra=extra,
    ),
    RunStatus: st.builds(
        RunStatus,
        status=st.sampled_from(["running", "succeeded", "failed", "interrupted"]),
        started=st.none() | times,
        ended=st.none() | times | st.integers(0, 2**31),
        failures=st.none() | st.lists(words, max_size=3),
        on_failure_ran=st.none() | st.booleans(),
        engine=st.none() | st.just("slurm"),
        extra=extra,
    ),
    AttemptRecord: st.builds(
        AttemptRecord,
        key=words,
        attempt=st.integers(1, 100),
        status=st.sampled_from(["running", "succeeded", "failed", "interrupted", "skipped", "reused"]),
        indices=st.none() | st.lists(st.integers(0, 1000), max_size=3),
        pid=st.none() | st.integers(1, 2**22),
        logs=st.none() | st.dictionaries(st.sampled_from(["stdout", "stderr"]), words),
        inputs=st.none() | st.dictionaries(words, json_values, max_size=3),
        timed_out=st.none() | st.booleans(),
        error=st.none() | st.text(max_size=30),
        extra=extra,
    ),
    NodeResult: st.builds(
        NodeResult,
        returns=st.dictionaries(words, json_values, max_size=3),
        attempt=st.none() | st.integers(1, 9),
        count=st.none() | st.integers(0, 1000),
        case=st.none() | words,
        extra=extra,
    ),
    LeaseRecord: st.builds(
        LeaseRecord, host=words, pid=st.integers(1, 2**22), beat=st.integers(0, 10**6), released=st.booleans()
    ),
}


@pytest.mark.parametrize("kind", list(RECORDS), ids=lambda k: k.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_records_round_trip_through_their_json(kind, data):
    record = data.draw(RECORDS[kind])
    text = record.dumps()
    again = kind.loads(text)
    assert again == record
    assert json.loads(again.dumps()) == json.loads(text)  # unknown keys are written back as they came


# (file name, record type, a valid object, the field to break, a value of the wrong type)
KINDS = [
    ("run.json", RunRecord, {"run_id": "r", "pipeline": "p", "hash": "h", "parameters": {}}, "parameters", [1]),
    ("status.json", RunStatus, {"status": "failed", "failures": []}, "failures", "x"),
    ("record.json", AttemptRecord, {"key": "a", "attempt": 1, "status": "failed"}, "attempt", "1"),
    ("result.json", NodeResult, {"returns": {"x": 1}}, "returns", None),
    ("lease-1.json", LeaseRecord, {"host": "h", "pid": 1, "beat": 3}, "beat", True),
]


@pytest.mark.parametrize(("name", "kind", "good", "field", "wrong"), KINDS, ids=[k[0] for k in KINDS])
@pytest.mark.parametrize("content", ["garbage", "", "[1, 2]", "\xff", "WRONG TYPE"])
def test_a_broken_file_of_every_kind_is_one_error_naming_it(tmp_path, name, kind, good, field, wrong, content):
    path = tmp_path / name
    if content == "WRONG TYPE":
        path.write_text(json.dumps({**good, field: wrong}))
    elif content == "\xff":
        path.write_bytes(b'{"x": "\xff"}')
    else:
        path.write_text(content)
    with pytest.raises(CorruptRecord) as caught:
        kind.read(path)
    assert caught.value.path == path and str(path) in str(caught.value)
    if content == "WRONG TYPE":
        assert f"'{field}'" in caught.value.problem
    path.write_text(json.dumps({**good, "from_a_newer_version": [1]}))
    assert kind.read(path).extra == {"from_a_newer_version": [1]}
    assert kind.read(tmp_path / "missing.json") is None


def _slurm_functions(tmp_path: Path) -> str:
    """`json_string` and `write_status` as the compiled SLURM script defines them."""
    (tmp_path / "p.yaml").write_text("name: p\nsteps:\n  a: {shell: 'echo a'}\n")
    compiled = run_cli("compile", "p.yaml", "-t", "slurm", "-o", "out/", cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    script = (tmp_path / "out/p.slurm.sh").read_text()
    found = [re.search(rf"^{name}\(\) {{.*?^}}$", script, re.S | re.M) for name in ("json_string", "write_status")]
    assert all(found), "the SLURM script no longer defines json_string and write_status"
    return "\n".join(match.group(0) for match in found if match)


@pytest.mark.parametrize(("status", "ran", "failures"), [("succeeded", "false", []), ("failed", "true", ['a "b"\n'])])
def test_slurm_status_json_has_the_shape_the_readers_read(tmp_path, status, ran, failures):
    """Pinned: the keys the SLURM finalizer writes, read back as a RunStatus by every reader."""
    ctl = tmp_path / "run/slurm"
    (ctl / "failed").mkdir(parents=True)
    (ctl / "submitted").write_text("1700000000\n")
    for i, text in enumerate(failures):
        (ctl / f"failed/{i}").write_text(text)
    body = _slurm_functions(tmp_path) + f'\nCTL="{ctl}" RUN_DIR="{tmp_path / "run"}"\nwrite_status {status} {ran}\n'
    subprocess.run(["bash", "-c", body], check=True)
    path = tmp_path / "run/status.json"
    assert sorted(json.loads(path.read_text())) == sorted(
        ["status", "ended", "duration", "failures", "on_failure_ran", "engine"]
    )
    read = RunStatus.read(path)
    assert read is not None and read.status == status and read.engine == "slurm"
    assert read.on_failure_ran is (ran == "true") and isinstance(read.ended, int) and read.duration >= 0
    assert read.failures == [f.rstrip("\n") for f in failures]
