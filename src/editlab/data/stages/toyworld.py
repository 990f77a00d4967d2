"""toyworld stages: a real dataset with exact ground truth, built by the same job machinery.

* `toyworld` (source): item i is a scene and a structured edit drawn exactly as
  `editlab.toyworld.generate_example(seed, split=, task=, index=i)` draws them (so the rows equal
  the library's examples), tasks round-robin over `tasks` so they come balanced; a fraction
  `episodes` of the items are multi-turn episodes instead (`generate_episode`), one row per turn;
* `toyworld-render`: renders source and target from the scene graphs and the edit mask;
* `toyworld-grammar`: re-phrases instructions with other paraphrase families of the grammar
  (`paraphrases` extra rows per pair, same images), the toyworld backend of instruction writing.
"""

from __future__ import annotations

from dataclasses import dataclass

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, SourceStage, Stage
from editlab.data.stages.pairs import PairGenerator
from editlab.errors import EditlabError
from editlab.io.seeds import uniform


def _toyworld():
    import editlab.toyworld as toyworld

    return toyworld


@dataclass
class ToyworldSource(SourceStage):
    """Scenes and exact structured edits, drawn as editlab.toyworld.generate_example draws them."""

    name = "toyworld"
    split: str = "train"
    tasks: list[str] | None = None  # None: all of toyworld's tasks, round-robin
    width: int = 64
    height: int = 64
    seed: int | None = None  # None: the job's seed
    episodes: float = 0.0  # fraction of items that become multi-turn episodes (memory/understanding/backtracking)
    episode_turns: int | None = None  # None: 2-4 turns, drawn per episode

    def __post_init__(self) -> None:
        if not 0 <= self.episodes <= 1:
            raise EditlabError(f"toyworld: episodes={self.episodes} must be a fraction in [0, 1]")
        from editlab.toyworld.generate import check_split, check_task
        from editlab.toyworld.render import check_size

        check_split(self.split)
        check_size(self.width, self.height)
        for task in self.tasks or []:
            check_task(task)

    def generate(self, ctx: ShardContext) -> list[Sample]:
        from editlab.toyworld.generate import example_rng, sample_scene_and_edit
        from editlab.toyworld.grammar import family_names, realise

        toyworld = _toyworld()
        tasks = list(self.tasks or toyworld.TOYWORLD_TASKS)
        seed = ctx.job_seed if self.seed is None else self.seed
        samples = []
        for index in range(ctx.start, ctx.stop):
            if self.episodes and uniform(seed, self.split, "episode", index) < self.episodes:
                samples.extend(self._episode(ctx, seed, index))
                continue
            task = tasks[index % len(tasks)]
            # the same draws, in the same order, as editlab.toyworld.generate_example
            rng = example_rng(seed, self.split, index)
            scene, edit = sample_scene_and_edit(rng, task, self.width / self.height)
            families = family_names(self.split)
            family = families[int(rng.integers(len(families)))]
            instruction = realise(edit, scene, family, rng)
            sample = Sample(id=ctx.item_id(index), instruction=instruction, task=edit.task)
            sample.meta.update(toyworld_scene=scene.to_dict(), toyworld_edit=edit.to_dict(), family=family,
                               split=self.split, seed=seed, index=index, width=self.width, height=self.height)
            sample.record(self.name, seed=seed, split=self.split, index=index, family=family)
            samples.append(sample)
        return samples


    def _episode(self, ctx: ShardContext, seed: int, index: int) -> list[Sample]:
        """Every turn is a complete pair: its parent version -> the expected version (exact)."""
        toyworld = _toyworld()
        episode = toyworld.generate_episode(seed, split=self.split, index=index, turns=self.episode_turns,
                                            width=self.width, height=self.height)
        episode_id = ctx.item_id(index)
        rows = []
        for turn in episode.turns:
            meta = turn.meta
            sample = Sample(id=f"{episode_id}-t{turn.turn}", instruction=turn.instruction, task=turn.task,
                            turn=turn.turn, episode_id=episode_id)
            sample.meta.update(toyworld_scene=meta["source_scene"], toyworld_edit=meta["edit"], family=episode.family,
                               split=self.split, seed=seed, index=index, width=self.width, height=self.height,
                               multi_turn_kind=episode.kind, parent_turn=meta["parent_turn"],
                               operation=meta["operation"], resolved_instruction=meta["resolved_instruction"],
                               toyworld_episode=episode.id,
                               **({"editor_instruction": meta["editor_instruction"]}
                                  if meta.get("editor_instruction") else {}))
            sample.record(self.name, seed=seed, split=self.split, index=index, episode_kind=episode.kind)
            rows.append(sample)
        return rows


@dataclass
class ToyworldRender(PairGenerator):
    """Render both sides of the edit and its mask (exact, CPU-only, no model)."""

    name = "toyworld-render"
    expensive = False  # milliseconds per row: no journal
    width: int | None = None  # None: the size the source stage drew the scene for
    height: int | None = None

    def generate(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        from editlab.toyworld.edits import Edit
        from editlab.toyworld.generate import make_example
        from editlab.toyworld.scene import Scene

        meta = sample.meta
        if "toyworld_scene" not in meta:
            raise EditlabError("toyworld-render needs a toyworld scene (meta.toyworld_scene); start from the toyworld source")
        width, height = self.width or meta["width"], self.height or meta["height"]
        example = make_example(Scene.from_dict(meta["toyworld_scene"]), Edit.from_dict(meta["toyworld_edit"]),
                               sample.instruction, width=width, height=height, example_id=sample.id)
        sample.source, sample.edited, sample.mask = example.source, example.target, example.mask
        sample.task = example.task
        for key in ("toyworld", "field_names", "edit", "source_scene", "target_scene"):
            meta[key] = example.meta[key]
        meta["width"], meta["height"] = width, height
        for key in ("toyworld_scene", "toyworld_edit"):
            meta.pop(key, None)
        sample.record(self.name, width=width, height=height)
        return [sample]


@dataclass
class ToyworldGrammar(Stage):
    """More phrasings of each edit from the grammar's other families (instruction augmentation)."""

    name = "toyworld-grammar"
    paraphrases: int = 1
    families: list[str] | None = None  # None: the families of the row's split
    keep_original: bool = True

    def process_one(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        from editlab.toyworld.edits import Edit
        from editlab.toyworld.grammar import family_names, realise
        from editlab.toyworld.scene import Scene

        meta = sample.meta
        scene_dict, edit_dict = meta.get("source_scene", meta.get("toyworld_scene")), meta.get("edit", meta.get("toyworld_edit"))
        if scene_dict is None or edit_dict is None:
            raise EditlabError("toyworld-grammar needs toyworld rows (scene graph and structured edit in meta)")
        scene, edit = Scene.from_dict(scene_dict), Edit.from_dict(edit_dict)
        families = self.families or family_names(meta.get("split", "train"))
        others = [f for f in families if f != meta.get("family")] or families
        rng = ctx.rng(sample.id, "paraphrase")
        rows = [sample] if self.keep_original else []
        for j, family in enumerate(rng.permutation(others)[: self.paraphrases]):
            text = realise(edit, scene, str(family), ctx.rng(sample.id, "realise", j))
            if not self.keep_original and j == 0:
                row = sample
                row.instruction = text
            else:
                row = sample.derive(f"{sample.id}-p{j + 1}", instruction=text, group=sample.group or sample.id)
            row.meta["family"] = str(family)
            row.record(self.name, family=str(family))
            rows.append(row)
        return rows

