"""Outcome transforms are GPyTorch modules: priors, constraints, hyperparameters and added loss terms work."""

import math
import pickle

from pathlib import Path

import gpytorch
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import ChainedOutcomeTransform, OutcomeTransform, Standardize
from gpytorch.constraints import Positive
from gpytorch.mlls import AddedLossTerm, ExactMarginalLogLikelihood
from gpytorch.priors import NormalPrior
from unpatched import unpatched_results


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


class LearnableShift(Shift):
    """Shift with parameters that require gradients; trainable only if it opts in with `is_trainable`."""

    def __init__(self, opt_in: bool):
        super().__init__()
        self.requires_grad_(True)
        self.opt_in = opt_in

    @property
    def is_trainable(self):
        return self.opt_in


def test_a_transform_with_parameters_stays_fixed_unless_it_opts_in():
    model, _ = model_and_mll(LearnableShift(opt_in=False))
    targets = model.train_targets.clone()
    model.initialize(**{"outcome_transform.shift": 1.5})
    model.train()
    model(*model.train_inputs)
    torch.testing.assert_close(model.train_targets, targets)  # applied once, at construction, as upstream does
    assert list(model.added_loss_terms()) == []


def test_an_opted_in_transform_is_applied_in_every_training_pass_without_changing_modes():
    chain = ChainedOutcomeTransform(std=Standardize(m=1), shift=LearnableShift(opt_in=True))
    model, mll = model_and_mll(chain)
    original = model.train_targets.clone()  # in train mode, in original units
    model.train()
    chain["std"].eval()  # a mix of modes, which a training pass leaves as it is
    model.initialize(**{"outcome_transform.shift.shift": 0.25})
    loss = mll(model(*model.train_inputs), model.train_targets)
    torch.testing.assert_close(model.train_targets, original)  # a training pass does not rewrite them
    assert [chain.training, chain["std"].training, chain["shift"].training] == [True, False, True]
    (gradient,) = torch.autograd.grad(loss, chain["shift"].shift)
    assert gradient.abs().item() > 0
    model.eval()  # eval mode: standardized with the fitted statistics, then shifted
    standardized = (original - original.mean()) / original.std()
    torch.testing.assert_close(model.train_targets, standardized - 0.25)
    assert not model.train_targets.requires_grad


def test_conditioned_model_carries_no_log_jacobian_term():
    model, _ = model_and_mll(ChainedOutcomeTransform(std=Standardize(m=1), shift=LearnableShift(opt_in=True)))
    model.eval()
    X = model.train_inputs[0]
    model(X[:2])  # builds the prediction caches that conditioning needs
    conditioned = model.condition_on_observations(X[:2] + 0.01, torch.zeros(2, 1, dtype=torch.double))
    assert len(list(model.added_loss_terms())) == 1 and list(conditioned.added_loss_terms()) == []


def test_a_model_pickled_by_unpatched_botorch_loads_and_fits(tmp_path):
    upstream = unpatched_results("botorch", Path(__file__).with_name("pickled_by_upstream.py"), tmp_path)
    loaded = pickle.loads(upstream["pickle"].numpy().tobytes())
    assert type(loaded.outcome_transform).__mro__[1] is OutcomeTransform  # our class, a gpytorch.Module
    mll = ExactMarginalLogLikelihood(loaded.likelihood, loaded)
    # named_priors() reaches the transform; the value is upstream's.
    assert math.isclose(mll_value(loaded, mll), upstream["mll"].item(), rel_tol=1e-12)
    fit_gpytorch_mll(mll)
    assert mll_value(loaded, mll) > upstream["mll"].item() + 0.01
    fresh = SingleTaskGP(upstream["X"], upstream["Y"], outcome_transform=Standardize(m=1))
    fresh.load_state_dict(loaded.state_dict())  # gpytorch's load hook is in place
    torch.testing.assert_close(fresh.outcome_transform.stdvs, loaded.outcome_transform.stdvs)
