"""Image geometry shared by pipelines and editors: sizing (any size in = out) and region masks.

The floor under pipelines and editors: numpy and PIL only; torch-based helpers import torch
inside functions.
"""
