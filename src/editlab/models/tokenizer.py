"""A word-level tokenizer over a closed vocabulary (toyworld's instruction grammar).

Saved as a plain `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained(folder)` and the
diffusers pipelines load it without editlab. Lower-cases, splits on whitespace and punctuation,
wraps every prompt in <bos> ... <eos> and pads with <pad> (the CLIP text model pools at <eos>).
"""

from __future__ import annotations

from collections.abc import Iterable

from editlab.errors import require

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


def build_word_tokenizer(words: Iterable[str], model_max_length: int = 32):
    """A `PreTrainedTokenizerFast` whose ids are: 4 special tokens, then the sorted words.

    >>> tok = build_word_tokenizer(["make", "it", "red"], model_max_length=8)   # doctest: +SKIP
    >>> tok("Make it RED!").input_ids      # "!" is not in the vocabulary    # doctest: +SKIP
    [1, 5, 4, 6, 3, 2]
    """
    tokenizers = require("tokenizers", "train")
    transformers = require("transformers", "train")
    from tokenizers import models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    # Words keep inner apostrophes ("don't"); a run of punctuation ("->", "!") is one token.
    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(tokenizers.Regex(r"\w+(?:'\w+)*|[^\w\s]+"), behavior="isolated"),
    ])
    pieces: set[str] = set()
    for entry in words:
        if entry and entry.strip():
            pieces.update(p for p, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(entry)))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for piece in sorted(pieces):
        vocab.setdefault(piece, len(vocab))
    core = tokenizers.Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizer
    core.pre_tokenizer = pre_tokenizer
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core,
        model_max_length=model_max_length,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side="right",
    )
