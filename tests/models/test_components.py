import pytest

torch = pytest.importorskip("torch")

from editlab.errors import EditlabError  # noqa: E402
from editlab.models import COMPONENT_PRESETS, build_components, build_word_tokenizer  # noqa: E402


def test_word_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = build_word_tokenizer(["make", "the", "red", "star", "blue", "don't", "red star -> blue"], 8)
    ids = tokenizer("Make the RED star blue!").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id in ids  # "!" is not in the vocabulary
    assert tokenizer.convert_ids_to_tokens(tokenizer("red star->blue").input_ids)[1:-1] == ["red", "star", "->", "blue"]
    assert tokenizer("don't").input_ids[1] != tokenizer.unk_token_id
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    padded = loaded("make the red star", padding="max_length", max_length=loaded.model_max_length).input_ids
    assert len(padded) == 8 and padded[-1] == loaded.pad_token_id
    assert loaded("").input_ids == [tokenizer.bos_token_id, tokenizer.eos_token_id]


@pytest.mark.parametrize("preset", sorted(COMPONENT_PRESETS))
def test_presets_build_ip2p_components(preset):
    parts = build_components(preset, vocabulary=["make", "it", "red"], image_size=64)
    spec = parts.spec
    assert parts.unet.config.in_channels == 2 * spec.latent_channels
    assert parts.unet.config.cross_attention_dim == parts.text_encoder.config.hidden_size
    latent = 64 // spec.vae_scale_factor
    with torch.no_grad():
        z = parts.vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mode()
        assert z.shape == (1, spec.latent_channels, latent, latent)
        text = parts.text_encoder(parts.tokenizer(["make it red"], return_tensors="pt").input_ids)[0]
        out = parts.unet(torch.zeros(1, parts.unet.config.in_channels, latent, latent), 10, text).sample
    assert out.shape == z.shape


def test_same_seed_same_weights_and_unknown_preset():
    a = build_components("tiny", vocabulary=["x"], seed=1)
    b = build_components("tiny", vocabulary=["x"], seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.unet.parameters(), b.unet.parameters(), strict=True))
    with pytest.raises(EditlabError, match="did you mean 'tiny'"):
        build_components("tiney", vocabulary=["x"])
    with pytest.raises(EditlabError, match="vocabulary"):
        build_components("tiny")


def test_identity_vae_is_exact_and_loads_as_plain_autoencoderkl(tmp_path):
    from diffusers import AutoencoderKL

    from editlab.models.components import build_identity_vae

    vae = build_identity_vae(32)
    vae.save_pretrained(tmp_path)
    loaded = AutoencoderKL.from_pretrained(tmp_path)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        posterior = loaded.encode(x).latent_dist
        assert (posterior.mode() - x).abs().max() < 1e-4  # the latent is the image
        assert posterior.std.max() < 1e-5  # sampling adds (almost) nothing
        assert (loaded.decode(posterior.mode()).sample - x).abs().max() < 1e-4


def test_every_preset_holds_toyworlds_longest_instruction():
    """A recipe whose text encoder cuts toyworld instructions mid-phrase cannot learn them."""
    from editlab.models.components import COMPONENT_PRESETS
    from editlab.models.tokenizer import build_word_tokenizer
    from editlab.toyworld import generate_examples, vocabulary

    tokenizer = build_word_tokenizer(vocabulary(), model_max_length=64)
    longest = max(len(tokenizer(example.instruction).input_ids)
                  for split in ("train", "heldout") for example in generate_examples(600, seed=1, split=split))
    for name, spec in COMPONENT_PRESETS.items():
        assert spec.max_text_length >= longest, (name, spec.max_text_length, longest)
