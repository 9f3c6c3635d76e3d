"""Slices of a BlockDiagLinearOperator equal the same slices of its dense matrix (GPyTorch #2747).

linear_operator 0.6.1 took row/column slices whose ends are multiples of the number of blocks as slices
within every block: wrong values (or a RuntimeError) for e.g. B[0:n, 0:n] with 2 blocks. The reference here
is a dense matrix assembled block by block, independently of linear_operator.
"""

import itertools
import random

import pytest
import torch
from linear_operator import to_dense, to_linear_operator
from linear_operator.operators import (
    BlockDiagLinearOperator,
    BlockInterleavedLinearOperator,
    CatLinearOperator,
    DenseLinearOperator,
)

# (batch shape, number of blocks, block size)
SHAPES = [((), 2, 10), ((), 4, 3), ((3,), 3, 4), ((2, 3), 4, 3)]


def blocks_of(batch_shape, num_blocks, block_size):
    torch.manual_seed(0)
    return torch.randn(*batch_shape, num_blocks, block_size, block_size, dtype=torch.double)


def block_diag(blocks, base):
    if base == "cat":  # as in BoTorch's ModelListGP posterior covariance
        parts = [to_linear_operator(blocks[..., i : i + 1, :, :]) for i in range(blocks.shape[-3])]
        return BlockDiagLinearOperator(CatLinearOperator(*parts, dim=-3))
    return BlockDiagLinearOperator(DenseLinearOperator(blocks))


def dense_block_diag(blocks):
    *batch_shape, num_blocks, n, _ = blocks.shape
    dense = torch.zeros(*batch_shape, num_blocks * n, num_blocks * n, dtype=blocks.dtype)
    for i in range(num_blocks):
        dense[..., i * n : (i + 1) * n, i * n : (i + 1) * n] = blocks[..., i, :, :]
    return dense


def dense_interleaved(blocks):
    *batch_shape, num_blocks, n, _ = blocks.shape
    dense = torch.zeros(*batch_shape, num_blocks * n, num_blocks * n, dtype=blocks.dtype)
    for i in range(num_blocks):
        dense[..., i::num_blocks, i::num_blocks] = blocks[..., i, :, :]
    return dense


def named_slices(num_blocks, n):
    """Slices within, across and of whole blocks, aligned with the block size or with the number of blocks."""
    size = num_blocks * n
    return {
        "first block": (slice(0, n), slice(0, n)),
        "second block": (slice(n, 2 * n), slice(n, 2 * n)),
        "last block, negative start": (slice(-n, None), slice(-n, None)),
        "first two blocks, open start": (slice(None, 2 * n), slice(None, 2 * n)),
        "all blocks, explicit ends": (slice(0, size), slice(0, size)),
        "off-diagonal block": (slice(0, n), slice(n, 2 * n)),
        "rows of a block, all columns": (slice(n, 2 * n), slice(None)),
        "all rows, columns of a block": (slice(None), slice(0, n)),
        "aligned with num_blocks": (slice(num_blocks, 2 * num_blocks), slice(num_blocks, 2 * num_blocks)),
        "aligned with num_blocks, negative": (slice(-num_blocks, None), slice(-num_blocks, None)),
        "aligned with num_blocks, rectangular": (slice(num_blocks, 3 * num_blocks), slice(0, size)),
        "within a block": (slice(1, n - 1), slice(1, n - 1)),
        "across blocks": (slice(n // 2, n + n // 2), slice(0, size)),
        "across blocks, square": (slice(1, size - 1), slice(1, size - 1)),
        "step": (slice(0, size, 2), slice(0, size, 2)),
        "step across blocks": (slice(1, size, 3), slice(0, size - 1, 2)),
    }


CASES = [
    (shape, base, name)
    for shape in SHAPES
    for base in ("dense", "cat")
    for name in named_slices(*shape[1:])
    if not (base == "cat" and name.startswith("step"))  # CatLinearOperator does not slice with steps
]


@pytest.mark.parametrize("shape, base, name", CASES)
def test_slice_equals_dense_slice(shape, base, name):
    blocks = blocks_of(*shape)
    row_index, col_index = named_slices(*shape[1:])[name]
    index = (..., row_index, col_index)
    result = block_diag(blocks, base)[index]
    expected = dense_block_diag(blocks)[index]
    assert result.shape == expected.shape
    torch.testing.assert_close(to_dense(result), expected, rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_whole_blocks_stay_block_diagonal(shape):
    blocks = blocks_of(*shape)
    n = shape[2]
    result = block_diag(blocks, "dense")[..., n : 2 * n, n : 2 * n]
    assert isinstance(result, BlockDiagLinearOperator)
    torch.testing.assert_close(result.base_linear_op.to_dense(), blocks[..., 1:2, :, :], rtol=0, atol=0)


@pytest.mark.parametrize("base", ["dense", "cat"])
def test_all_same_slices_of_a_small_operator(base):
    """Every non-empty slice with the same ends on both sides, and a sample of different ones."""
    blocks = blocks_of((), 2, 3)
    linear_op, expected = block_diag(blocks, base), dense_block_diag(blocks)
    ends = [None, *range(-6, 7)]
    slices = [slice(a, b) for a, b in itertools.product(ends, repeat=2) if len(range(*slice(a, b).indices(6)))]
    pairs = [(s, s) for s in slices] + random.Random(0).sample(list(itertools.product(slices, repeat=2)), 300)
    for row_index, col_index in pairs:
        result = to_dense(linear_op[row_index, col_index])
        torch.testing.assert_close(result, expected[row_index, col_index], rtol=0, atol=0)


def test_batch_indices_with_block_slices():
    blocks = blocks_of((3,), 3, 4)
    linear_op, expected = block_diag(blocks, "dense"), dense_block_diag(blocks)
    for index in [
        (0, slice(4, 12), slice(4, 12)),
        (torch.tensor([2, 0]), slice(0, 4), slice(0, 4)),
        (slice(1, 3), slice(8, 12), slice(8, 12)),
        (torch.tensor([1, 1]), slice(3, 9), slice(3, 9)),
    ]:
        torch.testing.assert_close(to_dense(linear_op[index]), expected[index], rtol=0, atol=0)


def test_gradients_through_block_slices():
    blocks = blocks_of((2,), 3, 4).requires_grad_(True)
    block_diag(blocks, "dense")[..., 4:12, 4:12].to_dense().sum().backward()
    expected = torch.zeros_like(blocks)
    expected[..., 1:3, :, :] = 1
    torch.testing.assert_close(blocks.grad, expected, rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_block_interleaved_slices_unchanged(shape):
    """BlockInterleavedLinearOperator shares BlockLinearOperator._getitem, whose slice arithmetic fits its layout."""
    blocks = blocks_of(*shape)
    linear_op, expected = BlockInterleavedLinearOperator(DenseLinearOperator(blocks)), dense_interleaved(blocks)
    for name, (row_index, col_index) in named_slices(*shape[1:]).items():
        index = (..., row_index, col_index)
        torch.testing.assert_close(to_dense(linear_op[index]), expected[index], rtol=0, atol=0, msg=name)
