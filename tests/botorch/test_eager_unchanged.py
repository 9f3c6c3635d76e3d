"""Outside tracing, patched BoTorch computes exactly what unpatched BoTorch computes, bit for bit."""

from pathlib import Path

import torch
from eager_cases import eager_results
from unpatched import unpatched_results


def test_eager_posteriors_are_bit_identical_to_upstream(tmp_path: Path) -> None:
    upstream = unpatched_results("botorch", Path(__file__).with_name("eager_cases.py"), tmp_path)
    patched = eager_results()
    assert patched.keys() == upstream.keys()
    for name, value in patched.items():
        assert torch.equal(value, upstream[name]), name
