"""The BO-loop benchmark resumes: finished runs are read back, a line cut by an interruption is run again."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("botorch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bo_loop  # noqa: E402


def fake_run(transform, acquisition_name, seed, iterations):
    calls.append((acquisition_name, transform, seed))
    return [float(seed)] * iterations, [0.1] * iterations


calls = []


def test_an_interrupted_benchmark_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(bo_loop, "run", fake_run)
    path = tmp_path / "runs.jsonl"
    configurations = len(bo_loop.ACQUISITIONS) * len(bo_loop.TRANSFORMS)
    calls.clear()
    first = bo_loop.run_all(seeds=1, iterations=3, path=path)
    assert len(calls) == configurations and len(first) == configurations
    # A second seed: only its runs are run.
    calls.clear()
    bo_loop.run_all(seeds=2, iterations=3, path=path)
    assert len(calls) == configurations and all(seed == 1 for _, _, seed in calls)
    # Killed while it wrote the last record: that run is the only one repeated.
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind("\n") + 20])
    calls.clear()
    records = bo_loop.run_all(seeds=2, iterations=3, path=path)
    assert calls == [(bo_loop.ACQUISITIONS[-1], list(bo_loop.TRANSFORMS)[-1], 1)]
    assert len(records) == 2 * configurations
    assert records[bo_loop.ACQUISITIONS[0], "Standardize", 1]["regrets"] == [1.0, 1.0, 1.0]
    # Another budget is another benchmark: nothing is reused.
    calls.clear()
    bo_loop.run_all(seeds=1, iterations=4, path=path)
    assert len(calls) == configurations


def test_a_run_is_seeded():
    regrets, seconds = bo_loop.run("Standardize", "LogEI", seed=0, iterations=1)
    assert bo_loop.run("Standardize", "LogEI", seed=0, iterations=1)[0] == regrets
    assert len(seconds) == 1 and 0 <= regrets[0] < bo_loop.OPTIMUM
