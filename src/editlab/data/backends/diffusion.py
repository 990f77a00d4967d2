"""Text-to-image diffusion for pair generation: Prompt-to-Prompt, real-image anchored P2P, region blending.

Built on a diffusers Stable-Diffusion-style model (UNet + VAE + CLIP text encoder), loaded by hub
id, local folder, single `.safetensors` file, or `tiny` (random, built in code).

Prompt-to-Prompt as InstructPix2Pix used it: the source and edited prompts are denoised together
from the same noise; during the first `p` fraction of steps the edited branch reuses the source
branch's attention maps. IP2P's code copies the *self*-attention maps (not cross-attention, unlike
the original P2P paper); `share="self"` is that default, `"cross"` and `"both"` are there to compare.

    >>> sampler = DiffusionSampler("tiny")                                           # doctest: +SKIP
    >>> pairs = sampler.prompt_to_prompt("a cat", "a dog", seeds=[1, 2], shares=[0.3, 0.7])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import EditlabError, require

SHARE_MODES = ("self", "cross", "both")


class AttentionSharing:
    """Per-step switch read by the processors: which source/edited pairs share maps right now.

    `flags` is a bool tensor (one per pair) for the whole of a Prompt-to-Prompt call, all-False once
    p has passed, so the same attention arithmetic runs at every step: a candidate's source image is
    then bit-identical whatever its p. `None` (plain sampling) uses fused SDPA attention."""

    def __init__(self) -> None:
        self.flags = None

    def set(self, flags) -> None:
        self.flags = flags


class SharedAttentionProcessor:
    """diffusers attention processor: edited rows copy their source row's attention probabilities.

    The batch is laid out as consecutive (source, edited) pairs, e.g. [u_s, u_t, c_s, c_t] for one
    pair under classifier-free guidance. Outside shared steps it is plain scaled-dot-product attention.
    """

    def __init__(self, sharing: AttentionSharing, share: str = "self"):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.sharing, self.share = sharing, share
        self.fallback = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        is_cross = encoder_hidden_states is not None
        active = self.sharing.flags is not None and (self.share == "both" or (self.share == "cross") == is_cross)
        if not active:
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        torch = require("torch", "data")
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch = hidden_states.shape[0]
        sequence = (hidden_states if encoder_hidden_states is None else encoder_hidden_states).shape[1]
        attention_mask = attn.prepare_attention_mask(attention_mask, sequence, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        query, key, value = (attn.head_to_batch_dim(x) for x in (query, key, value))
        probs = attn.get_attention_scores(query, key, attention_mask)  # (batch * heads, q, k)
        pairs = probs.view(batch // 2, 2, attn.heads, *probs.shape[1:])
        flags = self.sharing.flags.to(probs.device).view(-1, 1, 1, 1)
        edited = torch.where(flags, pairs[:, 0], pairs[:, 1])
        probs = torch.stack([pairs[:, 0], edited], dim=1).reshape(probs.shape)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def load_sd_components(model: str, device: str, dtype) -> dict[str, Any]:
    """UNet, VAE, text encoder, tokenizer, scheduler of a Stable-Diffusion-style model."""
    if model == "tiny":
        from editlab.data.backends.tiny import tiny_sd_components

        return tiny_sd_components()
    diffusers = require("diffusers", "data")
    try:
        if model.endswith((".safetensors", ".ckpt")):
            pipe = diffusers.StableDiffusionPipeline.from_single_file(model, torch_dtype=dtype)
        else:
            pipe = diffusers.StableDiffusionPipeline.from_pretrained(model, torch_dtype=dtype, safety_checker=None,
                                                                     requires_safety_checker=False)
    except (OSError, ValueError) as exc:
        raise EditlabError(f"cannot load the diffusion model {model!r} ({exc}); pass a hub id, a local diffusers "
                           "folder or a .safetensors file (or 'tiny' for a plumbing run)") from None
    return {name: getattr(pipe, name) for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")}


def _place(module, device: str, dtype):
    module = module.to(device)
    return module if module.dtype == dtype else module.to(dtype)


def make_scheduler(name: str, config):
    diffusers = require("diffusers", "data")
    classes = {"ddim": diffusers.DDIMScheduler, "euler": diffusers.EulerDiscreteScheduler,
               "dpm": diffusers.DPMSolverMultistepScheduler}
    if name not in classes:
        raise EditlabError(f"scheduler {name!r} unknown for pair generation; use one of {', '.join(classes)} "
                           "(deterministic samplers: both branches must see the same noise)")
    return classes[name].from_config(config)


class DiffusionSampler:
    """One loaded text-to-image model and the three sampling loops the pair generators need."""

    def __init__(self, model: str, *, device: str | None = None, dtype: str = "auto", scheduler: str = "ddim",
                 share: str = "self"):
        if share not in SHARE_MODES:
            raise EditlabError(f"share={share!r}; use one of {', '.join(SHARE_MODES)}")
        from editlab.data.backends.models import resolve_dtype, weights_hash
        from editlab.io.device import resolve_device

        torch = require("torch", "data")
        self.torch = torch
        self.model_id = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, torch)
        parts = load_sd_components(model, self.device, self.dtype)
        self.unet, self.vae, self.text_encoder = (_place(parts[name], self.device, self.dtype)
                                                  for name in ("unet", "vae", "text_encoder"))
        self.tokenizer = parts["tokenizer"]
        self.scheduler_name, self.scheduler_config = scheduler, parts["scheduler"].config
        make_scheduler(scheduler, self.scheduler_config)  # fail early on a bad name
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.size_multiple = self.vae_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        self.sharing = AttentionSharing()
        self.unet.set_attn_processor(SharedAttentionProcessor(self.sharing, share))
        self.hash = weights_hash(self.unet, self.vae, self.text_encoder)

    # -- helpers -----------------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        return {"id": self.model_id, "hash": self.hash}

    def check_size(self, width: int, height: int) -> None:
        if width % self.size_multiple or height % self.size_multiple:
            raise EditlabError(f"image size {width}x{height}: {self.model_id} needs multiples of {self.size_multiple}; "
                               "resize the source images (the images stage's multiple_of)")

    def encode_text(self, prompts: list[str]):
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(self.device)
        return self.text_encoder(ids)[0]

    def encode_image(self, image: Image.Image):
        torch = self.torch
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        pixels = torch.from_numpy(array).permute(2, 0, 1)[None].to(self.device, self.dtype)
        return self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor

    def decode(self, latents) -> list[Image.Image]:
        images = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        array = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(self.torch.uint8)
        return [Image.fromarray(a) for a in array.permute(0, 2, 3, 1).cpu().numpy()]

    def noise(self, seed: int, shape: tuple[int, ...]):
        generator = self.torch.Generator("cpu").manual_seed(int(seed) % (2 ** 63))
        return self.torch.randn(shape, generator=generator, dtype=self.torch.float32).to(self.device, self.dtype)

    def _timesteps(self, scheduler, steps: int, strength: float):
        scheduler.set_timesteps(steps, device=self.device)
        keep = min(steps, max(1, int(round(steps * strength))))
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index((steps - keep) * scheduler.order)
        return scheduler.timesteps[(steps - keep) * scheduler.order:]

    def _guided(self, latents, t, embeddings, guidance_scale: float):
        scheduler_input = self._scheduler.scale_model_input(self.torch.cat([latents, latents]), t)
        noise = self.unet(scheduler_input, t, encoder_hidden_states=embeddings).sample
        uncond, cond = noise.chunk(2)
        return uncond + guidance_scale * (cond - uncond)

    # -- Prompt-to-Prompt (optionally from a real image: UltraEdit's anchored variant) -------------
    def prompt_to_prompt(self, source_prompt: str, target_prompt: str, *, seeds: list[int], shares: list[float],
                         steps: int = 50, guidance_scale: float = 7.5, width: int = 512, height: int = 512,
                         init_image: Image.Image | None = None, strength: float = 1.0,
                         batch_size: int = 4) -> list[tuple[Image.Image, Image.Image]]:
        """One (source, edited) image pair per seed; pair k shares attention for `shares[k]` of its steps."""
        torch = self.torch
        if init_image is not None:
            width, height = init_image.size
        self.check_size(width, height)
        shape = (1, 4, height // self.vae_factor, width // self.vae_factor)
        results: list[tuple[Image.Image, Image.Image]] = []
        with torch.inference_mode():
            cond_pair = self.encode_text([source_prompt, target_prompt])
            uncond = self.encode_text([""])
            anchor = self.encode_image(init_image) if init_image is not None else None
            for start in range(0, len(seeds), max(1, batch_size)):
                chunk_seeds, chunk_shares = seeds[start:start + batch_size], shares[start:start + batch_size]
                k = len(chunk_seeds)
                self._scheduler = make_scheduler(self.scheduler_name, self.scheduler_config)
                timesteps = self._timesteps(self._scheduler, steps, strength if anchor is not None else 1.0)
                noise = torch.cat([self.noise(seed, shape) for seed in chunk_seeds])
                if anchor is None:
                    latents = noise * self._scheduler.init_noise_sigma
                else:
                    latents = self._scheduler.add_noise(anchor.expand(k, -1, -1, -1), noise, timesteps[:1])
                latents = latents.repeat_interleave(2, dim=0)  # [s1, t1, s2, t2, ...]: shared noise per pair
                embeddings = torch.cat([uncond.expand(2 * k, -1, -1), cond_pair.repeat(k, 1, 1)])
                share_steps = torch.tensor([int(round(p * len(timesteps))) for p in chunk_shares])
                for i, t in enumerate(timesteps):
                    flags = share_steps > i
                    self.sharing.set(torch.cat([flags, flags]))
                    guided = self._guided(latents, t, embeddings, guidance_scale)
                    latents = self._scheduler.step(guided, t, latents).prev_sample
                self.sharing.set(None)
                images = self.decode(latents)
                results.extend((images[2 * j], images[2 * j + 1]) for j in range(k))
        return results

    # -- region editing: blended latent diffusion with a soft mask (UltraEdit) ---------------------
    def blend_inpaint(self, image: Image.Image, soft_mask: np.ndarray, prompt: str, *, seed: int, steps: int = 50,
                      guidance_scale: float = 7.5, strength: float = 1.0, blend_every: int = 2,
                      negative_prompt: str = "") -> Image.Image:
        """Repaint where `soft_mask` (HxW floats in [0, 1]) is high; outside it the image is kept.

        Every `blend_every` steps the latent outside the mask is reset to the source latent noised to
        the next timestep, weighted by the soft mask, so edits blend into the boundary band.
        """
        torch = self.torch
        width, height = image.size
        self.check_size(width, height)
        with torch.inference_mode():
            anchor = self.encode_image(image)
            latent_mask = torch.from_numpy(
                np.asarray(Image.fromarray((soft_mask * 255).astype(np.uint8)).resize(
                    (anchor.shape[-1], anchor.shape[-2]), Image.BILINEAR), dtype=np.float32) / 255.0
            )[None, None].to(self.device, self.dtype)
            embeddings = torch.cat([self.encode_text([negative_prompt]), self.encode_text([prompt])])
            self._scheduler = make_scheduler(self.scheduler_name, self.scheduler_config)
            timesteps = self._timesteps(self._scheduler, steps, strength)
            noise = self.noise(seed, tuple(anchor.shape))
            latents = (noise * self._scheduler.init_noise_sigma if strength >= 1.0
                       else self._scheduler.add_noise(anchor, noise, timesteps[:1]))
            for i, t in enumerate(timesteps):
                guided = self._guided(latents, t, embeddings, guidance_scale)
                latents = self._scheduler.step(guided, t, latents).prev_sample
                last = i == len(timesteps) - 1
                if last or i % blend_every == 0:
                    background = anchor if last else self._scheduler.add_noise(anchor, noise, timesteps[i + 1:i + 2])
                    latents = latent_mask * latents + (1 - latent_mask) * background
            edited = self.decode(latents)[0]
        # composite in pixel space too: VAE round trips alter the untouched region slightly
        alpha = Image.fromarray((np.clip(soft_mask, 0, 1) * 255).astype(np.uint8))
        return Image.composite(edited, image.convert("RGB"), alpha)
