"""Judges: strict parsing, retries, recorded failures, rubric rules in code, and the backends' plumbing."""

from __future__ import annotations

import json

import pytest
from bench_helpers import random_image

from editlab.errors import EditlabError
from editlab.judges import DummyBackend, JudgeItem, OpenAIBackend, get_judge, parse_scores
from editlab.judges.backends import TransformersBackend, get_backend
from editlab.judges.base import AnswerFormatError
from editlab.testing import LocalServer

ITEM = JudgeItem(random_image(1, (16, 16)), random_image(2, (16, 16)), "add a hat", task="add")


@pytest.mark.parametrize("answer, problem", [
    ('{"score": 6}', "outside"),
    ('{"score": 4.5}', "not an integer"),
    ('{"score": true}', "not an integer"),
    ('{"score": 4, "bonus": 1}', "unexpected"),
    ('{"other": 4}', "missing"),
    ("The score is 4.", "not JSON"),
    ("[4]", "not a JSON object"),
])
def test_strict_parsing_rejects(answer, problem):
    with pytest.raises(AnswerFormatError, match=problem):
        parse_scores(answer, {"score": (1, 5)})


def test_parsing_accepts_a_json_fence_and_a_reason():
    assert parse_scores('```json\n{"score": 2, "reason": "meh"}\n```', {"score": (1, 5)}) == ({"score": 2}, "meh")


def test_imgedit_caps_quality_and_preservation_by_adherence_in_code():
    judge = get_judge("imgedit", DummyBackend(['{"adherence": 2, "quality": 5, "preservation": 4}']))
    verdict = judge.judge([ITEM])[0]
    assert verdict.scores == {"imgedit_adherence": 2, "imgedit_quality": 2, "imgedit_preservation": 2,
                              "imgedit_score": 2.0}
    assert verdict.details["raw_scores"]["quality"] == 5


def test_imgedit_hard_caps_at_three_when_unedited_areas_changed():
    judge = get_judge("imgedit-hard", DummyBackend(['{"score": 5, "unedited_changed": 1}']))
    assert judge.judge([ITEM])[0].scores == {"imgedit_hard_score": 3}


def test_viescore_overall_is_sqrt_of_sc_times_pq():
    answers = ['{"editing_success": 8, "overediting": 6}', '{"naturalness": 9, "artifacts": 4}']
    verdict = get_judge("viescore", DummyBackend(answers)).judge([ITEM])[0]
    assert verdict.scores == {"SC": 6, "PQ": 4, "O": pytest.approx(24 ** 0.5)}


def test_retry_then_success_keeps_every_answer():
    backend = DummyBackend(["I cannot grade this.", "<refuse>", '{"adherence": 4, "quality": 3, "preservation": 4}'])
    verdict = get_judge("imgedit", backend).judge([ITEM])[0]
    assert verdict.scores["imgedit_adherence"] == 4 and verdict.attempts == 3 and backend.calls == 3


def test_unparseable_after_all_attempts_is_a_failure_not_a_score():
    backend = DummyBackend(["nope", "<refuse>"])
    verdict = get_judge("imgedit", backend, max_attempts=4).judge([ITEM])[0]
    assert verdict.scores is None and backend.calls == 4
    assert "after 4 attempts" in verdict.failure and len(verdict.answers) == 4


def test_dummy_backend_is_deterministic_and_valid():
    first = get_judge("imgedit", "dummy").judge([ITEM])[0]
    second = get_judge("imgedit", "dummy").judge([ITEM])[0]
    assert first.scores == second.scores and 1 <= first.scores["imgedit_adherence"] <= 5


def test_vlm_judge_without_backend_says_how_to_pass_one():
    with pytest.raises(EditlabError, match="--judge-backend"):
        get_judge("viescore")


def test_backend_specs():
    backend = get_backend("openai:qwen2.5-vl@http://127.0.0.1:9/v1")
    assert backend.model == "qwen2.5-vl" and backend.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(EditlabError, match="needs a model"):
        get_backend("openai")
    with pytest.raises(EditlabError, match="did you mean 'openai'"):
        get_backend("openia:gpt")


# ---- the OpenAI-compatible backend against a local HTTP server ----------------------------------

class _Server(LocalServer):
    """A chat-completions endpoint answering from a list of (status, payload), or from a function."""

    def __init__(self, replies):
        self.replies = replies if callable(replies) else list(replies)
        super().__init__(self._reply)

    @property
    def requests(self):
        return [{"path": r.path, "body": r.json(), "auth": r.headers.get("Authorization")} for r in self.received]

    def _reply(self, request):
        body = request.json()
        if callable(self.replies):
            return self.replies(body)
        return self.replies.pop(0) if self.replies else (500, {})

    @property
    def url(self):
        return super().url + "/v1"


