"""The tuning benchmark end to end on a tiny budget: scores of known traces, resume, an interrupted file."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the bench-tuning tox environment installs scikit-learn")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bo_report  # noqa: E402
import bo_tuning  # noqa: E402


def test_normalized_score_of_known_traces():
    runs = {
        ("t", "random", 0): {"best": [4.0, 2.0]},
        ("t", "random", 1): {"best": [2.0, 2.0]},
        ("t", "a", 0): {"best": [3.0, 1.0]},
    }
    score = bo_report.scores(runs)
    # random mean (3, 2); opt 1: a scores 100 (3 - 3) / (3 - 1) = 0, then 100 (2 - 1) / (2 - 1) = 100
    np.testing.assert_allclose(score["t", "a", 0], [0.0, 100.0])
    np.testing.assert_allclose(score["t", "random", 0], [-50.0, 0.0])


def test_a_task_evaluates_its_cross_validated_loss():
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    task = bo_tuning.Task("knn-wine-nll")
    u = [0.5, 0.0]  # n_neighbors 13, p 1
    expected = -cross_val_score(
        KNeighborsClassifier(n_neighbors=13, p=1), task.X, task.y, cv=task.cv, scoring="neg_log_loss"
    ).mean()
    assert task(u) == pytest.approx(expected, rel=1e-12)


def test_worker_runs_resumes_and_survives_a_cut_line(tmp_path):
    results = tmp_path / "r.jsonl"
    args = ["worker", "--results", str(results), "--evals", "7", "--tasks", "dt-diabetes-mse"]
    bo_tuning.main(args + ["--methods", "random", "standardize"])
    header, runs = bo_tuning.read_results(results)
    assert sorted(runs) == [("dt-diabetes-mse", "random", 0), ("dt-diabetes-mse", "standardize", 0)]
    run = runs["dt-diabetes-mse", "standardize", 0]
    assert len(run["y"]) == 7 and len(run["fit_s"]) == 7 - bo_tuning.N_INIT and run["fallbacks"] == 0
    assert run["best"] == list(np.minimum.accumulate(run["y"]))
    before = results.read_text()
    with open(results, "a") as handle:  # an interrupted write
        handle.write('{"task": "dt-diabetes-mse", "meth')
    bo_tuning.main(args + ["--methods", "random", "standardize", "power"])
    lines = results.read_text().splitlines()
    assert results.read_text().startswith(before)  # finished runs were skipped, not repeated
    assert json.loads(lines[-1])["method"] == "power" and len(bo_tuning.read_results(results)[1]) == 3
