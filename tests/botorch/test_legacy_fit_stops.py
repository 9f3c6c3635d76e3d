"""A fit that reaches L-BFGS-B's iteration (or evaluation) limit is STOPPED, not a failure, with any SciPy.

SciPy 1.15 reworded L-BFGS-B's messages ("TOTAL NO. of ITERATIONS" became "TOTAL NO. OF ITERATIONS", "f AND g
EVALUATIONS" became "F,G EVALUATIONS"). BoTorch 0.12.0 only knew the old wording, so `scipy_minimize` called such
a run a FAILURE and `fit_gpytorch_mll` retried it from resampled priors until it raised ModelFittingError.
The reference is SciPy itself: `scipy.optimize.minimize` run directly on the same function reports status 1
(a limit was reached) or 2 (abnormal termination), and BoTorch's status must follow that number, whatever the text.
"""

import warnings

import numpy as np
import pytest
import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.optim.core import OptimizationStatus, scipy_minimize
from botorch.optim.fit import fit_gpytorch_mll_scipy
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy.optimize import minimize, rosen, rosen_der

X0 = np.array([-1.2, 1.0, -0.5, 0.8])


def rosen_torch(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def botorch_minimize(options, flip_gradient=False):
    """BoTorch's scipy_minimize on the Rosenbrock function (autograd gradients), from X0."""
    x = torch.tensor(X0, dtype=torch.double, requires_grad=True)

    def closure():
        loss = rosen_torch(x)
        (grad,) = torch.autograd.grad(loss, x)
        return loss, (-grad if flip_gradient else grad,)

    result = scipy_minimize(closure, {"x": x}, options=options)
    return result, x.detach().numpy()


def scipy_reference(options, flip_gradient=False):
    """scipy.optimize.minimize with SciPy's own Rosenbrock function and gradient, from X0."""
    jac = (lambda x: -rosen_der(x)) if flip_gradient else rosen_der
    return minimize(rosen, X0, jac=jac, method="L-BFGS-B", options=options)


@pytest.mark.parametrize("options", [{"maxiter": 3}, {"maxfun": 2}], ids=["maxiter", "maxfun"])
def test_limit_reached_is_stopped(options):
    reference = scipy_reference(options)
    assert reference.status == 1  # SciPy: the iteration or evaluation limit was reached
    result, x = botorch_minimize(options)
    assert result.message == reference.message
    assert result.status == OptimizationStatus.STOPPED, (result.status, result.message)
    assert result.step == reference.nit
    np.testing.assert_allclose(result.fval, reference.fun, rtol=1e-10)
    np.testing.assert_allclose(x, reference.x, rtol=1e-10, atol=1e-12)


def test_abnormal_termination_is_still_failure():
    # A gradient of the wrong sign makes the line search fail: SciPy's status 2, a genuine failure.
    reference = scipy_reference({"maxiter": 20}, flip_gradient=True)
    assert reference.status == 2
    result, _ = botorch_minimize({"maxiter": 20}, flip_gradient=True)
    assert result.message == reference.message
    assert result.status == OptimizationStatus.FAILURE


def test_convergence_is_success():
    reference = scipy_reference({"maxiter": 500})
    assert reference.status == 0
    result, x = botorch_minimize({"maxiter": 500})
    assert result.status == OptimizationStatus.SUCCESS
    assert result.step == reference.nit
    np.testing.assert_allclose(x, reference.x, rtol=1e-8, atol=1e-10)


def gp_mll():
    X = torch.linspace(0, 1, 20, dtype=torch.double).unsqueeze(-1)
    model = SingleTaskGP(X, torch.sin(6 * X))
    return ExactMarginalLogLikelihood(model.likelihood, model)


def test_fit_reaching_maxiter_returns_first_attempt():
    options = {"maxiter": 2}
    results = []

    def optimizer(mll, **kwargs):
        results.append(fit_gpytorch_mll_scipy(mll, **kwargs))
        return results[-1]

    mll = gp_mll()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)  # may be rethrown: allowed
        fitted = fit_gpytorch_mll(mll, optimizer=optimizer, optimizer_kwargs={"options": options})
    assert fitted is mll and not mll.training  # a successful fit: eval mode
    assert [r.status for r in results] == [OptimizationStatus.STOPPED]  # one attempt, no retries
    assert results[0].step == options["maxiter"]

    # Reference: one direct optimizer run from the same initial hyperparameters; the fit kept its result.
    reference_mll = gp_mll().train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)  # 0.12.0 warns on STOPPED, later releases do not
        reference = fit_gpytorch_mll_scipy(reference_mll, options=options)
    assert reference.status == OptimizationStatus.STOPPED and "ITERATIONS REACHED LIMIT" in reference.message
    state, reference_state = mll.state_dict(), reference_mll.state_dict()
    assert state.keys() == reference_state.keys()
    for name, value in state.items():
        torch.testing.assert_close(value, reference_state[name], rtol=0, atol=0, msg=name)
