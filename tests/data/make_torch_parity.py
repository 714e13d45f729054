"""Write tests/data/torch_parity.npz: PyTorch's answers on the cases of tests/torch_parity_cases.py.

Run with torch installed (`.venv/bin/pip install -e ".[bench]"`), from the repository root:

    .venv/bin/python tests/data/make_torch_parity.py

tests/test_torch_parity.py compares against these where torch is missing, and checks that they are
still what torch answers where it is installed.
"""
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for torch_parity_cases

from torch_parity_cases import CASES, theirs  # noqa: E402

OUTPUT = HERE / "torch_parity.npz"


def main():
    arrays = {"torch_version": np.array(torch.__version__)}
    for case in CASES:
        for key, value in theirs(case).items():
            arrays[f"{case['name']}/{key}"] = value
    np.savez_compressed(OUTPUT, **arrays)
    print(f"wrote {len(CASES)} cases ({len(arrays) - 1} arrays) from torch {torch.__version__} to {OUTPUT}")


if __name__ == "__main__":
    main()
