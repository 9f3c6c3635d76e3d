"""Outcome transforms are GPyTorch modules: priors, constraints, hyperparameters and added loss terms work."""

import gpytorch
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import ChainedOutcomeTransform, OutcomeTransform, Standardize
from gpytorch.constraints import Positive
from gpytorch.mlls import AddedLossTerm, ExactMarginalLogLikelihood
from gpytorch.priors import NormalPrior


class Shift(OutcomeTransform):
    """Y - shift, with a prior on the shift and a positive `scale` that only carries a constraint.

    Its parameters are frozen, so that the model applies it once, at construction (trainable transforms are
    re-applied on every training pass: see test_output_warps.py).
    """

    def __init__(self):
        super().__init__()
        self.register_parameter("shift", torch.nn.Parameter(torch.zeros(1, dtype=torch.double)))
        self.register_prior("shift_prior", NormalPrior(0.0, 1.0), "shift")
        self.register_parameter("raw_scale", torch.nn.Parameter(torch.zeros(1, dtype=torch.double)))
        self.register_constraint("raw_scale", Positive())
        self.requires_grad_(False)

    def forward(self, Y, Yvar=None, X=None):
        return Y - self.shift, Yvar

    def untransform(self, Y, Yvar=None, X=None):
        return Y + self.shift, Yvar


class ConstantLoss(AddedLossTerm):
    def __init__(self, value: float):
        self.value = torch.tensor(value, dtype=torch.double)

    def loss(self):
        return self.value


def model_and_mll(outcome_transform):
    torch.manual_seed(0)
    X = torch.rand(10, 2, dtype=torch.double)
    Y = torch.sin(3 * X).sum(-1, keepdim=True)
    model = SingleTaskGP(X, Y, outcome_transform=outcome_transform)
    return model, ExactMarginalLogLikelihood(model.likelihood, model)


def mll_value(model, mll):
    model.train()
    return mll(model(*model.train_inputs), model.train_targets).item()


def test_outcome_transforms_are_gpytorch_modules():
    assert isinstance(Standardize(m=1), gpytorch.Module)
    chained = ChainedOutcomeTransform(first=Standardize(m=1), second=Shift())
    assert isinstance(chained, gpytorch.Module) and list(chained.keys()) == ["first", "second"]
    Y = torch.rand(5, 1, dtype=torch.double)
    transformed, noise = chained(Y)  # (Y, None): accepted although gpytorch.Module rejects None outputs
    assert noise is None
    torch.testing.assert_close(chained.untransform(transformed)[0], Y)


def test_prior_of_a_transform_enters_the_marginal_log_likelihood():
    model, mll = model_and_mll(Shift())
    assert "outcome_transform.shift_prior" in [name for name, *_ in model.named_priors()]
    before = mll_value(model, mll)
    model.initialize(**{"outcome_transform.shift": 1.5})
    after = mll_value(model, mll)
    # The training targets were transformed once, at construction; only the prior term changes.
    expected = -(1.5**2 - 0.0**2) / 2 / 10  # standard normal log density, per data point
    assert abs((after - before) - expected) < 1e-12


def test_hyperparameters_and_constraints_of_a_transform():
    model, _ = model_and_mll(Shift())
    names = [name for name, _ in model.named_hyperparameters()]
    assert "outcome_transform.shift" in names and "outcome_transform.raw_scale" in names
    constraints = dict(model.named_constraints())
    assert isinstance(constraints["outcome_transform.raw_scale_constraint"], Positive)


def test_added_loss_term_of_a_transform_enters_the_marginal_log_likelihood():
    transform = Shift()
    model, mll = model_and_mll(transform)
    before = mll_value(model, mll)
    transform.register_added_loss_term("penalty")
    transform.update_added_loss_term("penalty", ConstantLoss(-2.0))
    assert len(list(model.added_loss_terms())) == 1
    assert abs((mll_value(model, mll) - before) - (-2.0 / 10)) < 1e-12
