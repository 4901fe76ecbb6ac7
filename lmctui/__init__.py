"""lmctui: a terminal workbench for linear mode connectivity up to permutation."""

__version__ = "0.1.0"
