"""Instruction writers: a chat model (or the offline template grammar) writes what to edit.

* `caption-llm` (InstructPix2Pix): input caption -> instruction + output caption;
* `vlm-instruct` (MultiEdit): a vision-language model looks at the image and writes an instruction
  that fits it;
* `grounded-instruct` (ImgEdit): the prompt names the object, its position and its size, taken
  from the grounding stage's box.

Every writer asks for one JSON object and parses it strictly; an unparseable answer is retried,
then recorded as the row's error (never guessed). Backends: `template` (offline, seeded),
`openai` (any OpenAI-compatible server: vLLM, Ollama, ...), `transformers` (a local model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from editlab.data.backends.chat import ChatBackend, Message, get_chat_backend, parse_json_object, user_message
from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, Stage
from editlab.data.templates import TEMPLATE_TASKS, find_objects, position_words, size_words, template_edit
from editlab.errors import EditlabError
from editlab.tasks import TASKS

PROMPT_VERSION = "1"


def canonical_task(name: Any) -> str | None:
    """editlab's task name for a name a model may answer with ("object swap" -> "replace")."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace("-", " ").replace("_", " ")
    for task in TASKS.values():
        if key == task.name.replace("_", " ") or key in (alias.lower() for _, alias in task.aliases):
            return task.name
    return None


@dataclass
class InstructionWriter(Stage):
    """Shared machinery: backend choice, prompting, strict parsing with retries."""

    backend: str = "template"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 256
    retries: int = 1
    tasks: list[str] = field(default_factory=lambda: list(TEMPLATE_TASKS))
    device: str | None = None
    dtype: str = "auto"

    tiny_overrides: ClassVar[dict[str, Any]] = {"backend": "template"}
    system_prompt: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for task in self.tasks:
            if task not in TASKS:
                raise EditlabError(f"{self.name}: unknown task {task!r} in tasks; see editlab.tasks.TASKS")
        if self.backend != "template" and not self.model:
            raise EditlabError(f"{self.name}: backend {self.backend!r} needs model= (a model name or path)")
        self._chat: ChatBackend | None = None

    def journaled(self) -> bool:
        return self.backend != "template"  # model calls cost time or money; templates do not

    def setup(self) -> None:
        if self.backend == "template":
            return
        options: dict[str, Any] = {"model": self.model}
        if self.backend == "openai":
            options.update(base_url=self.base_url, api_key_env=self.api_key_env)
        elif self.backend == "transformers":
            options.update(device=self.device, dtype=self.dtype)
        self._chat = get_chat_backend(self.backend, **options)

    def models(self) -> dict[str, Any]:
        if self._chat is None:
            return {"writer": {"id": "template", "hash": f"editlab-template-v{PROMPT_VERSION}"}}
        return {"writer": self._chat.describe()}

    # -- subclasses fill these ------------------------------------------------------------------
    def from_template(self, sample: Sample, ctx: ShardContext) -> dict[str, Any]:
        raise NotImplementedError

    def messages(self, sample: Sample) -> list[Message]:
        raise NotImplementedError

    # -- common flow ------------------------------------------------------------------------------
    def process_one(self, sample: Sample, ctx: ShardContext) -> Sample:
        if self._chat is None:
            answer = self.from_template(sample, ctx)
        else:
            answer = self._ask(sample, ctx)
        return self.apply(sample, answer)

    def _ask(self, sample: Sample, ctx: ShardContext) -> dict[str, Any]:
        messages = self.messages(sample)
        problem = ""
        for attempt in range(self.retries + 1):
            text = self._chat.complete(messages, seed=ctx.seed(sample.id, attempt), max_tokens=self.max_tokens,
                                       temperature=self.temperature if attempt == 0 else max(self.temperature, 0.7))
            try:
                return self.validate(parse_json_object(text))
            except ValueError as exc:
                problem = str(exc)
        raise ValueError(f"unparseable answer after {self.retries + 1} tries: {problem}")

    def validate(self, answer: dict[str, Any]) -> dict[str, Any]:
        instruction = answer.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"no 'instruction' in {json.dumps(answer)[:120]}")
        task = canonical_task(answer.get("task")) or (self.tasks[0] if len(self.tasks) == 1 else None)
        if task is None or task not in self.tasks:
            raise ValueError(f"task {answer.get('task')!r} is not one of {self.tasks}")
        return {**answer, "instruction": instruction.strip(), "task": task}

    def apply(self, sample: Sample, answer: dict[str, Any]) -> Sample:
        sample.instruction, sample.task = answer["instruction"], answer["task"]
        for key in ("output_caption", "object", "replacement", "removal_caption", "classic_op"):
            if answer.get(key):
                sample.meta[key] = answer[key]
        sample.record(self.name, writer=self.models()["writer"].get("id"), prompt_version=PROMPT_VERSION)
        return sample

    def task_list(self) -> str:
        return ", ".join(f"{t} ({TASKS[t].description})" for t in self.tasks)


IP2P_EXAMPLES = [
    ("a girl riding a horse on a beach, photograph", "have her ride a dragon",
     "a girl riding a dragon on a beach, photograph", "replace"),
    ("a wooden cabin in the woods, oil painting", "make it winter", "a wooden cabin in the snowy woods, oil painting",
     "environment"),
    ("portrait of an old man with a grey beard", "make his beard red", "portrait of an old man with a red beard",
     "color"),
    ("a bowl of fruit on a kitchen table", "turn it into a pencil sketch",
     "a pencil sketch of a bowl of fruit on a kitchen table", "style"),
    ("a red car parked on a city street", "remove the car", "an empty city street", "remove"),
]


