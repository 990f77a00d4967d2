"""Chat backends for instruction writers: an OpenAI-compatible endpoint or a local transformers model.

* `openai`: any server speaking `/v1/chat/completions` (OpenAI, vLLM, Ollama, llama.cpp, TGI);
  images travel as PNG data URLs; retries with backoff on 429/5xx/timeouts.
* `transformers`: a local causal LM (text) or image-text-to-text model (VLM), by hub id or local
  folder; `model="tiny"` builds a tiny random LM (or, when images are sent, a tiny LLaVA) in code
  (plumbing only).

The offline `template` writer is not a chat model: instruction stages handle it themselves.

    >>> chat = get_chat_backend("openai", model="qwen2.5-7b", base_url="http://localhost:8000/v1")  # doctest: +SKIP
    >>> chat.complete([{"role": "user", "content": "Say hi"}], seed=0)                              # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
from typing import Any

from PIL import Image

from editlab.errors import EditlabError, require
from editlab.io.images import image_data_url

Message = dict[str, Any]


def user_message(text: str, images: list[Image.Image] | None = None) -> Message:
    """An OpenAI-format user message; images come first, as most VLM chat templates expect."""
    if not images:
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": image_data_url(im)}} for im in images]
    return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer (code fences and chatter around it allowed).

    >>> parse_json_object('Sure! ```json\\n{"instruction": "make it red"}\\n```')
    {'instruction': 'make it red'}
    """
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text[match.start():])
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return {"items": value}
    raise ValueError(f"no JSON object in the answer: {text[:120]!r}")


class ChatBackend:
    name = "chat"

    def complete(self, messages: list[Message], *, seed: int = 0, max_tokens: int = 256,
                 temperature: float = 0.0) -> str:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"id": self.name}


class OpenAIChat(ChatBackend):
    """An OpenAI-compatible chat endpoint over plain HTTP (no SDK needed)."""

    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, retries: int = 3):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key = os.environ.get(api_key_env, "")
        self.timeout, self.retries = timeout, retries

    def complete(self, messages, *, seed=0, max_tokens=256, temperature=0.0):
        import urllib.error
        import urllib.request

        body = json.dumps({"model": self.model, "messages": messages, "temperature": temperature,
                           "max_tokens": max_tokens, "seed": seed}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read())
                return payload["choices"][0]["message"]["content"] or ""
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 409, 429, 500, 502, 503, 504) or attempt == self.retries:
                    detail = exc.read()[:200].decode(errors="replace")
                    raise EditlabError(f"chat endpoint {url} answered HTTP {exc.code} ({detail})") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    raise EditlabError(f"chat endpoint {url} unreachable ({exc}); start the server or fix "
                                       "base_url") from None
            except (KeyError, IndexError, ValueError) as exc:
                raise EditlabError(f"chat endpoint {url} gave an unexpected answer ({exc})") from None
            time.sleep(min(30.0, 0.5 * 2 ** attempt))
        raise AssertionError("unreachable")

    def describe(self):
        return {"id": self.model, "endpoint": self.base_url}


class TransformersChat(ChatBackend):
    """A local transformers chat model; images switch to the image-text-to-text (VLM) classes."""

    name = "transformers"

    def __init__(self, model: str, device: str | None = None, dtype: str = "auto"):
        self.model_id = model
        self.device, self.dtype = device, dtype
        self._model = self._processor = None
        self._vision = False
        self.hash = ""

    def _load(self, vision: bool) -> None:
        if self._model is not None:
            if vision and not self._vision:
                raise EditlabError(f"{self.model_id} was loaded as a text-only model; use a vision-language model "
                                   "for stages that send images")
            return
        torch = require("torch", "data")
        from editlab.data.backends.models import resolve_dtype, weights_hash
        from editlab.io.device import resolve_device

        transformers = require("transformers", "data")
        self.device = resolve_device(self.device)
        self._vision = vision
        if self.model_id == "tiny":  # a tiny random LM, or a tiny LLaVA when images are sent
            from editlab.data.backends.tiny import tiny_causal_lm, tiny_vlm

            self._model, self._processor = tiny_vlm() if vision else tiny_causal_lm()
        else:
            kwargs = {"torch_dtype": resolve_dtype(self.dtype, self.device, torch)}
            if vision:
                self._processor = transformers.AutoProcessor.from_pretrained(self.model_id)
                self._model = transformers.AutoModelForImageTextToText.from_pretrained(self.model_id, **kwargs)
            else:
                self._processor = transformers.AutoTokenizer.from_pretrained(self.model_id)
                self._model = transformers.AutoModelForCausalLM.from_pretrained(self.model_id, **kwargs)
        self._model.to(self.device).eval()
        self.hash = weights_hash(self._model)

    @staticmethod
    def _flatten(messages: list[Message]) -> tuple[list[Message], list[Image.Image]]:
        """OpenAI messages -> transformers chat-template messages + the PIL images in order."""
        images: list[Image.Image] = []
        out = []
        for message in messages:
            content = message["content"]
            if isinstance(content, str):
                out.append({"role": message["role"], "content": content})
                continue
            parts = []
            for part in content:
                if part["type"] == "image_url":
                    raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    images.append(Image.open(io.BytesIO(raw)).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            out.append({"role": message["role"], "content": parts})
        return out, images

    def _prompt(self, messages: list[Message], tokenizer) -> str:
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # models without a chat template (base LMs, the tiny test model): a plain transcript
        lines = []
        for message in messages:
            content = message["content"]
            text = content if isinstance(content, str) else " ".join(p.get("text", "<image>") for p in content)
            lines.append(f"{message['role']}: {text}")
        return "\n".join(lines) + "\nassistant:"

    def complete(self, messages, *, seed=0, max_tokens=256, temperature=0.0):
        torch = require("torch", "data")
        chat, images = self._flatten(messages)
        self._load(vision=bool(images))
        processor = self._processor
        tokenizer = getattr(processor, "tokenizer", processor)
        prompt = self._prompt(chat, processor if hasattr(processor, "apply_chat_template") else tokenizer)
        if images:
            inputs = processor(text=[prompt], images=images, return_tensors="pt")
        else:
            inputs = tokenizer([prompt], return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        torch.manual_seed(seed)
        sample = temperature > 0
        with torch.inference_mode():
            output = self._model.generate(**inputs, max_new_tokens=max_tokens, do_sample=sample,
                                          temperature=temperature if sample else None, top_p=None, top_k=None,
                                          pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return tokenizer.decode(new_tokens, skip_special_tokens=True)

    def describe(self):
        return {"id": self.model_id, "hash": self.hash}


CHAT_BACKENDS = ("openai", "transformers")


def get_chat_backend(backend: str, **options: Any) -> ChatBackend:
    if backend == "openai":
        return OpenAIChat(**options)
    if backend == "transformers":
        return TransformersChat(**options)
    raise EditlabError(f"unknown chat backend {backend!r}; choose one of: template, {', '.join(CHAT_BACKENDS)}")