def _completion(content, refusal=None, finish="stop"):
    return 200, {"model": "qwen2.5-vl-7b-2025-01", "system_fingerprint": "fp_1", "choices": [{"message": {"role": "assistant", "content": content, "refusal": refusal},
                              "finish_reason": finish}]}


def test_openai_backend_sends_pinned_request_with_images(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    good = '{"adherence": 5, "quality": 4, "preservation": 5, "reason": "fine"}'
    with _Server([_completion(good)]) as server:
        backend = OpenAIBackend("qwen2.5-vl-7b", base_url=server.url, api_key_env="TEST_JUDGE_KEY", seed=7)
        judge = get_judge("imgedit", backend)
        verdict = judge.judge([ITEM])[0]
    assert judge.served == [{"model": "qwen2.5-vl-7b-2025-01", "system_fingerprint": "fp_1"}]
    assert verdict.scores["imgedit_score"] == pytest.approx(14 / 3)
    assert backend.last_served == {"model": "qwen2.5-vl-7b-2025-01", "system_fingerprint": "fp_1"}
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "qwen2.5-vl-7b" and body["temperature"] == 0.0 and body["seed"] == 7
    parts = body["messages"][0]["content"]
    assert parts[0]["type"] == "text" and "add a hat" in parts[0]["text"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 2 and images[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_openai_backend_malformed_and_refused_answers_are_retried_then_failed():
    replies = [_completion("Sure! Score: 5/5"), _completion(None, refusal="I can't help with that"),
               _completion("still not json", finish="stop")]
    with _Server(replies) as server:
        verdict = get_judge("imgedit", OpenAIBackend("m", base_url=server.url), max_attempts=3).judge([ITEM])[0]
    assert verdict.scores is None and len(server.requests) == 3
    assert verdict.answers[1].startswith("<refused")
    assert "unparseable" in verdict.failure


def test_openai_backend_server_errors_are_retried():
    good = '{"score": 2, "unedited_changed": 0}'
    with _Server([(500, {"error": "overloaded"}), _completion(good)]) as server:
        verdict = get_judge("imgedit-hard", OpenAIBackend("m", base_url=server.url)).judge([ITEM])[0]
    assert verdict.scores == {"imgedit_hard_score": 2} and verdict.attempts == 2


def test_openai_backend_bad_key_is_a_clear_error():
    with _Server([(401, {"error": "bad key"})]) as server, pytest.raises(EditlabError, match="OPENAI_API_KEY"):
        OpenAIBackend("m", base_url=server.url).chat("hi", [])


# ---- the transformers backend's plumbing, with stubs instead of a 7B model ------------------------

class _StubInputs(dict):
    def to(self, device):
        return self


class _StubProcessor:
    def __init__(self):
        self.seen = {}

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        self.seen["messages"] = messages
        return "<chat>" + messages[0]["content"][-1]["text"]

    def __call__(self, text, images, return_tensors):
        import torch

        self.seen["images"] = images
        return _StubInputs(input_ids=torch.tensor([[1, 2, 3]]))

    def batch_decode(self, tokens, skip_special_tokens):
        self.seen["decoded"] = tokens.tolist()
        return [' {"score": 4, "unedited_changed": 0} ']


class _StubModel:
    device = "cpu"

    def generate(self, input_ids, max_new_tokens, do_sample):
        import torch

        assert do_sample is False
        return torch.cat([input_ids, torch.tensor([[7, 8]])], dim=1)


def test_transformers_backend_prompt_and_parse_plumbing():
    processor = _StubProcessor()
    backend = TransformersBackend("Qwen/Qwen2.5-VL-7B-Instruct", model=_StubModel(), processor=processor)
    verdict = get_judge("imgedit-hard", backend).judge([ITEM])[0]
    assert verdict.scores == {"imgedit_hard_score": 4}
    content = processor.seen["messages"][0]["content"]
    assert [c["type"] for c in content] == ["image", "image", "text"] and len(processor.seen["images"]) == 2
    assert processor.seen["decoded"] == [[7, 8]]  # only the new tokens are decoded
    assert backend.describe()["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_concurrent_requests_to_an_endpoint_keep_the_order():
    def reply(body):  # the score is the number in the instruction, so order mistakes show
        k = int(body["messages"][0]["content"][0]["text"].split('"')[1].split()[1])
        return _completion(json.dumps({"score": k, "unedited_changed": 0}))

    items = [JudgeItem(random_image(k, (8, 8)), random_image(10 + k, (8, 8)), f"edit {k}") for k in range(1, 6)]
    with _Server(reply) as server:
        judge = get_judge("imgedit-hard", OpenAIBackend("m", base_url=server.url), concurrency=3)
        verdicts = judge.judge(items)
    assert [v.scores["imgedit_hard_score"] for v in verdicts] == [1, 2, 3, 4, 5]
    assert len(server.requests) == 5 and judge.concurrency == 3
