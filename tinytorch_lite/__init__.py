"""tinytorch_lite: a small numpy deep-learning library built in the embeddings course.

The modules under `tinytorch_lite.core` are compiled from the solution notebooks in `solutions/`
by `make export`.
"""

__version__ = "0.1.0"
