"""Eager predictions and derivatives of exact GPs and their fantasy models, computed the same way by patched and by
unpatched GPyTorch.

Imported by test_eager_unchanged.py, and run as a script against the unpatched sdist:
    python gpytorch_eager_cases.py OUTPUT_FILE
"""

import sys

import gpytorch
import torch


class ExactGPModel(gpytorch.models.ExactGP):
    def __init__(self, train_x, train_y):
        super().__init__(train_x, train_y, gpytorch.likelihoods.GaussianLikelihood())
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def _model() -> ExactGPModel:
    torch.manual_seed(0)
    train_x = torch.rand(12, 2, dtype=torch.float64)
    model = ExactGPModel(train_x, torch.sin(4 * train_x).sum(-1)).double()
    model.likelihood.noise = 0.05
    return model.eval()


def _predict(results: dict, name: str, model, test_x: torch.Tensor, wrt: dict) -> None:
    """Mean, variance and their derivatives with respect to `wrt` (tensors that require gradients)."""
    output = model(test_x)
    mean, variance = output.mean, output.variance
    results[f"{name}-mean"] = mean.detach()
    results[f"{name}-variance"] = variance.detach()
    gradients = torch.autograd.grad((mean.sum() + variance.sum()), list(wrt.values()), allow_unused=True)
    for (key, _), gradient in zip(wrt.items(), gradients):
        results[f"{name}-grad-{key}"] = torch.zeros(()) if gradient is None else gradient


def eager_results() -> dict[str, torch.Tensor]:
    results = {}
    for detach, fast in ((True, True), (True, False), (False, True), (False, False)):
        tag = f"detach{int(detach)}-fast{int(fast)}"
        with gpytorch.settings.detach_test_caches(detach), gpytorch.settings.fast_pred_var(fast):
            model = _model()
            test_x = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
            outputscale = model.covar_module.raw_outputscale
            _predict(results, f"model-{tag}", model, test_x, {"test_x": test_x, "outputscale": outputscale})
            fantasy_x = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
            fantasy = model.get_fantasy_model(fantasy_x, torch.cos(3 * fantasy_x).sum(-1).detach())
            wrt = {"test_x": test_x}
            if not detach:  # with detach_test_caches on, the patch makes these exact where the release drops them
                wrt["fantasy_x"] = fantasy_x
            _predict(results, f"fantasy-{tag}", fantasy, test_x, wrt)
            batch = model.get_fantasy_model(fantasy_x.detach().expand(4, 3, 2), torch.randn(4, 3, dtype=torch.float64))
            _predict(results, f"batch-fantasy-{tag}", batch, test_x, {"test_x": test_x})
    return results


if __name__ == "__main__":
    torch.save(eager_results(), sys.argv[1])
    print(gpytorch.__file__)
