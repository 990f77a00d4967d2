"""One device rule for every job: explicit choice, then EDITLAB_DEVICE, then the best available."""

import pytest
import torch

from editlab.errors import EditlabError
from editlab.io.device import resolve_device


def test_explicit_then_environment_then_best(monkeypatch):
    monkeypatch.delenv("EDITLAB_DEVICE", raising=False)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None) in ("cuda", "mps", "cpu")
    monkeypatch.setenv("EDITLAB_DEVICE", "cpu")
    assert resolve_device("auto") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_only_torch_is_one_line_naming_the_fix(capsys, tmp_path):
    from editlab.cli.main import main
    from editlab.toyworld import generate_examples

    with pytest.raises(EditlabError, match="this torch has no CUDA.*pass --device cpu"):
        resolve_device("cuda")
    image = tmp_path / "in.png"
    next(iter(generate_examples(1, seed=0))).source.save(image)
    code = main(["edit", str(image), "make it red", "-o", str(tmp_path / "out.png"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--device cpu" in err
    assert not (tmp_path / "out.png").exists()


def test_unknown_device_is_refused():
    with pytest.raises(EditlabError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
