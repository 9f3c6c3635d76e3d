"""The output-warping benchmark resumes: finished fits are read back, the rest are fitted and appended."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("botorch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import output_warping  # noqa: E402

DATA = {"tiny": (np.zeros((4, 1)), np.ones(4), 2)}
MODELS = {"Standardize": None, "Log": None}
calls = []


def fake_fit(transform, X_all, y_all, n_train, seed):
    calls.append(seed)
    return {"nlpd": float(seed), "seconds": 0.1, "iterations": 3}


def test_an_interrupted_benchmark_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(output_warping, "fit_and_score", fake_fit)
    path = tmp_path / "runs.jsonl"
    fits = len(output_warping.SEEDS) * len(MODELS)
    calls.clear()
    first = dict(output_warping.run_all(DATA, MODELS, path))
    assert len(calls) == fits and len(path.read_text().splitlines()) == fits
    assert [run["nlpd"] for run in first["tiny"]["Log"]] == [float(seed) for seed in output_warping.SEEDS]
    # Interrupted while writing the last fit: that one is fitted again, the others are read back.
    path.write_text(path.read_text()[:-10])
    calls.clear()
    again = dict(output_warping.run_all(DATA, MODELS, path))
    assert calls == [output_warping.SEEDS[-1]]
    assert again == first
