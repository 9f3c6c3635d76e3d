"""Bayesian optimization of real tuning tasks (Bayesmark's family): output warps against Standardize, a fixed
power transform, HEBO, Ax and random search.

    python benchmarks/bo_tuning.py run [--quick] [--seeds N] [--evals N] [--results PATH]   # the driver
    python benchmarks/bo_report.py [RESULTS]                                                # tables and plot

Each task tunes a scikit-learn model on a dataset that ships with scikit-learn by 5-fold cross-validation
(Bayesmark's search spaces: log, logit and integer dimensions mapped from the unit cube, which every method
searches). The loss is minimized: 1 - accuracy, log-loss, MSE or MAE. A run: `N_INIT` scrambled Sobol points
(the same for every BoTorch method at a seed), then one point per iteration up to `--evals` evaluations.

The driver runs in any Python; it chains the environments one process at a time (seed, then task, then the
methods of each environment: `cur` = current wheels, `hebo`, `ax`), each worker with one thread. Each finished
run is one JSON line appended (flushed) to the results file, which is also the resume cache: a re-run skips the
finished (task, method, seed). The first line records versions, machine, revision and command.
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from results import append_jsonl, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
N_INIT = 5
ACQF_OPTIONS = dict(num_restarts=4, raw_samples=128)  # the same for every BoTorch method
PYTHONS = {
    "cur": os.environ.get("BENCH_PYTHON_CUR", "/tmp/venv-bench-cur/bin/python"),
    "hebo": os.environ.get("BENCH_PYTHON_HEBO", "/tmp/venv-hebo/bin/python"),
    "ax": os.environ.get("BENCH_PYTHON_AX", "/tmp/venv-bench-ax/bin/python"),
}
# name: (model, dataset, metric); cheap ones whose losses differ in skew (see notes/bench.md).
TASKS = {
    "dt-digits-nll": ("dt", "digits", "nll"),
    "dt-diabetes-mse": ("dt", "diabetes", "mse"),
    "knn-wine-nll": ("knn", "wine", "nll"),
    "knn-diabetes-mae": ("knn", "diabetes", "mae"),
    "svm-breast-acc": ("svm", "breast", "acc"),
    "svm-diabetes-mae": ("svm", "diabetes", "mae"),
    "lasso-diabetes-mse": ("lasso", "diabetes", "mse"),
    "linear-breast-nll": ("linear", "breast", "nll"),
    "ada-diabetes-mse": ("ada", "diabetes", "mse"),
}
QUICK_TASKS = ["dt-diabetes-mse", "knn-wine-nll"]
BOTORCH = ["standardize", "power", "sinharcsinh", "boxcox", "yeojohnson", "tanh", "sal2"]
METHODS = BOTORCH + ["hebo", "ax", "ax-warp", "random"]
ENV = {"hebo": "hebo", "ax": "ax", "ax-warp": "ax"}  # every other method runs in "cur"


# ---------------------------------------------------------------- tasks


def linear(u, a, b):
    return a + u * (b - a)


def log(u, a, b):
    return float(np.exp(linear(u, np.log(a), np.log(b))))


def logit(u, a, b):
    z = linear(u, np.log(a / (1 - a)), np.log(b / (1 - b)))
    return float(1 / (1 + np.exp(-z)))


def integer(u, a, b):
    return int(min(b, np.floor(a + u * (b - a + 1))))


def estimator(model, regression, u):
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    if model == "dt":
        kind = tree.DecisionTreeRegressor if regression else tree.DecisionTreeClassifier
        return kind(
            max_depth=integer(u[0], 1, 15),
            min_samples_split=logit(u[1], 0.01, 0.99),
            min_samples_leaf=logit(u[2], 0.01, 0.49),
            min_weight_fraction_leaf=logit(u[3], 0.01, 0.49),
            max_features=logit(u[4], 0.01, 0.99),
            min_impurity_decrease=linear(u[5], 0.0, 0.5),
            random_state=0,
        )
    if model == "knn":
        kind = neighbors.KNeighborsRegressor if regression else neighbors.KNeighborsClassifier
        return kind(n_neighbors=integer(u[0], 1, 25), p=integer(u[1], 1, 4))
    if model == "svm":
        kind = svm.SVR if regression else svm.SVC
        return kind(C=log(u[0], 1.0, 1e3), gamma=log(u[1], 1e-4, 1e-3), tol=log(u[2], 1e-5, 1e-1))
    if model == "lasso":  # regression only here
        return linear_model.Lasso(
            alpha=log(u[0], 1e-2, 1e2), max_iter=integer(u[1], 10, 5000), tol=log(u[2], 1e-5, 1e-1)
        )
    if model == "linear":  # binary classification only here (liblinear)
        return linear_model.LogisticRegression(
            C=log(u[0], 1e-2, 1e2), intercept_scaling=log(u[1], 1e-2, 1e2), solver="liblinear"
        )
    if model == "ada":  # few estimators (10 to 30, Bayesmark: 10 to 100) to keep it cheap
        return ensemble.AdaBoostRegressor(
            n_estimators=integer(u[0], 10, 30), learning_rate=log(u[1], 1e-4, 1e1), random_state=0
        )
    raise ValueError(model)


DIMS = {"dt": 6, "knn": 2, "svm": 3, "lasso": 3, "linear": 2, "ada": 2}
SCORING = {"acc": "accuracy", "nll": "neg_log_loss", "mse": "neg_mean_squared_error", "mae": "neg_mean_absolute_error"}


class Task:
    def __init__(self, name):
        from sklearn import datasets
        from sklearn.model_selection import KFold, StratifiedKFold
        from sklearn.preprocessing import StandardScaler

        self.name = name
        self.model, dataset, self.metric = TASKS[name]
        loader = {"wine": "load_wine", "breast": "load_breast_cancer", "digits": "load_digits"}
        data = getattr(datasets, loader.get(dataset, f"load_{dataset}"))()
        self.X, self.y = StandardScaler().fit_transform(data.data), data.target
        self.regression = dataset == "diabetes"
        self.cv = (KFold if self.regression else StratifiedKFold)(5, shuffle=True, random_state=0)
        self.dim = DIMS[self.model]

    def __call__(self, u):
        from sklearn.model_selection import cross_val_score

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = estimator(self.model, self.regression, [float(v) for v in u])
            score = cross_val_score(clf, self.X, self.y, cv=self.cv, scoring=SCORING[self.metric]).mean()
        return float(1 - score if self.metric == "acc" else -score)


# ---------------------------------------------------------------- methods


def sobol(dim, n, seed):
    from scipy.stats import qmc

    return qmc.Sobol(dim, scramble=True, seed=seed).random(n)


def outcome_transform(method):
    from botorch.models.transforms.outcome import (
        BoxCox,
        ChainedOutcomeTransform,
        SinhArcsinh,
        Standardize,
        TanhWarp,
        YeoJohnson,
    )

    std = Standardize(m=1)
    chains = {
        "standardize": lambda: std,
        "power": lambda: std,  # the targets are power-transformed before the GP
        "sinharcsinh": lambda: ChainedOutcomeTransform(std=std, warp=SinhArcsinh(m=1)),
        "boxcox": lambda: ChainedOutcomeTransform(warp=BoxCox(m=1), std=std),
        "yeojohnson": lambda: ChainedOutcomeTransform(std=std, warp=YeoJohnson(m=1)),
        "tanh": lambda: ChainedOutcomeTransform(std=std, warp=TanhWarp(m=1, learn_scale=True)),
        "sal2": lambda: ChainedOutcomeTransform(std=std, warp1=SinhArcsinh(m=1), warp2=SinhArcsinh(m=1)),
    }
    return chains[method]()


def warm_state(model):
    """The state to start the next iteration's fit from: all but Standardize's statistics of this data."""
    from botorch.models.transforms.outcome import Standardize

    skip = {f"{name}." for name, module in model.named_modules() if isinstance(module, Standardize)}
    skip = {prefix.lstrip(".") for prefix in skip}
    return {k: v.clone() for k, v in model.state_dict().items() if not any(k.startswith(p) for p in skip if p)}


def power_transform(Y):
    from sklearn.preprocessing import PowerTransformer

    method = "box-cox" if (Y > 0).all() else "yeo-johnson"
    return PowerTransformer(method=method, standardize=True).fit_transform(Y)


def botorch_step(method, X, Y, state):
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    start = time.perf_counter()
    targets = power_transform(Y) if method == "power" else Y
    train_X, train_Y = torch.tensor(X), torch.tensor(targets)
    model = SingleTaskGP(train_X, train_Y, outcome_transform=outcome_transform(method))
    if state is not None:
        model.load_state_dict(state, strict=False)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    fitted = time.perf_counter()
    minimize = GenericMCObjective(lambda samples, X=None: -samples[..., 0])
    acqf = qLogNoisyExpectedImprovement(model, X_baseline=train_X, objective=minimize, prune_baseline=True)
    bounds = torch.stack([torch.zeros(X.shape[1]), torch.ones(X.shape[1])]).double()
    candidate, _ = optimize_acqf(acqf, bounds=bounds, q=1, **ACQF_OPTIONS)
    return candidate[0].numpy(), warm_state(model), fitted - start, time.perf_counter() - fitted


def run_botorch(task, method, seed, evals):
    import torch

    torch.manual_seed(seed)
    X = sobol(task.dim, N_INIT, seed)
    Y = np.array([[task(x)] for x in X])
    state, fit_s, acq_s, fallbacks = None, [], [], 0
    while len(Y) < evals:
        try:
            x, state, fit, acq = botorch_step(method, X, Y, state)
        except Exception as error:  # noqa: BLE001 - a failed step takes a random point and is counted
            print(f"{task.name} {method} {seed}: {type(error).__name__}: {error}", file=sys.stderr)
            x, state, fit, acq, fallbacks = (
                np.random.default_rng([seed, len(Y)]).random(task.dim),
                None,
                0,
                0,
                fallbacks + 1,
            )
        fit_s.append(fit), acq_s.append(acq)
        X, Y = np.vstack([X, x]), np.vstack([Y, [[task(x)]]])
    return dict(y=Y[:, 0].tolist(), fit_s=fit_s, acq_s=acq_s, fallbacks=fallbacks)


def run_random(task, method, seed, evals):
    X = np.random.default_rng(seed).random((evals, task.dim))
    return dict(y=[task(x) for x in X], fit_s=[], acq_s=[], fallbacks=0)


def run_hebo(task, method, seed, evals):
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers import hebo as hebo_module

    np.random.seed(seed)
    torch.manual_seed(seed)
    fit_s = []
    original = hebo_module.get_model

    def timed_model(*args, **kwargs):  # HEBO fits inside suggest(): time the model's fit
        model = original(*args, **kwargs)
        fit = model.fit

        def timed_fit(*a, **k):
            start = time.perf_counter()
            fit(*a, **k)
            fit_s.append(time.perf_counter() - start)

        model.fit = timed_fit
        return model

    hebo_module.get_model = timed_model
    space = DesignSpace().parse([{"name": f"x{i}", "type": "num", "lb": 0.0, "ub": 1.0} for i in range(task.dim)])
    optimizer = hebo_module.HEBO(space, scramble_seed=seed)
    ys, totals = [], []
    while len(ys) < evals:
        start = time.perf_counter()
        before = len(fit_s)
        suggestion = optimizer.suggest(n_suggestions=1)
        if len(fit_s) > before:
            totals.append(time.perf_counter() - start)
        x = suggestion[[f"x{i}" for i in range(task.dim)]].to_numpy()[0]
        ys.append(task(x))
        optimizer.observe(suggestion, np.array([[ys[-1]]]))
    hebo_module.get_model = original
    fit_s = fit_s[-len(totals) :] if totals else []
    return dict(y=ys, fit_s=fit_s, acq_s=[t - f for t, f in zip(totals, fit_s)], fallbacks=0)


def run_ax(task, method, seed, evals):
    import torch
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
    from ax.api.utils.structs import GenerationStrategyDispatchStruct
    from ax.generators.torch.botorch_modular.surrogate import ModelConfig
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize, TanhWarp

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("ax"):
            logging.getLogger(name).setLevel(logging.WARNING)
    torch.manual_seed(seed)
    client = Client(random_seed=seed)
    names = [f"x{i}" for i in range(task.dim)]
    client.configure_experiment(
        parameters=[RangeParameterConfig(name=n, parameter_type="float", bounds=(0.0, 1.0)) for n in names]
    )
    client.configure_optimization(objective="-loss")
    struct = GenerationStrategyDispatchStruct(method="fast", initialization_random_seed=seed)
    config = None
    if method == "ax-warp":
        struct = GenerationStrategyDispatchStruct(
            method="custom", initialization_random_seed=seed
        )  # our recommended warp a priori (best of ours on held-out tasks, NOTES.md)
        config = ModelConfig(
            botorch_model_class=SingleTaskGP,
            outcome_transform_classes=[Standardize, TanhWarp],
            outcome_transform_options={"TanhWarp": {"learn_scale": True}},
            name="TanhWarp",
        )
    client.set_generation_strategy(choose_generation_strategy(struct, model_config=config))
    ys, fit_s, acq_s = [], [], []
    while len(ys) < evals:
        for index, parameters in client.get_next_trials(max_trials=1).items():
            run = client._experiment.trials[index].generator_runs[0]
            if run._generation_node_name != "Sobol" and run.fit_time is not None:
                fit_s.append(run.fit_time), acq_s.append(run.gen_time or 0.0)
            ys.append(task([parameters[n] for n in names]))
            client.complete_trial(index, raw_data={"loss": ys[-1]})
    return dict(y=ys, fit_s=fit_s, acq_s=acq_s, fallbacks=0)


def run_one(task, method, seed, evals):
    runner = {"hebo": run_hebo, "ax": run_ax, "ax-warp": run_ax, "random": run_random}.get(method, run_botorch)
    start = time.perf_counter()
    record = runner(task, method, seed, evals)
    record["best"] = np.minimum.accumulate(record["y"]).tolist()
    record.update(task=task.name, method=method, seed=seed, evals=evals, env=ENV.get(method, "cur"))
    record["wall_s"] = time.perf_counter() - start
    return record


# ---------------------------------------------------------------- results file


def read_results(path):
    """(header, runs) of a results file; runs keyed by (task, method, seed)."""
    header, runs = None, {}
    for record in read_jsonl(path):
        if "header" in record:
            header = header or record
        else:
            runs[record["task"], record["method"], record["seed"]] = record
    return header, runs


def versions():
    from importlib import metadata

    packages = ["torch", "botorch", "gpytorch", "linear_operator", "scikit-learn", "scipy", "numpy", "hebo"]
    packages += ["ax-platform", "pandas"]
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return dict(python=platform.python_version(), packages=found)


def revision():
    import tomllib

    pins = tomllib.loads((ROOT / "upstream" / "current.toml").read_text())
    return {package: pins[package]["revision"] for package in ("botorch", "gpytorch", "linear_operator")}


# ---------------------------------------------------------------- driver and worker


def worker(args):
    import torch

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.double)
    _, done = read_results(args.results)
    for task_name in args.tasks:
        task = None
        for method in args.methods:
            if (task_name, method, args.seed) in done:
                continue
            task = task or Task(task_name)
            record = run_one(task, method, args.seed, args.evals)
            append_jsonl(args.results, record)
            print(
                f"{time.strftime('%H:%M:%S')} {task_name} {method} seed {args.seed}: best {record['best'][-1]:.5g}"
                f" in {record['wall_s']:.1f} s",
                flush=True,
            )


def header(args, environments):
    found = {}
    for env in environments:
        out = subprocess.run([PYTHONS[env], __file__, "versions"], capture_output=True, text=True, check=True)
        found[env] = json.loads(out.stdout)
    return dict(
        header=True,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        revision=revision(),
        environments=found,
        machine=dict(node=platform.node(), processor=platform.processor(), cpus=os.cpu_count(), threads=1),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        evals=args.evals,
        n_init=N_INIT,
        acqf_options=ACQF_OPTIONS,
        tasks=args.tasks,
        methods=args.methods,
    )


def drive(args):
    environments = sorted({ENV.get(m, "cur") for m in args.methods})
    old, done = read_results(args.results)
    if old is None:
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        append_jsonl(args.results, header(args, environments))
    elif old["evals"] != args.evals or old["revision"] != revision():
        sys.exit(
            f"{args.results}: made with evals {old['evals']} at revision {old['revision']}, not these; "
            "use another --results"
        )
    for seed in range(args.seeds):
        for task in args.tasks:
            for env in ("cur", "hebo", "ax"):
                methods = [m for m in args.methods if ENV.get(m, "cur") == env and (task, m, seed) not in done]
                if not methods:
                    continue
                command = [
                    PYTHONS[env],
                    __file__,
                    "worker",
                    "--results",
                    str(args.results),
                    "--seed",
                    str(seed),
                    "--evals",
                    str(args.evals),
                    "--tasks",
                    task,
                    "--methods",
                    *methods,
                ]
                subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            done = read_results(args.results)[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["run", "worker", "versions"])
    parser.add_argument("--quick", action="store_true", help="2 tasks, 2 seeds, 12 evaluations")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="worker: the seed")
    parser.add_argument("--evals", type=int, default=30)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "versions":
        return print(json.dumps(versions()))
    if args.quick:
        args.tasks, args.seeds, args.evals = QUICK_TASKS, 2, 12
    if args.results is None:
        name = f"bo_tuning-current-r{revision()['botorch']}" + ("-quick" if args.quick else "")
        args.results = (Path("/tmp") if args.quick else ROOT / "benchmarks" / "results") / f"{name}.jsonl"
    (worker if args.mode == "worker" else drive)(args)


if __name__ == "__main__":
    main()
