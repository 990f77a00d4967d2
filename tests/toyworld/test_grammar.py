"""Instructions: paraphrase families and splits, closed vocabulary, unambiguous referring expressions."""

from collections import Counter

import numpy as np

from editlab.toyworld import FAMILIES, TOYWORLD_TASKS, Edit, Scene, generate_examples, resolve, sample_scene
from editlab.toyworld.grammar import describe_ref, family_names, tokenize, vocabulary
from editlab.toyworld.refer import REF_KINDS, candidate_refs

MAX_TOKENS = 30  # the toyworld text encoder's context is 32 with <bos>/<eos>


def test_train_and_heldout_families_are_disjoint_and_cover_every_task():
    train, heldout = set(family_names("train")), set(family_names("heldout"))
    assert train and heldout and not train & heldout
    assert set(family_names("test")) == train
    for names in (train, heldout):
        for task in TOYWORLD_TASKS:
            assert any(task in FAMILIES[n].clauses or task == "hybrid" for n in names)
    # Held-out phrasings really are new: no clause template is shared with a training family.
    train_templates = {t for n in train for ts in FAMILIES[n].clauses.values() for t in ts}
    heldout_templates = {t for n in heldout for ts in FAMILIES[n].clauses.values() for t in ts}
    assert not train_templates & heldout_templates


def test_splits_use_their_families_and_every_family_appears():
    for split in ("train", "test", "heldout"):
        used = Counter(ex.meta["family"] for ex in generate_examples(120, seed=3, split=split))
        assert set(used) == set(family_names(split))


def test_vocabulary_covers_every_instruction_and_instructions_are_short():
    vocab = set(vocabulary())
    assert len(vocab) < 300
    for split in ("train", "heldout"):
        for ex in generate_examples(240, seed=9, split=split):
            tokens = tokenize(ex.instruction)
            assert set(tokens) <= vocab, (ex.instruction, set(tokens) - vocab)
            assert len(tokens) <= MAX_TOKENS, ex.instruction


def test_referring_expressions_pick_exactly_one_object():
    """Property test: every expression the generator may use means exactly its target."""
    rng = np.random.default_rng(0)
    kinds = Counter()
    for _ in range(150):
        scene = sample_scene(rng, aspect=float(rng.choice([0.5, 1.0, 2.0])))
        for obj in scene.objects:
            for kind, refs in candidate_refs(scene, obj).items():
                for ref in refs:
                    found = resolve(ref, scene)
                    assert [o.id for o in found] == [obj.id], (describe_ref(ref, "plain"), scene.to_dict())
                    kinds[kind] += 1
    assert set(kinds) == set(REF_KINDS) and min(kinds.values()) > 20


def test_instructions_refer_to_their_target_in_the_source():
    for ex in generate_examples(300, seed=4):
        scene, edit = Scene.from_dict(ex.meta["source_scene"]), Edit.from_dict(ex.meta["edit"])
        for part in edit.parts or [edit]:
            if part.ref is not None:
                assert [o.id for o in resolve(part.ref, scene)] == [part.target], ex.instruction


def test_ambiguous_expressions_are_refused():
    from editlab.toyworld.refer import Ref
    from editlab.toyworld.scene import SceneObject

    scene = Scene(objects=[SceneObject(0, "star", "red", x=0.3, y=0.5), SceneObject(1, "star", "red", x=0.35, y=0.2),
                           SceneObject(2, "circle", "blue", x=0.8, y=0.8)])
    assert len(resolve(Ref(shape="star", color="red"), scene)) == 2  # same look
    assert len(resolve(Ref(shape="star", extreme="leftmost"), scene)) == 2  # 0.05 apart: too close to call
    # Star 1 is above-and-left of star 0 but mostly above; the circle is diagonal to both.
    assert len(resolve(Ref(shape="circle", relation="below", anchor=Ref(shape="star")), scene)) == 0
