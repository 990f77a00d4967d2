"""`grounding`: find the object to edit and cut its mask (UltraEdit region edits, ImgEdit objects).

Open-vocabulary detection (OWL-ViT / OWLv2 or Grounding DINO, transformers) with box/text
thresholds 0.3 / 0.25, then box-prompted segmentation (SAM) for a tight mask; objects whose mask
covers too little or too much of the image are dropped (UltraEdit 1-90%, ImgEdit 1-60%). The chosen
object becomes the row's `mask` and `meta.target`; every kept detection is listed in `meta.objects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, Stage
from editlab.data.templates import find_objects
from editlab.errors import EditlabError, require

QUERY_SOURCES = ("object", "caption", "objects")
SELECT = ("best", "largest", "random")


@dataclass
class Detection:
    name: str
    box: list[float]  # pixels, x0 y0 x1 y1
    score: float


class Detector:
    """transformers open-vocabulary detector: OWL-ViT, OWLv2 or Grounding DINO, picked from the config."""

    def __init__(self, model: str, device: str, box_threshold: float, text_threshold: float):
        torch = require("torch", "data")
        transformers = require("transformers", "data")
        from editlab.data.backends.models import weights_hash

        self.torch, self.device = torch, device
        self.box_threshold, self.text_threshold = box_threshold, text_threshold
        if model in ("tiny", "tiny-grounding-dino"):
            from editlab.data.backends.tiny import tiny_grounding_dino, tiny_owlvit

            build, self.kind = (tiny_owlvit, "owlvit") if model == "tiny" else (tiny_grounding_dino, "grounding-dino")
            self.model, self.processor = build()
        else:
            self.kind = transformers.AutoConfig.from_pretrained(model).model_type
            classes = {"owlvit": transformers.OwlViTForObjectDetection, "owlv2": transformers.Owlv2ForObjectDetection,
                       "grounding-dino": transformers.GroundingDinoForObjectDetection}
            if self.kind not in classes:
                raise EditlabError(f"detector {model!r} is a {self.kind}; use an OWL-ViT, OWLv2 or Grounding DINO model")
            self.model = classes[self.kind].from_pretrained(model).eval()
            self.processor = transformers.AutoProcessor.from_pretrained(model)
        self.model.to(device)
        self.id, self.hash = model, weights_hash(self.model)

    def __call__(self, image: Image.Image, queries: list[str]) -> list[Detection]:
        size = [(image.height, image.width)]
        with self.torch.inference_mode():
            if self.kind == "grounding-dino":
                text = ". ".join(q.lower() for q in queries) + "."
                inputs = self.processor(images=image, text=text, return_tensors="pt").to(self.device)
                result = self.processor.post_process_grounded_object_detection(
                    self.model(**inputs), inputs["input_ids"], threshold=self.box_threshold,
                    text_threshold=self.text_threshold, target_sizes=size)[0]
                labels = result["text_labels"] if "text_labels" in result else result["labels"]
            else:
                inputs = self.processor(text=[queries], images=[image], return_tensors="pt").to(self.device)
                result = self.processor.post_process_grounded_object_detection(
                    self.model(**inputs), threshold=self.box_threshold, target_sizes=size, text_labels=[queries])[0]
                labels = result.get("text_labels") or [queries[int(i)] for i in result["labels"]]
        detections = []
        for box, score, label in zip(result["boxes"].tolist(), result["scores"].tolist(), labels, strict=True):
            x0, y0 = max(0.0, box[0]), max(0.0, box[1])
            x1, y1 = min(float(image.width), box[2]), min(float(image.height), box[3])
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                detections.append(Detection(str(label), [x0, y0, x1, y1], float(score)))
        return detections


class Segmenter:
    """SAM: a box prompt in, the best mask out."""

    def __init__(self, model: str, device: str):
        torch = require("torch", "data")
        transformers = require("transformers", "data")
        from editlab.data.backends.models import weights_hash

        self.torch, self.device = torch, device
        if model == "tiny":
            from editlab.data.backends.tiny import tiny_sam

            self.model, self.processor = tiny_sam()
        else:
            self.model = transformers.SamModel.from_pretrained(model).eval()
            self.processor = transformers.SamProcessor.from_pretrained(model)
        self.model.to(device)
        self.id, self.hash = model, weights_hash(self.model)

    def __call__(self, image: Image.Image, box: list[float]) -> np.ndarray:
        inputs = self.processor(images=[image], input_boxes=[[box]], return_tensors="pt").to(self.device)
        with self.torch.inference_mode():
            outputs = self.model(**inputs, multimask_output=False)
        masks = self.processor.image_processor.post_process_masks(
            outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu())
        return masks[0][0, 0].numpy().astype(bool)


def box_mask(size: tuple[int, int], box: list[float]) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mask[max(0, y0):min(height, y1), max(0, x0):min(width, x1)] = True
    return mask


@dataclass
class Grounding(Stage):
    """Detect -> segment -> area filter -> pick the target object."""

    name = "grounding"
    expensive = True
    detector: str = "google/owlv2-base-patch16-ensemble"
    segmenter: str | None = "facebook/sam-vit-base"  # None: the box itself is the mask
    box_threshold: float = 0.3
    text_threshold: float = 0.25
    min_area: float = 0.01
    max_area: float = 0.9
    queries: str = "object"  # where names come from: the writer's object, caption nouns, or meta.objects
    select: str = "best"
    tasks: list[str] | None = None  # only these tasks need a region; others pass through
    crop_clip_model: str | None = None  # ImgEdit: CLIP score of the box crop vs "a photo of a <name>"
    min_crop_clip: float | None = None
    device: str | None = None

    tiny_overrides: ClassVar[dict[str, Any]] = {"detector": "tiny", "segmenter": "tiny", "box_threshold": 0.0,
                                                "min_area": 0.0, "max_area": 1.0, "min_crop_clip": None,
                                                "crop_clip_model": "tiny"}

    def __post_init__(self) -> None:
        if self.queries not in QUERY_SOURCES:
            raise EditlabError(f"grounding: queries={self.queries!r}; use one of {', '.join(QUERY_SOURCES)}")
        if self.select not in SELECT:
            raise EditlabError(f"grounding: select={self.select!r}; use one of {', '.join(SELECT)}")
        if not 0 <= self.min_area < self.max_area <= 1:
            raise EditlabError(f"grounding: need 0 <= min_area < max_area <= 1, got {self.min_area}, {self.max_area}")

    def setup(self) -> None:
        from editlab.io.device import resolve_device

        device = resolve_device(self.device)
        self._detector = Detector(self.detector, device, self.box_threshold, self.text_threshold)
        self._segmenter = Segmenter(self.segmenter, device) if self.segmenter else None
        self._clip = None
        if self.crop_clip_model:
            from editlab.data.backends import encoders

            self._encoders = encoders
            self._clip = encoders.clip_encoder(self.crop_clip_model, device)

    def models(self):
        out = {}
        if getattr(self, "_detector", None):
            out["detector"] = {"id": self._detector.id, "hash": self._detector.hash}
        if getattr(self, "_segmenter", None):
            out["segmenter"] = {"id": self._segmenter.id, "hash": self._segmenter.hash}
        if getattr(self, "_clip", None):
            out["crop CLIP"] = self._encoders.describe(self._clip)
        return out

    def thresholds(self):
        return {"box score": self.box_threshold, "text score": self.text_threshold,
                "mask area": [self.min_area, self.max_area], "crop-to-name CLIP >=": self.min_crop_clip}

    def _crop_scores(self, image: Image.Image, detections: list[Detection]) -> list[float]:
        """CLIP similarity of each box crop with "a photo of a <name>" (ImgEdit drops low ones)."""
        crops = [image.crop(tuple(int(round(v)) for v in d.box)) for d in detections]
        images = self._encoders.images(self._clip, crops)
        texts = self._encoders.texts(self._clip, [f"a photo of a {d.name}" for d in detections])
        return [float(v) for v in (images * texts).sum(1)]

    def _queries(self, sample: Sample) -> list[str]:
        if self.queries == "object":
            names = [sample.meta.get("object")] if sample.meta.get("object") else []
        elif self.queries == "objects":
            names = [o["name"] for o in sample.meta.get("objects", [])]
        else:
            names = find_objects(sample.meta.get("input_caption", ""))
        return list(dict.fromkeys(str(n) for n in names if n))

    def process_one(self, sample: Sample, ctx: ShardContext) -> Sample:
        if self.tasks is not None and sample.task not in self.tasks:
            return sample
        image = sample.image("source")
        queries = self._queries(sample)
        if not queries:
            return sample.reject(self.name, f"nothing to look for (queries from {self.queries})")
        candidates = []
        total = image.width * image.height
        detections = self._detector(image, queries)
        crop_scores = self._crop_scores(image, detections) if self._clip is not None and detections else None
        for k, detection in enumerate(detections):
            if crop_scores is not None and self.min_crop_clip is not None and crop_scores[k] < self.min_crop_clip:
                continue
            mask = self._segmenter(image, detection.box) if self._segmenter else box_mask(image.size, detection.box)
            area = float(mask.sum()) / total
            if self.min_area <= area <= self.max_area:
                candidates.append((detection, mask, area, None if crop_scores is None else crop_scores[k]))
        if not candidates:
            crop = f" and a crop-to-name CLIP score >= {self.min_crop_clip}" if crop_scores is not None else ""
            return sample.reject(self.name, f"no {'/'.join(queries)} found with a mask of "
                                            f"{self.min_area:.0%}-{self.max_area:.0%} of the image{crop}")
        if self.select == "best":
            chosen = max(candidates, key=lambda c: c[0].score)
        elif self.select == "largest":
            chosen = max(candidates, key=lambda c: c[2])
        else:
            chosen = candidates[int(ctx.rng(sample.id, "select").integers(len(candidates)))]
        detection, mask, area, crop_score = chosen

        def describe(d: Detection, a: float) -> dict[str, Any]:
            box = [round(d.box[0] / image.width, 4), round(d.box[1] / image.height, 4),
                   round(d.box[2] / image.width, 4), round(d.box[3] / image.height, 4)]
            return {"name": d.name, "box": box, "score": round(d.score, 4), "area": round(a, 4)}

        sample.meta["target"] = describe(detection, area)
        sample.meta["objects"] = [describe(d, a) for d, _, a, _ in candidates]
        sample.meta.setdefault("object", detection.name)
        sample.mask = Image.fromarray(mask.astype(np.uint8) * 255)
        sample.scores.update(grounding_score=round(detection.score, 6), mask_area=round(area, 6))
        if crop_score is not None:
            sample.scores["grounding_crop_clip"] = round(crop_score, 6)
        sample.record(self.name, detector=self.detector, segmenter=self.segmenter, queries=queries)
        return sample

