"""Outside trace_mode, patched GPyTorch computes what unpatched GPyTorch computes: predictions of exact GPs (bit for
bit) and of their (batch) fantasy models, and their derivatives, with detach_test_caches and fast_pred_var on and
off. Fantasy models agree to 1e-10 rather than bit for bit, because they read their updated mean cache instead of
solving again (test_fantasy_mean_cache.py). The one intended difference, derivatives with respect to fantasy inputs
with detach_test_caches on (wrong on the release: see test_fantasy_gradients.py), is left out of the comparison."""

from pathlib import Path

import torch
from gpytorch_eager_cases import eager_results
from unpatched import unpatched_results


def test_eager_predictions_and_gradients_are_bit_identical_to_upstream(tmp_path: Path) -> None:
    upstream = unpatched_results("gpytorch", Path(__file__).with_name("gpytorch_eager_cases.py"), tmp_path)
    patched = eager_results()
    assert patched.keys() == upstream.keys()
    assert any(key.startswith("fantasy-detach0") and key.endswith("grad-fantasy_x") for key in patched)
    for name, value in patched.items():
        if "fantasy" in name:
            torch.testing.assert_close(value, upstream[name], rtol=0, atol=1e-10, msg=name)
        else:
            assert torch.equal(value, upstream[name]), name
