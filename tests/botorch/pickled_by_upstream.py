"""Run with the unpatched BoTorch source first on the path: save a pickled SingleTaskGP and its MLL.

Usage: python pickled_by_upstream.py OUTPUT (prints the path of the botorch it imported).
"""

import pickle
import sys

import botorch
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood


def main(output: str) -> None:
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(10, 2, dtype=torch.double, generator=generator)
    Y = 5 + 3 * torch.sin(3 * X).sum(-1, keepdim=True)
    model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    model.likelihood.noise = 0.05
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    value = mll(model(*model.train_inputs), model.train_targets).detach()
    model.eval()
    pickled = torch.frombuffer(bytearray(pickle.dumps(model)), dtype=torch.uint8)
    torch.save({"pickle": pickled, "mll": value, "X": X, "Y": Y}, output)
    print(botorch.__path__[0])


if __name__ == "__main__":
    main(sys.argv[1])
