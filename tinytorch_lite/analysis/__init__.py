"""Course material beside the library: plots, profiling, the extrapolation lab, cited reference data, the timer.

`tinytorch_lite.core` holds the layers and cost formulas later modules import; the modules here
measure, draw and explain them for the course. Compiled from the solution notebooks by `make export`.
"""
