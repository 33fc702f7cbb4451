"""Device names: 'auto' follows what torch sees, a bad or absent device is one line."""

from __future__ import annotations

import pytest
import torch

from t2tsearch.device import resolve_device
from t2tsearch.errors import UserError


def test_auto_is_cuda_exactly_when_torch_sees_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected


def test_a_named_device_or_a_torch_device_passes_through():
    assert resolve_device("cpu") == torch.device("cpu")
    given = torch.device("cpu")
    assert resolve_device(given) is given


def test_an_unknown_device_is_one_line():
    with pytest.raises(UserError, match="unknown device 'tpu-please'") as err:
        resolve_device("tpu-please")
    assert "\n" not in str(err.value)


def test_a_cuda_device_torch_cannot_see_is_one_line():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(UserError, match=f"device 'cuda:{count}' asked for") as err:
        resolve_device(f"cuda:{count}")  # one past the last device torch sees (or none at all)
    assert "\n" not in str(err.value)