@dataclass
class CaptionInstructions(InstructionWriter):
    """IP2P: an LLM turns an input caption into (instruction, output caption)."""

    name = "caption-llm"
    add_existing: bool = False  # "add" picks an object already in the image (for reversed removal)

    system_prompt = ("You write image-editing data. Given a caption of an image, write one edit instruction a "
                     "person could give, and the caption of the edited image. Keep everything the instruction "
                     "does not change. Answer with one JSON object only.")

    def from_template(self, sample, ctx):
        caption = _caption(sample, self.name)
        rng = ctx.rng(sample.id)
        answer = template_edit(caption, rng, tasks=self.tasks)
        if answer["task"] == "add" and self.add_existing:
            present = find_objects(caption)
            if present:
                removal = template_edit(caption, ctx.rng(sample.id, "add"), tasks=["remove"], objects=[present[0]])
                answer = {"instruction": f"add a {present[0]}", "output_caption": caption, "task": "add",
                          "object": present[0], "removal_caption": removal["output_caption"]}
        return answer

    def messages(self, sample):
        examples = "\n".join(json.dumps({"input_caption": c, "instruction": i, "output_caption": o, "task": t})
                             for c, i, o, t in IP2P_EXAMPLES)
        prompt = (f"Examples:\n{examples}\n\nTasks: {self.task_list()}.\nInput caption: {_caption(sample, self.name)}\n"
                  'Answer as {"instruction": ..., "output_caption": ..., "task": ..., "object": the object edited '
                  "or null}.")
        return [{"role": "system", "content": self.system_prompt}, user_message(prompt)]

    def validate(self, answer):
        answer = super().validate(answer)
        if not isinstance(answer.get("output_caption"), str) or not answer["output_caption"].strip():
            raise ValueError("no 'output_caption' in the answer")
        return answer


@dataclass
class VisionInstructions(InstructionWriter):
    """MultiEdit: a VLM sees the image and writes an instruction that fits what is in it."""

    name = "vlm-instruct"

    system_prompt = ("You look at an image and propose one realistic edit instruction that fits its content, as "
                     "an expert image editor would. Answer with one JSON object only.")

    def from_template(self, sample, ctx):
        # offline: no eyes, so lean on the caption when there is one, else pick a global edit
        caption = sample.meta.get("input_caption") or "a photo"
        tasks = self.tasks if sample.meta.get("input_caption") else [t for t in self.tasks if not TEMPLATE_TASKS.get(t, True)]
        return template_edit(caption, ctx.rng(sample.id), tasks=tasks or self.tasks)

    def messages(self, sample):
        prompt = (f"Tasks: {self.task_list()}.\nWrite an edit instruction that fits this image.\n"
                  'Answer as {"instruction": ..., "task": ..., "object": the object edited or null, '
                  '"output_caption": a caption of the edited image}.')
        return [{"role": "system", "content": self.system_prompt}, user_message(prompt, [sample.image("source")])]


@dataclass
class GroundedInstructions(InstructionWriter):
    """ImgEdit: the prompt carries the target object's name, position and approximate size."""

    name = "grounded-instruct"
    tasks: list[str] = field(default_factory=lambda: ["remove", "replace", "color", "material", "add", "background"])

    system_prompt = ("You write image-editing instructions about one object of a photo. Mention the object's "
                     "position or size when it helps to identify it. Answer with one JSON object only.")

    def _target(self, sample: Sample) -> dict[str, Any]:
        target = sample.meta.get("target")
        if not target:
            raise EditlabError(f"{self.name} needs a grounded object (meta.target); put a grounding stage before it")
        return target

    def from_template(self, sample, ctx):
        target = self._target(sample)
        caption = sample.meta.get("input_caption") or f"a photo with a {target['name']}"
        rng = ctx.rng(sample.id)
        answer = template_edit(caption, rng, tasks=self.tasks, objects=[target["name"]])
        position = position_words(target["box"])
        if answer["task"] == "add":  # the object is in the photo: the pair is made by reversed removal
            removal = template_edit(caption, rng, tasks=["remove"], objects=[target["name"]])
            return {"instruction": f"add a {size_words(target['area'])} {target['name']} at the {position}",
                    "output_caption": caption, "task": "add", "object": target["name"],
                    "removal_caption": removal["output_caption"]}
        where = f"the {size_words(target['area'])} {target['name']} at the {position}"
        if answer.get("object") == target["name"]:
            answer["instruction"] = answer["instruction"].replace(f"the {target['name']}", where, 1)
        return answer

    def messages(self, sample):
        target = self._target(sample)
        prompt = (f"Caption: {sample.meta.get('input_caption', 'unknown')}\nObject: {target['name']}; position: "
                  f"{position_words(target['box'])}; size: {size_words(target['area'])} ({target['area']:.0%} of "
                  f"the image).\nTasks: {self.task_list()}.\n"
                  'Answer as {"instruction": ..., "task": ..., "output_caption": a caption of the edited image}.')
        return [{"role": "system", "content": self.system_prompt},
                user_message(prompt, [sample.image("source")] if sample.source is not None else None)]

    def apply(self, sample, answer):
        answer.setdefault("object", self._target(sample)["name"])
        return super().apply(sample, answer)


def _caption(sample: Sample, stage: str) -> str:
    caption = sample.meta.get("input_caption")
    if not caption:
        raise EditlabError(f"{stage} needs an input caption (meta.input_caption); start from captions or captioned images")
    return str(caption)
