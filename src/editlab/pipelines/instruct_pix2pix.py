"""editlab's InstructPix2Pix pipeline, built on diffusers' models and schedulers.

With `EditExtras.off()` it reproduces `diffusers.StableDiffusionInstructPix2PixPipeline` on the
same components, inputs and seed (three guidance branches batched as [text+image, image,
none] every step, image latent = VAE posterior mode without the scaling factor). editlab's
extras are on by default, each switchable and recorded in the output's provenance:

- a faster solver with fewer steps (`scheduler`, `default_steps`);
- guidance only where it matters: the two unconditional branches are dropped for the last
  `1 - guidance_cutoff` of the steps, and the image-unconditional branch whenever the image
  scale is exactly 1 (it cancels out of the formula);
- prompt embeddings and image latents cached across calls (a sweep encodes once);
- any input size: resize to a pixel budget and pad to the UNet's multiple, restore exactly;
- region masks: latent blending every step plus an exact feathered pixel composite (one mask
  for every image, or one per image);
- a ninth UNet input channel for a mask when the UNet has one (UltraEdit-style).

Precision (bf16 + channels-last on CPU, fp16 on CUDA) is a one-time change of the weights:
`pipe.optimize_for_inference()`.

    >>> import torch
    >>> from PIL import Image
    >>> from editlab.pipelines import InstructPix2PixPipeline
    >>> from editlab.pipelines.tiny import tiny_ip2p_components
    >>> pipe = InstructPix2PixPipeline(**tiny_ip2p_components())
    >>> out = pipe("make it red", Image.new("RGB", (45, 30)), num_inference_steps=2,
    ...            generator=torch.Generator().manual_seed(0))
    >>> out.images[0].size
    (45, 30)
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from editlab.imaging import masks as masklib
from editlab.imaging.sizing import SizePlan, crop_restore_tensor, mask_to_working, plan_size, to_working
from editlab.pipelines.model_defaults import IP2P_DEFAULTS
from editlab.pipelines.schedulers import copy_scheduler, describe_scheduler, make_scheduler


@dataclass(frozen=True)
class EditExtras:
    """editlab's additions to IP2P sampling. `EditExtras.off()` is diffusers' behaviour exactly.

    - scheduler: solver name from `editlab.pipelines.schedulers` (None = the pipeline's own)
    - default_steps: steps when the call does not give `num_inference_steps`
    - guidance_cutoff: fraction of the steps that run all guidance branches; the rest run only
      the fully conditioned branch (1.0 = every step)
    - skip_unit_image_branch: with image scale exactly 1 the unconditional branch cancels; skip it
    - cache: reuse prompt embeddings and image latents across calls
    - preserve_size: resize/pad to the working size and restore the input size exactly
      (off: diffusers' preprocessing, which rounds the size down to a multiple of 8)
    - target_pixels: pixel budget of the working size ("native" = the UNet's sample size)
    - latent_blend: with a mask, blend latents with the noised source every step
    """

    scheduler: str | None = IP2P_DEFAULTS["scheduler"]
    default_steps: int = IP2P_DEFAULTS["num_inference_steps"]
    guidance_cutoff: float = 0.8
    skip_unit_image_branch: bool = True
    cache: bool = True
    preserve_size: bool = True
    target_pixels: int | str | None = "native"
    latent_blend: bool = True

    @classmethod
    def off(cls) -> EditExtras:
        """Reference mode: what diffusers' StableDiffusionInstructPix2PixPipeline does."""
        return cls(
            scheduler=None,
            default_steps=100,
            guidance_cutoff=1.0,
            skip_unit_image_branch=False,
            cache=False,
            preserve_size=False,
            target_pixels=None,
            latent_blend=False,
        )

    def replace(self, **changes: Any) -> EditExtras:
        return replace(self, **changes)


@dataclass
class EditPipelineOutput(BaseOutput):
    """Edited images (PIL list, numpy array or tensor per `output_type`) and how they were made."""

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    nsfw_content_detected: list[bool] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


class _LRU(OrderedDict):
    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = compute()
        self[key] = value
        if len(self) > self.capacity:
            self.popitem(last=False)
        return value


def _module_state(module: torch.nn.Module) -> tuple:
    """Identity + in-place version counters: changes whenever the weights are updated."""
    return (id(module), sum(p._version for p in module.parameters()), next(module.parameters()).dtype)


class InstructPix2PixPipeline(DiffusionPipeline, StableDiffusionLoraLoaderMixin):
    r"""Instruction-based image editing (InstructPix2Pix) with editlab's speed and sizing extras.

    Components are diffusers/transformers ones: `AutoencoderKL`, a CLIP-style text encoder and
    its tokenizer, a `UNet2DConditionModel` with 8 input channels (noisy latent + image latent;
    9 with a mask channel), and any diffusers scheduler.
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components: list[str] = []

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: Any,
        tokenizer: Any,
        unet: UNet2DConditionModel,
        scheduler: Any,
    ):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        self.extras = EditExtras()
        self.runtime: dict[str, Any] = {}
        self._prompt_cache = _LRU(32)
        self._latent_cache = _LRU(8)
        self._num_timesteps = 0

    @property
    def num_timesteps(self) -> int:
        """Denoising steps of the current (or last) call, as in diffusers: a `callback_on_step_end`
        reads it to turn step `i` into a fraction (some solvers, e.g. heun, take more timesteps
        than `num_inference_steps`)."""
        return self._num_timesteps

    # ------------------------------------------------------------------ geometry

    @property
    def size_multiple(self) -> int:
        """Pixel multiple the UNet needs: the VAE factor times the UNet's total downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.down_block_types) - 1)

    @property
    def native_pixels(self) -> int:
        side = int(self.unet.config.sample_size) * self.vae_scale_factor
        return side * side

    @property
    def has_mask_channel(self) -> bool:
        return int(self.unet.config.in_channels) == 2 * int(self.vae.config.latent_channels) + 1

    # ------------------------------------------------------------------ one-time speed-ups

    def optimize_for_inference(self, precision: str = "auto", channels_last: bool | str = "auto") -> dict[str, Any]:
        """Convert the UNet to a faster dtype/memory format, once; returns what was done.

        precision: "auto" (bf16 on CPUs with native bf16 for UNets big enough to gain, fp16 on
        CUDA), "fp32", "bf16", "fp16" or "keep". The VAE and text encoder stay as loaded: they
        run once per edit and decide the fidelity of the output.
        """
        device = self._execution_device
        dtype = _choose_unet_dtype(precision, device, self.unet)
        if dtype is not None and dtype != self.unet.dtype:
            self.unet.to(dtype=dtype)
        use_channels_last = device.type == "cpu" and self.unet.dtype == torch.bfloat16
        if channels_last != "auto":
            use_channels_last = bool(channels_last)
        if use_channels_last:
            self.unet.to(memory_format=torch.channels_last)
        self.runtime = {"unet_dtype": str(self.unet.dtype).replace("torch.", ""), "channels_last": use_channels_last}
        return dict(self.runtime)

    # ------------------------------------------------------------------ encoders (cached)

    def _encode_text(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        inputs = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        attention_mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            attention_mask = inputs.attention_mask.to(device)
        embeds = self.text_encoder(inputs.input_ids.to(device), attention_mask=attention_mask)[0]
        return embeds.to(dtype=self.text_encoder.dtype, device=device)

    def encode_prompt(
        self, prompt: list[str], negative_prompt: list[str], device: torch.device, use_cache: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt embeddings, negative/null embeddings), as diffusers' IP2P computes them."""

        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            return self._encode_text(prompt, device), self._encode_text(negative_prompt, device)

        if not use_cache:
            return compute()
        key = (tuple(prompt), tuple(negative_prompt), _module_state(self.text_encoder), str(device))
        return self._prompt_cache.get_or_compute(key, compute)

    def encode_image(self, image: torch.Tensor, device: torch.device, use_cache: bool) -> torch.Tensor:
        """VAE posterior mode, not scaled: the conditioning latent IP2P was trained with."""
        image = image.to(device=device, dtype=self.vae.dtype)

        def compute() -> torch.Tensor:
            return self.vae.encode(image).latent_dist.mode()

        if not use_cache:
            return compute()
        digest = hashlib.sha1(image.float().cpu().numpy().tobytes()).hexdigest()
        key = (digest, tuple(image.shape), _module_state(self.vae), str(device))
        return self._latent_cache.get_or_compute(key, compute)

    # ------------------------------------------------------------------ guidance

    @staticmethod
    def guidance_branches(
        step: int, num_steps: int, guidance_scale: float, image_guidance_scale: float, extras: EditExtras
    ) -> str:
        """Which branches to evaluate at `step`: "full" (3), "text" (2: s_I == 1) or "cond" (1)."""
        if not (guidance_scale > 1.0 and image_guidance_scale >= 1.0):
            return "cond"  # diffusers: no classifier-free guidance at all
        if step >= round(extras.guidance_cutoff * num_steps):
            return "cond"
        if extras.skip_unit_image_branch and image_guidance_scale == 1.0:
            return "text"
        return "full"

    # ------------------------------------------------------------------ checks

    def check_inputs(self, prompt: Any, image: Any, guidance_cutoff: float, num_inference_steps: int) -> None:
        if image is None:
            raise ValueError("`image` input cannot be undefined.")
        if not isinstance(prompt, (str, list)):
            raise ValueError(f"`prompt` has to be of type `str` or `list` but is {type(prompt)}")
        if not 0.0 <= guidance_cutoff <= 1.0:
            raise ValueError(f"`guidance_cutoff` must be in [0, 1], got {guidance_cutoff}")
        if num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be >= 1, got {num_inference_steps}")
        latent_channels = int(self.vae.config.latent_channels)
        if int(self.unet.config.in_channels) not in (2 * latent_channels, 2 * latent_channels + 1):
            raise ValueError(
                f"the UNet has {self.unet.config.in_channels} input channels; an InstructPix2Pix UNet has "
                f"{2 * latent_channels} (noisy latent + image latent) or {2 * latent_channels + 1} (+ mask)"
            )

    # ------------------------------------------------------------------ the call

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        image: PIL.Image.Image | list[PIL.Image.Image] | np.ndarray | torch.Tensor,
        num_inference_steps: int | None = None,
        guidance_scale: float = IP2P_DEFAULTS["guidance_scale"],
        image_guidance_scale: float = IP2P_DEFAULTS["image_guidance_scale"],
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        mask_image: PIL.Image.Image | list[PIL.Image.Image] | None = None,
        mask_feather: int | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        extras: EditExtras | None = None,
        callback_on_step_end: Callable[[Any, int, Any, dict], dict] | None = None,
    ) -> EditPipelineOutput | tuple:
        """Edit `image` following `prompt` (the instruction).

        Arguments follow diffusers' `StableDiffusionInstructPix2PixPipeline`; in addition:
        `mask_image` (mode 'L', 255 = edit, the input's size; one for every image or a list with
        one per image) limits the edit to a region, `mask_feather` is the width in pixels of the
        blend band around it, and `extras` overrides `self.extras` for this call
        (`EditExtras.off()` = diffusers' behaviour). A batch (lists of prompts and images) with a
        list of generators, one per image, gives each image what it gets alone with its generator
        (up to float rounding: BLAS may pick other kernels for another batch size).
        """
        extras = extras or self.extras
        steps = int(num_inference_steps or extras.default_steps)
        device = self._execution_device

        # 0. Check inputs
        self.check_inputs(prompt, image, extras.guidance_cutoff, steps)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        images = image if isinstance(image, list) else [image]
        if len(images) == 1 and len(prompts) > 1:
            images = images * len(prompts)
        if len(images) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts for {len(images)} images; pass one image per prompt")
        negatives = _as_list(negative_prompt if negative_prompt is not None else "", len(prompts))
        batch = len(prompts) * num_images_per_prompt

        # 1. Encode the prompt and the null prompt
        prompt_embeds, null_embeds = self.encode_prompt(prompts, negatives, device, extras.cache)
        prompt_embeds = prompt_embeds.repeat_interleave(num_images_per_prompt, dim=0)
        null_embeds = null_embeds.repeat_interleave(num_images_per_prompt, dim=0)

        # 2. Preprocess the image (and mask) to the working size
        plan, work_images = self._plan_and_resize(images, extras)
        pixels = self.image_processor.preprocess(work_images)
        masks = self._check_masks(mask_image, images)
        mask_pixels = self._prepare_masks(masks, plan, images)

        # 3. Timesteps on a private scheduler (schedulers carry per-run state)
        scheduler = make_scheduler(extras.scheduler, self.scheduler.config) if extras.scheduler else copy_scheduler(self.scheduler)
        scheduler.set_timesteps(steps, device=device)
        timesteps = scheduler.timesteps
        self._num_timesteps = len(timesteps)

        # 4. Image latents (unscaled posterior mode) and the initial noise
        image_latents = self.encode_image(pixels, device, extras.cache)
        image_latents = image_latents.repeat_interleave(num_images_per_prompt, dim=0).float()
        height, width = image_latents.shape[-2:]
        shape = (batch, int(self.vae.config.latent_channels), height, width)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        latents = latents.to(device=device, dtype=torch.float32) * scheduler.init_noise_sigma

        # 5. Region: soft latent mask, fixed noise for the source, mask channel for 9-channel UNets
        region = self._prepare_region(mask_pixels, image_latents, generator, device)

        # 6. Denoising loop
        step_kwargs = _step_kwargs(scheduler, generator, eta)
        unet_evaluations = 0
        branch_counts: dict[str, int] = {}
        branch_inputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                mode = self.guidance_branches(i, len(timesteps), guidance_scale, image_guidance_scale, extras)
                branch_counts[mode] = branch_counts.get(mode, 0) + 1
                if mode not in branch_inputs:
                    branch_inputs[mode] = self._branch_inputs(mode, prompt_embeds, null_embeds, image_latents, region)
                noise_pred, evaluations = self._predict_noise(
                    scheduler, latents, t, mode, branch_inputs[mode], guidance_scale, image_guidance_scale
                )
                unet_evaluations += evaluations
                latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
                if region is not None and region["soft"] is not None and extras.latent_blend:
                    latents = self._blend_latents(scheduler, latents, region, timesteps, i)
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(self, i, t, {"latents": latents}) or {}
                    latents = outputs.pop("latents", latents)
                progress.update()

        # 7. Decode, restore the input size, composite the region exactly
        provenance = self._provenance(
            scheduler, steps, guidance_scale, image_guidance_scale, extras, plan, branch_counts,
            unet_evaluations, generator, mask_image is not None,
        )
        if output_type == "latent":
            return EditPipelineOutput(images=latents, provenance=provenance) if return_dict else (latents, None)
        decoded = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False)[0]
        if plan is not None:
            decoded = crop_restore_tensor(decoded, plan)
        result = self.image_processor.postprocess(decoded.float(), output_type=output_type)
        if masks is not None:
            result = self._composite(result, images, masks, mask_feather, output_type, num_images_per_prompt)
            provenance["mask_feather"] = mask_feather if mask_feather is not None else masklib.default_feather(images[0].size)

        self.maybe_free_model_hooks()
        if not return_dict:
            return (result, None)
        return EditPipelineOutput(images=result, provenance=provenance)

    # ------------------------------------------------------------------ steps of the call

    def _plan_and_resize(self, images: list, extras: EditExtras) -> tuple[SizePlan | None, list]:
        if not extras.preserve_size:
            return None, images
        if not all(isinstance(im, PIL.Image.Image) for im in images):
            raise ValueError("automatic sizing (extras.preserve_size) needs PIL images; pass PIL images or "
                             "use extras=EditExtras.off() with tensors/arrays")
        sizes = {im.size for im in images}
        if len(sizes) != 1:
            raise ValueError(f"all images of one call must have the same size, got {sorted(sizes)}")
        target = self.native_pixels if extras.target_pixels == "native" else extras.target_pixels
        (width, height), = sizes
        plan = plan_size(width, height, multiple=self.size_multiple, target_pixels=target)
        return plan, [to_working(im.convert("RGB"), plan) for im in images]

    @staticmethod
    def _check_masks(mask_image: Any, images: list) -> list[PIL.Image.Image] | None:
        """The masks as 'L' images, one for every image or one per image; each checked against its image."""
        if mask_image is None:
            return None
        masks = list(mask_image) if isinstance(mask_image, (list, tuple)) else [mask_image]
        if len(masks) not in (1, len(images)):
            raise ValueError(f"got {len(masks)} masks for {len(images)} images; pass one mask for all or one per image")
        if not all(isinstance(mask, PIL.Image.Image) for mask in masks):
            kinds = sorted({type(mask).__name__ for mask in masks})
            raise ValueError(f"`mask_image` must be PIL images (mode 'L', 255 = edit), got {', '.join(kinds)}")
        if not all(isinstance(im, PIL.Image.Image) for im in images):
            raise ValueError("`mask_image` needs PIL input images (the composite is done in pixels)")
        return [masklib.check_mask(mask, images[i].size) for i, mask in enumerate(masks)]

    def _prepare_masks(self, masks: list[PIL.Image.Image] | None, plan: SizePlan | None,
                       images: list) -> list[PIL.Image.Image] | None:
        """The masks at the working size."""
        if masks is None:
            return None
        if plan is not None:
            return [mask_to_working(mask, plan) for mask in masks]
        width, height = self.image_processor.get_default_height_width(images[0])
        return [mask.resize((width, height), resample=PIL.Image.Resampling.BILINEAR) for mask in masks]

    def _prepare_region(self, masks: list | None, image_latents: torch.Tensor, generator, device):
        """Everything the loop needs for a mask; for a 9-channel UNet also the free-form mask."""
        if masks is None and not self.has_mask_channel:
            return None
        height, width = image_latents.shape[-2:]
        batch = image_latents.shape[0]
        if masks is None:
            # free-form edit on a mask-conditioned UNet: the whole image is editable (UltraEdit)
            soft = torch.ones((1, 1, height, width), device=device)
            return {"soft": None, "channel": soft.expand(batch, -1, -1, -1)}
        soft = _per_image([masklib.latent_mask(mask, (width, height)).to(device) for mask in masks], batch)
        noise = randn_tensor(tuple(image_latents.shape), generator=generator, device=device, dtype=torch.float32)
        source = image_latents * self.vae.config.scaling_factor
        channel = None
        if self.has_mask_channel:  # as trained (editlab.train.recipe.mask_to_latent): area average, no growth
            channels = [masklib.latent_mask(mask, (width, height), grow=0).to(device) for mask in masks]
            channel = _per_image(channels, batch).expand(batch, -1, -1, -1)
        return {"soft": soft, "noise": noise, "source": source, "channel": channel}

    def _branch_inputs(self, mode, prompt_embeds, null_embeds, image_latents, region) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings and conditioning channels of the branches `mode` evaluates (constant
        over the loop: built once per mode and call)."""
        if mode == "full":  # diffusers' order: [text + image, image only, nothing]
            embeds = torch.cat([prompt_embeds, null_embeds, null_embeds])
            cond = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
        elif mode == "text":
            embeds = torch.cat([prompt_embeds, null_embeds])
            cond = torch.cat([image_latents, image_latents])
        else:
            embeds, cond = prompt_embeds, image_latents
        copies = embeds.shape[0] // prompt_embeds.shape[0]
        if region is not None and region.get("channel") is not None:
            channel = region["channel"]
            # the image-unconditional branch gets the free-form mask (all ones), as in training's
            # conditioning dropout: dropping the image drops its region too
            branches = [channel, channel, torch.ones_like(channel)] if mode == "full" else [channel] * copies
            cond = torch.cat([cond, torch.cat(branches)], dim=1)
        return embeds.to(self.unet.dtype), cond

    def _predict_noise(self, scheduler, latents, t, mode, inputs, guidance_scale, image_guidance_scale):
        """One batched UNet forward over the branches `mode` needs, combined by IP2P's formula."""
        embeds, cond = inputs
        copies = embeds.shape[0] // latents.shape[0]
        model_input = scheduler.scale_model_input(torch.cat([latents] * copies), t)
        model_input = torch.cat([model_input, cond], dim=1).to(self.unet.dtype)
        if self.runtime.get("channels_last"):
            model_input = model_input.contiguous(memory_format=torch.channels_last)
        prediction = self.unet(model_input, t, encoder_hidden_states=embeds, return_dict=False)[0].float()
        if mode == "full":
            text, image, uncond = prediction.chunk(3)
            guided = uncond + guidance_scale * (text - image) + image_guidance_scale * (image - uncond)
        elif mode == "text":
            text, image = prediction.chunk(2)
            guided = image + guidance_scale * (text - image)
        else:
            guided = prediction
        return guided, copies

    def _blend_latents(self, scheduler, latents, region, timesteps, i):
        """Keep the source outside the region: blend with the source noised to the next level."""
        source = region["source"]
        if i < len(timesteps) - 1:
            source = scheduler.add_noise(source, region["noise"], timesteps[i + 1 : i + 2])
        soft = region["soft"]
        return soft * latents + (1.0 - soft) * source

    def _composite(self, result, images, masks, feather, output_type, copies):
        """Exact pixel composite: outside the feathered region the source comes back unchanged."""
        size = result[0].size if output_type == "pil" else (result.shape[-2], result.shape[-3]) if output_type == "np" else (result.shape[-1], result.shape[-2])
        sources = [im.convert("RGB") for im in images for _ in range(copies)]
        if size != images[0].size:  # only without preserve_size: diffusers rounded the size down
            masks = [mask.resize(size, resample=PIL.Image.Resampling.BILINEAR) for mask in masks]
            sources = [src.resize(size, resample=PIL.Image.Resampling.LANCZOS) for src in sources]
        feather = masklib.default_feather(images[0].size) if feather is None else int(feather)
        per_mask = [masklib.feather_weights(mask, feather) for mask in masks]
        # one mask for all, or one per input image (each repeated for its num_images_per_prompt outputs)
        weights = per_mask * len(sources) if len(per_mask) == 1 else [w for w in per_mask for _ in range(copies)]
        if output_type == "pil":
            return [masklib.composite(src, out, w) for src, out, w in zip(sources, result, weights, strict=True)]
        src = np.stack([np.asarray(s, dtype=np.float32) / 255.0 for s in sources])
        alpha = np.stack(weights)
        if output_type == "pt":
            src_t = torch.from_numpy(src).permute(0, 3, 1, 2).to(result.device, result.dtype)
            alpha_t = torch.from_numpy(alpha)[:, None].to(result.device, result.dtype)
            return src_t + alpha_t * (result - src_t)
        return src + alpha[..., None] * (result - src)

    def _provenance(self, scheduler, steps, guidance_scale, image_guidance_scale, extras, plan, branch_counts,
                    unet_evaluations, generator, has_mask) -> dict[str, Any]:
        seeds = None
        if generator is not None:
            gens = generator if isinstance(generator, list) else [generator]
            seeds = [g.initial_seed() for g in gens]
        return {
            "pipeline": f"editlab.{type(self).__name__}",
            "scheduler": describe_scheduler(scheduler),
            "num_inference_steps": steps,
            "guidance_scale": guidance_scale,
            "image_guidance_scale": image_guidance_scale,
            "extras": asdict(extras),
            "guidance_branches": branch_counts,
            "unet_evaluations": unet_evaluations,
            "unet_dtype": str(self.unet.dtype).replace("torch.", ""),
            "runtime": dict(self.runtime),
            "size_plan": plan.to_dict() if plan is not None else None,
            "mask": has_mask,
            "mask_channel": self.has_mask_channel,
            "seeds": seeds,
        }


def _per_image(masks: list[torch.Tensor], batch: int) -> torch.Tensor:
    """(1, 1, h, w) latent masks as one tensor for a batch: a single mask stays (1, 1, h, w) and
    broadcasts; one mask per input image is repeated for that image's copies."""
    if len(masks) == 1:
        return masks[0]
    return torch.cat(masks).repeat_interleave(batch // len(masks), dim=0)


def _as_list(value: str | list[str], length: int) -> list[str]:
    if isinstance(value, str):
        return [value] * length
    if len(value) != length:
        raise ValueError(f"`negative_prompt` has {len(value)} entries for {length} prompts")
    return list(value)


def _step_kwargs(scheduler, generator, eta: float) -> dict[str, Any]:
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = eta
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


#: Below this many UNet parameters, bf16 conversion overhead outweighs the gain on CPU.
BF16_MIN_PARAMETERS = 20_000_000


def cpu_has_fast_bf16() -> bool:
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def _choose_unet_dtype(precision: str, device: torch.device, unet: torch.nn.Module) -> torch.dtype | None:
    named = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "keep": None}
    if precision in named:
        return named[precision]
    if precision != "auto":
        raise ValueError(f"precision must be one of auto, fp32, bf16, fp16, keep; got {precision!r}")
    if device.type == "cuda":
        return torch.float16 if unet.dtype == torch.float32 else None
    if device.type == "cpu" and cpu_has_fast_bf16():
        parameters = sum(p.numel() for p in unet.parameters())
        return torch.bfloat16 if parameters >= BF16_MIN_PARAMETERS else None
    return None
