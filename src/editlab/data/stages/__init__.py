"""Every built-in stage, registered by name; entries are "module:Class" strings so listing them
imports nothing heavy. A new stage: write the class, add one line here (docs/adding-a-stage.md)."""

from editlab.data.stage import STAGES

_BUILTIN = {
    # sources
    "captions": "editlab.data.stages.sources:CaptionSource",
    "images": "editlab.data.stages.sources:ImageSource",
    "toyworld": "editlab.data.stages.toyworld:ToyworldSource",
    # instruction writers
    "caption-llm": "editlab.data.stages.instructions:CaptionInstructions",
    "vlm-instruct": "editlab.data.stages.instructions:VisionInstructions",
    "grounded-instruct": "editlab.data.stages.instructions:GroundedInstructions",
    "multi-turn": "editlab.data.stages.multiturn:MultiTurn",
    "toyworld-grammar": "editlab.data.stages.toyworld:ToyworldGrammar",
    # pair generators
    "prompt-to-prompt": "editlab.data.stages.pairs:PromptToPromptStage",
    "img2img-p2p": "editlab.data.stages.pairs:Img2ImgPromptToPromptStage",
    "inpaint-region": "editlab.data.stages.pairs:InpaintRegionStage",
    "classic-edit": "editlab.data.stages.classic:ClassicEdit",
    "specialist-router": "editlab.data.stages.router:SpecialistRouter",
    "toyworld-render": "editlab.data.stages.toyworld:ToyworldRender",
    # grounding, filters, judges
    "grounding": "editlab.data.stages.grounding:Grounding",
    "clip-filter": "editlab.data.stages.filters:ClipFilter",
    "dino-filter": "editlab.data.stages.filters:DinoFilter",
    "judge-filter": "editlab.data.stages.judge:JudgeFilter",
    # dataset-level
    "dedup": "editlab.data.stages.dedup:Dedup",
    "balance": "editlab.data.stages.balance:Balance",
}
for _name, _target in _BUILTIN.items():
    if _name not in STAGES:
        STAGES.register(_name, _target)

__all__ = ["STAGES"]
