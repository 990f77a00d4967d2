"""`editlab train`: the InstructPix2Pix recipe and its successors on accelerate.

    >>> from editlab.train import load_config, train
    >>> config = load_config("configs/train/tiny.yaml", ["--max_steps", "20"])   # doctest: +SKIP
    >>> result = train(config)                                                  # doctest: +SKIP
    >>> result.export_dir                                                       # doctest: +SKIP
    PosixPath('runs/tiny/model')

Modules: config (typed config + overrides), readers (shards, HF datasets, webdataset, toyworld),
data (tensors), buckets, batches (resumable batch plans), multitask (DMTL/LMTL), recipe (IP2P),
cache (latents), vae (VAE stage), loop (accelerate), evaluate (toyworld oracle), export (diffusers folder).
"""

from editlab.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config", "train"]


def __getattr__(name: str):
    if name == "train":
        from editlab.train.loop import train

        return train
    raise AttributeError(name)
