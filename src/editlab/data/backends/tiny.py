"""Tiny random models built in code (`model="tiny"`): every stage's plumbing runs offline in seconds.

Their outputs are meaningless; they exist so presets, tests and benchmarks exercise the real
loading, batching, attention and decoding code paths without downloading weights. Each builder
seeds torch locally, so the same call gives the same weights in every process.
"""

from __future__ import annotations

import functools
from typing import Any

from editlab.errors import require


def _seeded():
    torch = require("torch", "data")
    return torch.random.fork_rng(devices=[])


@functools.lru_cache(maxsize=4)
def byte_tokenizer(model_max_length: int = 77):
    """A byte-level tokenizer (4 specials + 256 byte tokens) that wraps text in <s> ... </s>."""
    tokenizers = require("tokenizers", "data")
    transformers = require("transformers", "data")
    from tokenizers import decoders, models, pre_tokenizers, processors

    # eos is id 3, not 2: CLIP's text model treats eos_token_id == 2 as "pool at the highest token id"
    specials = ["<pad>", "<s>", "<unk>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):  # its order varies between processes
        vocab.setdefault(char, len(vocab))
    tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", EOS)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                                eos_token="</s>", unk_token="<unk>", model_max_length=model_max_length)


VOCAB = 260  # 4 specials + 256 bytes
EOS = 3


def _clip_text_config(transformers, hidden: int = 32, projection: int | None = None):
    return transformers.CLIPTextConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=37,
                                       num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                       bos_token_id=1, eos_token_id=EOS, pad_token_id=0,
                                       **({"projection_dim": projection} if projection else {}))


def tiny_sd_components(seed: int = 0) -> dict[str, Any]:
    """UNet + VAE + CLIP text encoder + tokenizer + DDIM scheduler, Stable-Diffusion-shaped (32x32 images)."""
    from editlab.pipelines.tiny import tiny_vae

    torch = require("torch", "data")
    diffusers = require("diffusers", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        unet = diffusers.UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)
        vae = tiny_vae(32)  # the same tiny VAE as the edit stack's tests
        text_encoder = transformers.CLIPTextModel(_clip_text_config(transformers))
    scheduler = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                        clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    for module in (unet, vae, text_encoder):
        module.eval()
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": byte_tokenizer(), "scheduler": scheduler}


def tiny_clip(seed: int = 0):
    """(CLIPModel, image processor, tokenizer) with 32x32 inputs."""
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        vision = transformers.CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                                               num_hidden_layers=2, num_attention_heads=4)
        config = transformers.CLIPConfig(text_config=_clip_text_config(transformers).to_dict(),
                                         vision_config=vision.to_dict(), projection_dim=16)
        model = transformers.CLIPModel(config).eval()
    processor = _pil_processor(transformers, "CLIPImageProcessor")(size={"shortest_edge": 32},
                                                                   crop_size={"height": 32, "width": 32})
    return model, processor, byte_tokenizer()


def tiny_dinov2(seed: int = 0):
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        config = transformers.Dinov2Config(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                                           num_hidden_layers=2, num_attention_heads=4)
        model = transformers.Dinov2Model(config).eval()
    processor = _pil_processor(transformers, "BitImageProcessor")(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                               do_center_crop=True, image_mean=[0.485, 0.456, 0.406],
                                               image_std=[0.229, 0.224, 0.225])
    return model, processor


def tiny_causal_lm(seed: int = 0):
    """(LlamaForCausalLM, tokenizer): a random 2-layer LM that writes byte soup."""
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                                          bos_token_id=1, eos_token_id=EOS, pad_token_id=0)
        model = transformers.LlamaForCausalLM(config).eval()
    return model, byte_tokenizer(model_max_length=2048)


def _pil_processor(transformers, name: str):
    """The PIL image processor class (torchvision is not installed here; this also silences a warning)."""
    return getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)


