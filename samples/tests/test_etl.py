"""Testing a pipeline with pytest: run it locally from a test and assert on what it produced.

    pytest samples/tests

`transpile.run` runs the pipeline exactly as `transpile run` does and returns a `Run`; each test gives it a
temporary store, so runs never mix. `run.values` holds the parameters overlaid with what the top-level
steps returned (a map's returns as lists), `run.nodes` every node instance by key (`"clean@1/load"`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import transpile

SAMPLES = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["etl.yaml", "etl.py"])
def run_etl(request, tmp_path, monkeypatch):
    """Run the sample (both of its forms) with a fresh store; steps work in the temporary directory."""
    monkeypatch.chdir(tmp_path)

    def run(**parameters):
        return transpile.run(SAMPLES / request.param, parameters, store=tmp_path / "store")

    return run


def test_a_good_day_ships(run_etl):
    run = run_etl(date="2026-02-01")
    run.raise_for_status()  # raises transpile.RunFailed naming every failed node and its error
    assert run.values["rows"] == 300
    assert run.values["n"] == [30, 31, 32]  # one per shard, in shard order
    assert run.values["verdict"] == "ship" and run.values["published"] == 0.31
    assert run.nodes["clean@1/load"].inputs == {"shard": "2026-02-01/b", "rows": 300}


def test_two_shards_are_held(run_etl):
    run = run_etl(shards=["a", "b"])
    assert run.ok
    assert run.values["n"] == [20, 21]
    assert run.values["verdict"] == "hold"
    assert "published" not in run.values  # the other switch case ran
    assert run.nodes["route/hold/notify"].status == "succeeded"


def test_a_bad_parameter_is_refused_before_anything_runs(run_etl):
    with pytest.raises(transpile.CompileError, match="parameter 'shards' must be a JSON list"):
        run_etl(shards="a,b")
