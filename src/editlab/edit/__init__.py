"""The edit engine's building blocks: sizing, region masks, guidance sweeps, model resolution.

Light to import (numpy and PIL only); torch-based helpers import torch inside functions.
"""
