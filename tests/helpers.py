"""Helpers shared by the package tests."""
from __future__ import annotations

import gc
import importlib.util
import weakref

import numpy as np
import pytest

from tinytorch_lite.core.tensor import Tensor

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (pip install torch==2.13.0)")


def assert_freed_without_cyclic_gc(make_output, run_backward):
    """The output of make_output() dies at `del`, with the cyclic garbage collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        out = make_output()
        if run_backward:
            weights = np.linspace(-1.0, 2.0, out.size).reshape(out.shape)
            (out * Tensor(weights, dtype=out.dtype)).sum().backward()
        output, closure = weakref.ref(out), weakref.ref(out._backward)
        del out
        assert output() is None, "the output outlived its last reference: its _backward closure refers to it"
        assert closure() is None, "the _backward closure outlived its output"
    finally:
        if was_enabled:
            gc.enable()