def tiny_owlvit(seed: int = 0):
    """(OwlViTForObjectDetection, OwlViTProcessor) on 32x32 inputs, with the byte tokenizer."""
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        vision = transformers.OwlViTVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                                                 num_hidden_layers=2, num_attention_heads=4)
        text = transformers.OwlViTTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                             num_attention_heads=4, max_position_embeddings=16, bos_token_id=1,
                                             eos_token_id=EOS, pad_token_id=0)
        config = transformers.OwlViTConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32)
        model = transformers.OwlViTForObjectDetection(config).eval()
    image_processor = _pil_processor(transformers, "OwlViTImageProcessor")(
        size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    processor = transformers.OwlViTProcessor(image_processor=image_processor, tokenizer=byte_tokenizer(16))
    return model, processor


def tiny_sam(seed: int = 0):
    """(SamModel, SamProcessor) on 64x64 inputs."""
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    with _seeded():
        torch.manual_seed(seed)
        config = transformers.SamConfig(
            vision_config=transformers.SamVisionConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=16,
                output_channels=16, window_size=2, global_attn_indexes=[1], mlp_dim=32, num_pos_feats=8),
            prompt_encoder_config=transformers.SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=16,
                                                                      mask_input_channels=4),
            mask_decoder_config=transformers.SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2,
                                                                  num_attention_heads=2, mlp_dim=32,
                                                                  iou_head_hidden_dim=16))
        model = transformers.SamModel(config).eval()
    image_processor = _pil_processor(transformers, "SamImageProcessor")(
        size={"longest_edge": 64}, pad_size={"height": 64, "width": 64}, mask_size={"longest_edge": 16},
        mask_pad_size={"height": 16, "width": 16})
    return model, transformers.SamProcessor(image_processor=image_processor)


def tiny_grounding_dino(seed: int = 0):
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor): Swin + BERT-shaped, 32 px, a
    character-level WordPiece tokenizer built in code."""
    torch = require("torch", "data")
    transformers = require("transformers", "data")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *letters,
                                          *(f"##{c}" for c in letters)])}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = transformers.BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                               cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    with _seeded():
        torch.manual_seed(seed)
        swin = transformers.SwinConfig(image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                       window_size=2, out_features=["stage1", "stage2"])
        bert = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, max_position_embeddings=64)
        config = transformers.GroundingDinoConfig(
            backbone_config=swin, text_config=bert, d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32,
            decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10,
            num_feature_levels=2, encoder_n_points=1, decoder_n_points=1, max_text_len=32, use_timm_backbone=False)
        model = transformers.GroundingDinoForObjectDetection(config).eval()
    image_processor = _pil_processor(transformers, "GroundingDinoImageProcessor")(
        size={"shortest_edge": 32, "longest_edge": 32})
    return model, transformers.GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_vlm(seed: int = 0):
    """(LlavaForConditionalGeneration, LlavaProcessor): a tiny CLIP vision tower + tiny Llama, with a
    plain-text chat template; image-text-to-text plumbing without downloads."""
    import copy

    torch = require("torch", "data")
    transformers = require("transformers", "data")
    tokenizer = copy.deepcopy(byte_tokenizer(2048))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    with _seeded():
        torch.manual_seed(seed)
        vision = transformers.CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                                               num_hidden_layers=2, num_attention_heads=4)
        text = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=2048, bos_token_id=1, eos_token_id=EOS, pad_token_id=0)
        config = transformers.LlavaConfig(vision_config=vision, text_config=text,
                                          image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                                          vision_feature_layer=-1, vision_feature_select_strategy="default")
        model = transformers.LlavaForConditionalGeneration(config).eval()
    template = ("{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
                "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
                "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")
    image_processor = _pil_processor(transformers, "CLIPImageProcessor")(size={"shortest_edge": 32},
                                                                       crop_size={"height": 32, "width": 32})
    processor = transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                            vision_feature_select_strategy="default", chat_template=template,
                                            num_additional_image_tokens=1)
    return model, processor
