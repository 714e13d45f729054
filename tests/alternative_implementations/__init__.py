"""Catalogue of other correct student implementations, one file per notebook: the dual of
tests/wrong_implementations/.

Each file defines ALTERNATIVE_IMPLEMENTATIONS, a list of entries as described in
tests/implementation_catalogue.py, at least three for every solution region of its notebook: ways
students really write it (np.take or fancy indexing, np.add.at or np.bincount or a sort or a loop,
float64 intermediates, other error messages that state the same facts, ...).
tests/test_alternative_implementations.py grades them with the real grader: each keeps full marks.
"""
