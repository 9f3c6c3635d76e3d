"""Importing the patched packages prints no warning (torch 2.13: DeprecationWarning, 2.14: FutureWarning).

linear_operator 0.6.1 decorated its two CG update helpers with the deprecated `torch.jit.script`, so every
`import gpytorch` or `import botorch` warned twice. The import runs in a fresh interpreter with every warning
turned into an error; the CG solve that used the helpers is checked against a direct solve.
"""

import subprocess
import sys

import torch
from linear_operator.utils.linear_cg import linear_cg


def test_import_raises_no_warning_at_all():
    command = [sys.executable, "-W", "error", "-c", "import linear_operator, gpytorch, botorch"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cg_without_torchscript_matches_a_direct_solve():
    torch.manual_seed(0)
    root = torch.randn(50, 50, dtype=torch.double)
    matrix = root @ root.mT / 50 + torch.eye(50, dtype=torch.double)
    rhs = torch.randn(50, 3, dtype=torch.double)
    # eps and stop_updating_after so small that CG runs to machine precision rather than to its defaults'
    # residual of about 1e-5
    solve = linear_cg(matrix.matmul, rhs, max_iter=200, tolerance=1e-10, eps=1e-30, stop_updating_after=1e-30)
    torch.testing.assert_close(solve, torch.linalg.solve(matrix, rhs), rtol=1e-8, atol=1e-9)
