"""Independent references for posteriors of models with output warps, from the forward transform only.

Nothing here calls a posterior's own inverse maps (`_to_original`, `untransform`, `untransform_posterior`) or its
log-Jacobian (`log_abs_det_jacobian`, `_log_density_correction`). The ingredients are:
- the latent Gaussian, solved by hand from the kernel, the mean constant, the noise and the training outcomes pushed
  through the forward transform `T` (the eval-mode outcome transform, original units -> latent);
- `T` itself, its derivative by autograd, and its inverse by bisection (root finding on `T`);
- SciPy's adaptive quadrature of the change-of-variables density `phi((T(y) - m) / s) T'(y) / s`.
"""

import math

import numpy as np
import torch
from scipy import special, stats

NODES = 32


def forward(model, Y: torch.Tensor) -> torch.Tensor:
    """T(Y): the model's outcome transform in eval mode (its fitted statistics and learned parameters)."""
    transform = model.outcome_transform
    modes = {module: module.training for module in transform.modules()}
    transform.eval()
    try:
        with torch.no_grad():
            return transform(Y)[0]
    finally:
        for module, mode in modes.items():
            module.training = mode


def derivative(model, Y: torch.Tensor) -> torch.Tensor:
    """T'(Y), elementwise, by autograd of the forward transform."""
    transform = model.outcome_transform
    modes = {module: module.training for module in transform.modules()}
    transform.eval()
    try:
        with torch.enable_grad():
            Y = Y.detach().clone().requires_grad_(True)
            (dZ,) = torch.autograd.grad(transform(Y)[0].sum(), Y)
        return dZ
    finally:
        for module, mode in modes.items():
            module.training = mode


def numeric_inverse(model, Z: torch.Tensor, positive: bool = False, iterations: int = 200) -> torch.Tensor:
    """T^{-1}(Z) by bisection on the increasing map T: a bracket grown by doubling, then halved to the last bit.

    For outcomes that must be positive (Box-Cox), the bisection runs on log(y).
    """
    Z = Z.detach()

    def T(v):
        return forward(model, v.exp() if positive else v)

    low, high = -torch.ones_like(Z), torch.ones_like(Z)
    limit = 700.0 if positive else torch.finfo(Z.dtype).max  # exp(+-700) is finite and nonzero
    for _ in range(1100):
        below = (T(low) > Z) & (low > -limit)
        low = torch.where(below, (2 * low).clamp_min(-limit), low)
        above = (T(high) < Z) & (high < limit)
        high = torch.where(above, (2 * high).clamp_max(limit), high)
        if not (below.any() or above.any()):
            break
    for _ in range(iterations):
        middle = (low + high) / 2
        if bool(((middle == low) | (middle == high)).all()):
            break
        too_high = T(middle) > Z
        high = torch.where(too_high, middle, high)
        low = torch.where(too_high, low, middle)
    middle = (low + high) / 2
    return middle.exp() if positive else middle


