"""Instruction writers on chat backends: an OpenAI-compatible server (local http.server) and a tiny
random transformers LM built in code."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from editlab.data.backends.chat import parse_json_object
from editlab.data.sample import Sample
from editlab.data.stages import build_stage
from editlab.testing import LocalServer

GOOD = '```json\n{"instruction": "make it snowy", "output_caption": "a cat in the snow", "task": "environment"}\n```'


class FakeEndpoint(LocalServer):
    """A /v1/chat/completions server answering from a list (an int is an HTTP error status)."""

    def __init__(self, answers: list[str | int]):
        self.answers = list(answers)
        super().__init__(self._reply)

    @property
    def requests(self):
        return [{"path": r.path, "auth": r.headers.get("Authorization"), **r.json()} for r in self.received]

    @property
    def url(self):
        return super().url + "/v1"

    def _reply(self, request):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, int):
            return answer, {"error": "no"}
        return 200, {"choices": [{"message": {"role": "assistant", "content": answer}}]}


def _writer(stage: str, url: str, **extra):
    writer = build_stage({"stage": stage, "backend": "openai", "model": "qwen-test", "base_url": url, **extra})
    writer.setup()
    return writer


def test_caption_llm_on_an_openai_compatible_server(ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeEndpoint([GOOD]) as server:
        out = _writer("caption-llm", server.url).process([Sample(id="t-0", meta={"input_caption": "a cat"})], ctx)[0]
    assert out.ok and out.instruction == "make it snowy" and out.task == "environment"
    assert out.meta["output_caption"] == "a cat in the snow"
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["model"] == "qwen-test"
    assert request["auth"] == "Bearer sk-test" and request["temperature"] == 0.0
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert "Input caption: a cat" in request["messages"][1]["content"]
    assert out.provenance["stages"][-1]["writer"] == "qwen-test"


def test_unparseable_answers_are_retried_then_recorded(ctx):
    with FakeEndpoint(["I cannot do that.", GOOD]) as server:
        out = _writer("caption-llm", server.url).process([Sample(id="t-0", meta={"input_caption": "a cat"})], ctx)[0]
    assert out.ok and len(server.requests) == 2
    assert server.requests[1]["temperature"] > 0  # the retry samples instead of repeating itself
    with FakeEndpoint(['{"instruction": "x", "task": "teleport", "output_caption": "y"}']) as server:
        out = _writer("caption-llm", server.url, retries=2).process(
            [Sample(id="t-1", meta={"input_caption": "a cat"})], ctx)[0]
    assert out.status == "error" and "unparseable answer after 3 tries" in out.error and "teleport" in out.error


def test_http_errors_become_row_errors(ctx):
    with FakeEndpoint([401]) as server:
        out = _writer("caption-llm", server.url).process([Sample(id="t-0", meta={"input_caption": "a cat"})], ctx)[0]
    assert out.status == "error" and "HTTP 401" in out.error


def test_vlm_instruct_sends_the_image(ctx):
    answer = '{"instruction": "make the sky pink", "task": "color", "object": "sky", "output_caption": "pink sky"}'
    with FakeEndpoint([answer]) as server:
        sample = Sample(id="t-0", source=Image.new("RGB", (16, 16), "blue"))
        out = _writer("vlm-instruct", server.url).process([sample], ctx)[0]
    assert out.ok and out.meta["object"] == "sky"
    content = server.requests[0]["messages"][1]["content"]
    assert content[0]["type"] == "image_url" and content[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_multi_turn_on_a_chat_backend(ctx):
    answer = json.dumps({"turns": [{"instruction": "now make it blue", "task": "color"},
                                   {"instruction": "and make it bigger", "task": "resize"}]})
    with FakeEndpoint([answer]) as server:
        writer = _writer("multi-turn", server.url, turns=3, kinds=["understanding"])
        sample = Sample(id="t-0", instruction="make the car red", task="color",
                        meta={"input_caption": "a car", "object": "car"})
        rows = writer.process([sample], ctx)
    assert [r.instruction for r in rows] == ["make the car red", "now make it blue", "and make it bigger"]
    assert [r.task for r in rows] == ["color", "color", "resize"]
    assert rows[2].meta["source_from"] == "t-0-t2" and rows[2].episode_id == "t-0"
    assert "understanding, understanding" in server.requests[0]["messages"][1]["content"]
    with FakeEndpoint(['{"turns": [{"instruction": "x", "task": "color"}]}']) as server:  # one turn short
        rows = _writer("multi-turn", server.url, turns=3, kinds=["understanding"]).process([sample.derive("t-1")], ctx)
    assert rows[0].status == "error" and "expected 2 turns" in rows[0].error


def test_transformers_backend_plumbing_with_a_tiny_random_lm(ctx):
    pytest.importorskip("torch")
    from editlab.data.backends.chat import TransformersChat

    chat = TransformersChat("tiny")
    first = chat.complete([{"role": "user", "content": "Input caption: a cat"}], seed=0, max_tokens=6)
    assert isinstance(first, str) and first == chat.complete([{"role": "user", "content": "Input caption: a cat"}],
                                                             seed=0, max_tokens=6)
    writer = build_stage({"stage": "caption-llm", "backend": "transformers", "model": "tiny", "max_tokens": 6})
    writer.setup()
    out = writer.process([Sample(id="t-0", meta={"input_caption": "a cat"})], ctx)[0]
    # random weights write byte soup: the row records the failure instead of inventing an instruction
    assert out.status == "error" and "unparseable" in out.error
    assert writer.models()["writer"]["hash"].startswith("sha256:")


def test_vlm_instruct_on_a_tiny_local_vision_language_model(ctx):
    pytest.importorskip("torch")
    writer = build_stage({"stage": "vlm-instruct", "backend": "transformers", "model": "tiny", "max_tokens": 6})
    writer.setup()
    out = writer.process([Sample(id="t-0", source=Image.new("RGB", (40, 30), "red"))], ctx)[0]
    assert out.status == "error" and "unparseable" in out.error  # byte soup from random weights, not a guess
    assert writer._chat._vision and type(writer._chat._model).__name__ == "LlavaForConditionalGeneration"


def test_parse_json_object():
    assert parse_json_object('Here: {"a": 1} and {"b": 2}') == {"a": 1}
    assert parse_json_object('[{"instruction": "x"}]') == {"items": [{"instruction": "x"}]}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_json_object("no json here")


def test_tiny_tokenizer_is_the_same_in_every_process():
    import subprocess
    import sys

    code = ("from editlab.data.backends.tiny import byte_tokenizer; "
            "print(byte_tokenizer()('a cat \u00e9').input_ids)")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout
               for seed in (1, 2)}
    assert len(outputs) == 1
