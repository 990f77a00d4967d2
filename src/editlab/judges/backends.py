"""Chat backends a VLM judge talks to: any OpenAI-compatible endpoint, a local transformers VLM, a dummy.

Every backend pins what decides its answers (model name, temperature, seed, max tokens) and
reports it in `describe()`, which goes into each judge cache key and into results.json.

    openai:gpt-4o-2024-08-06                          (OPENAI_API_KEY, https://api.openai.com/v1)
    openai:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1   (a local vLLM / Ollama server)
    transformers:Qwen/Qwen2.5-VL-7B-Instruct           (local weights, loaded lazily)
    dummy                                              (deterministic, for tests)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from PIL import Image

from editlab.errors import EditlabError, require
from editlab.io.images import image_data_url
from editlab.judges.base import RefusedAnswer
from editlab.registry import Registry


class ChatBackend(ABC):
    name = "backend"
    #: what actually answered the last call (the endpoint's resolved model version, fingerprint)
    last_served: dict[str, Any] | None = None

    @abstractmethod
    def chat(self, prompt: str, images: Sequence[Image.Image]) -> str:
        """The model's text answer to one user turn (prompt + images). Raises RefusedAnswer on refusal."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}


class OpenAIBackend(ChatBackend):
    """Chat completions with images as base64 data URLs (OpenAI, vLLM, Ollama, LM Studio...).

    >>> backend = OpenAIBackend("gpt-4o-2024-08-06")              # doctest: +SKIP
    >>> backend.chat("Describe the image.", [image])              # doctest: +SKIP
    """

    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 temperature: float = 0.0, seed: int | None = 0, max_tokens: int = 512, timeout: float = 120.0):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout = timeout

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url, "temperature": self.temperature,
                "seed": self.seed, "max_tokens": self.max_tokens}

    def chat(self, prompt: str, images: Sequence[Image.Image]) -> str:
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        content += [{"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in images]
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": content}],
                                "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(self.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise EditlabError(
                    f"judge endpoint {self.base_url} refused the API key (HTTP {exc.code}); set {self.api_key_env}"
                ) from None
            raise ConnectionError(f"HTTP {exc.code} from {self.base_url}") from None
        self.last_served = {"model": payload.get("model"), "system_fingerprint": payload.get("system_fingerprint")}
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        if message.get("refusal") or choice.get("finish_reason") == "content_filter":
            raise RefusedAnswer(str(message.get("refusal") or "content filter"))
        text = message.get("content")
        if isinstance(text, list):  # some servers return content parts
            text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
        if not text:
            raise RefusedAnswer("empty answer")
        return text


class TransformersBackend(ChatBackend):
    """A local VLM through transformers (e.g. Qwen/Qwen2.5-VL-7B-Instruct), greedy decoding.

    `model` and `processor` can be passed in directly (tests use stubs); otherwise they are loaded
    from `model_id` with AutoModelForImageTextToText / AutoProcessor on first use.
    """

    name = "transformers"

    def __init__(self, model_id: str, *, max_new_tokens: int = 512, device: str | None = None,
                 model: Any = None, processor: Any = None):
        self.model_id = model_id
        self.max_new_tokens = max_new_tokens
        self.device = device
        self._model, self._processor = model, processor

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_id, "temperature": 0.0, "decoding": "greedy",
                "max_new_tokens": self.max_new_tokens}

    def _load(self):
        if self._model is None:
            transformers = require("transformers", "bench")
            torch = require("torch", "bench")
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._processor = transformers.AutoProcessor.from_pretrained(self.model_id)
            self._model = transformers.AutoModelForImageTextToText.from_pretrained(
                self.model_id, torch_dtype=torch.bfloat16 if device == "cuda" else torch.float32).to(device).eval()
        return self._model, self._processor

    def chat(self, prompt: str, images: Sequence[Image.Image]) -> str:
        model, processor = self._load()
        messages = [{"role": "user", "content": [*({"type": "image"} for _ in images), {"type": "text", "text": prompt}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=list(images), return_tensors="pt")
        inputs = inputs.to(model.device) if hasattr(inputs, "to") else inputs
        generated = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        return processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()


_KEY_RANGE = re.compile(r'"(\w+)":\s*<(\d+)-(\d+)>')


class DummyBackend(ChatBackend):
    """Deterministic answers for tests: canned `answers` in turn, or valid scores derived from a hash.

    Without canned answers it reads the answer template at the end of the rubric prompt
    (`"key": <low-high>`) and answers every key with a value derived from the prompt and images.
    """

    name = "dummy"

    def __init__(self, answers: Sequence[str] | None = None):
        self.answers = list(answers) if answers is not None else None
        self.calls = 0

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": "dummy-v1", "temperature": 0.0,
                "canned_answers": hashlib.sha256(json.dumps(self.answers).encode()).hexdigest() if self.answers else None}

    def chat(self, prompt: str, images: Sequence[Image.Image]) -> str:
        self.calls += 1
        if self.answers is not None:
            answer = self.answers[(self.calls - 1) % len(self.answers)]
            if answer == "<refuse>":
                raise RefusedAnswer("dummy refusal")
            return answer
        digest = hashlib.sha256(prompt.encode())
        for image in images:
            digest.update(image.tobytes())
        seed = int(digest.hexdigest(), 16)
        scores = {}
        for index, (key, low, high) in enumerate(_KEY_RANGE.findall(prompt)):
            span = int(high) - int(low) + 1
            scores[key] = int(low) + (seed >> (8 * index)) % span
        return json.dumps({**scores, "reason": "dummy"})


BACKENDS: Registry = Registry("judge backend")
BACKENDS.register("openai", OpenAIBackend)
BACKENDS.register("transformers", TransformersBackend)
BACKENDS.register("dummy", DummyBackend)


def get_backend(spec: str | ChatBackend, **options: Any) -> ChatBackend:
    """`dummy`, `openai:MODEL[@BASE_URL]`, `transformers:MODEL_ID_OR_PATH`, or a backend instance."""
    if isinstance(spec, ChatBackend):
        return spec
    name, _, arg = spec.partition(":")
    backend_cls = BACKENDS.get(name)
    if name == "dummy":
        return backend_cls(**options)
    if not arg:
        raise EditlabError(f"judge backend {name!r} needs a model: {name}:MODEL (e.g. openai:gpt-4o-2024-08-06)")
    if name == "openai" and "@" in arg:
        arg, base_url = arg.split("@", 1)
        options.setdefault("base_url", base_url)
    return backend_cls(arg, **options)