def latent_gaussian(
    model, X: torch.Tensor, Y: torch.Tensor, X_test: torch.Tensor, observation_noise: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the latent GP at `X_test` (n x d), solved by hand, for a one-output SingleTaskGP.

    The training targets are the training outcomes `Y` (in original units) pushed through T; the kernel, the mean
    constant and the noise are the model's.
    """
    with torch.no_grad():
        Z = forward(model, Y).squeeze(-1)
        K = model.covar_module(X).to_dense()
        k = model.covar_module(X_test, X).to_dense()
        k_diagonal = model.covar_module(X_test, diag=True)
        noise = model.likelihood.noise.squeeze()
        constant = model.mean_module.constant
        L = torch.linalg.cholesky(K + noise * torch.eye(len(X), dtype=K.dtype))
        alpha = torch.cholesky_solve((Z - constant).unsqueeze(-1), L).squeeze(-1)
        mean = constant + k @ alpha
        V = torch.linalg.solve_triangular(L, k.mT, upper=False)
        variance = k_diagonal - V.square().sum(0)
        return mean, variance + noise if observation_noise else variance


class Marginal:
    """The marginal of Y = T^{-1}(Z), Z ~ N(m, s^2): quantiles, density and moments from T."""

    def __init__(self, model, m: float, s: float, positive: bool = False):
        self.model, self.m, self.s, self.positive = model, m, s, positive

    def T(self, y: float) -> float:
        return forward(self.model, torch.tensor([[y]], dtype=torch.double)).item()

    def inverse(self, z) -> np.ndarray:
        Z = torch.as_tensor(np.atleast_1d(z), dtype=torch.double).reshape(-1, 1)
        return numeric_inverse(self.model, Z, positive=self.positive).flatten().numpy()

    def quantile(self, level) -> np.ndarray:
        return self.inverse(self.m + self.s * stats.norm.ppf(level))

    def density(self, y) -> np.ndarray:
        Y = torch.as_tensor(np.atleast_1d(y), dtype=torch.double).reshape(-1, 1)
        if self.positive:
            Y = Y.clamp_min(torch.finfo(Y.dtype).tiny)
        Z = forward(self.model, Y).flatten().numpy()
        return stats.norm(self.m, self.s).pdf(Z) * derivative(self.model, Y).flatten().numpy()

    def _integrate(self, f, edges: np.ndarray) -> float:
        """int f(y) p(y) dy over [edges[0], edges[-1]], by Gauss-Legendre rules on each piece between edges."""
        return self._gauss_legendre(lambda y: f(y) * self.density(y), edges)

    @staticmethod
    def _gauss_legendre(integrand, edges: np.ndarray) -> float:
        """A Gauss-Legendre rule of NODES nodes on each piece (one vectorized call of the integrand)."""
        nodes, weights = special.roots_legendre(NODES)
        low, high = edges[:-1, None], edges[1:, None]
        y = low + (high - low) * (nodes + 1) / 2
        return float(((high - low) / 2 * weights * integrand(y.ravel()).reshape(y.shape)).sum())

    def _latent_edges(self, low_sd: float = -12.0, high_sd: float = 12.0) -> np.ndarray:
        """The images of latent points a quarter of a standard deviation apart: pieces where the density is smooth."""
        return self.inverse(self.m + self.s * np.arange(low_sd, high_sd + 0.125, 0.25))

    def moments(self) -> tuple[float, float]:
        edges = self._latent_edges()
        mean = self._integrate(lambda y: y, edges)
        return mean, self._integrate(lambda y: (y - mean) ** 2, edges)

    def probability_of_improvement(self, best_f: float, maximize: bool = True) -> float:
        u = (self.T(best_f) - self.m) / self.s
        return stats.norm.sf(u) if maximize else stats.norm.cdf(u)

    def expected_improvement(self, best_f: float, maximize: bool = True) -> float:
        """E max(Y - best_f, 0) = int_{best_f}^inf P(Y > y) dy (or int^{best_f} P(Y < y) dy when minimizing).

        The integrand decays on the scale of the latent standard deviation over the distance to the mean: the
        pieces are the images of latent points spaced that finely near best_f, up to 40 standard deviations beyond.
        """
        z0 = self.T(best_f)
        sign = 1 if maximize else -1
        u0 = sign * (z0 - self.m) / self.s
        step = self.s / max(1.0, u0) / 8
        far = (max(u0, 0.0) + 40.0) * self.s
        latent = z0 + sign * np.concatenate([[0.0], np.geomspace(step, far, 400)])
        edges = np.concatenate([[best_f], self.inverse(latent[1:])])

        def tail(y):
            Y = torch.as_tensor(y, dtype=torch.double).reshape(-1, 1)
            u = (forward(self.model, Y).flatten().numpy() - self.m) / self.s
            return special.ndtr(-u) if maximize else special.ndtr(u)

        return sign * self._gauss_legendre(tail, edges)


def log_marginal_likelihood(model, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """log N(T(y); c, K + noise I) + sum_i log T'(y_i): the likelihood of the outcomes in original units."""
    with torch.no_grad():
        Z = forward(model, Y).squeeze(-1)
        covariance = model.covar_module(X).to_dense() + model.likelihood.noise.squeeze() * torch.eye(len(X))
        mean = model.mean_module.constant.expand(len(X))
        gaussian = torch.distributions.MultivariateNormal(mean, covariance).log_prob(Z)
    return gaussian + derivative(model, Y).log().sum()


def monte_carlo(model, m: torch.Tensor, s: torch.Tensor, num_samples: int, seed: int, positive: bool = False):
    """Seeded samples of Y = T^{-1}(m + s U), U standard normal, by the numeric inverse (num_samples x n)."""
    U = torch.randn(num_samples, len(m), generator=torch.Generator().manual_seed(seed), dtype=torch.double)
    Z = m + s * U
    return numeric_inverse(model, Z.reshape(-1, 1), positive=positive).reshape(Z.shape)


def within_standard_errors(estimate: float, samples: np.ndarray, value: float, count: float = 5.0) -> bool:
    """|estimate - value| <= count standard errors of the sample mean `estimate` of `samples`."""
    return abs(estimate - value) <= count * samples.std(ddof=1) / math.sqrt(len(samples))
