"""compare_values: floats within tolerance, integers (tensors and Python ints) exactly."""

import torch

from tutor.grading.framework import compare_values


def test_an_off_by_one_token_id_is_a_difference_even_for_large_ids():
    expected = torch.tensor([[50256, 11, 0]])
    problem = compare_values(expected, torch.tensor([[50257, 11, 0]]))
    assert problem is not None and "50257" in problem, problem
    assert compare_values(expected, expected.clone()) is None


def test_an_off_by_one_count_is_a_difference():
    assert compare_values(6144, 6145) is not None
    assert compare_values(6144, 6144) is None
    assert compare_values(3, 3.0) is None  # the same value as a float is fine


def test_floats_keep_their_tolerance():
    assert compare_values(torch.tensor([1.0, 2.0]), torch.tensor([1.0 + 1e-7, 2.0])) is None
    assert compare_values(torch.tensor([1.0, 2.0]), torch.tensor([1.1, 2.0])) is not None
    assert compare_values(0.5, 0.5 + 1e-9) is None
    assert compare_values(0.5, 0.6) is not None
