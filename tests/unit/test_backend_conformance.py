"""Every backend against its model's own generate(), on every tiny family checkpoint.

One set of checks, run for each family jfhub decodes (LLaVA-1.5, LLaVA-NeXT, LLaVA-OneVision,
Qwen2-VL, Qwen2.5-VL, Idefics3 with and without image splitting): the checkpoint is resolved,
loaded with `model.backend: auto`, and its answers are compared with a reference that calls
transformers directly (chat template, processor, greedy `generate()` with a clean generation
config), never the backend's own `reference_text`. The cases are photos of six sizes (so anyres
grids, Idefics3 tiles and Qwen patch grids differ) with prompts of six lengths, so every batch
is left-padded and mixes rows of different lengths. Family-specific checks stay in each
family's own test file."""

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from judgefree_hub.backends import (
    AnswerPlan,
    Branch,
    backend_class,
    decode_answers,
    load_backend,
    self_check,
)
from judgefree_hub.demo import resolve
from judgefree_hub.recipe import GenerationSpec, ModelSpec

GEN = GenerationSpec(max_new_tokens=16, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
SPACES = ["logits", "probs"]


@dataclass(frozen=True)
class Family:
    name: str
    """The test id."""
    checkpoint: str
    backend: str
    """The backend `auto` must pick."""
    model_type: str
    processor: str
    """The processor class the checkpoint loads with."""
    options: dict[str, Any] = field(default_factory=dict)
    """`model.backend_options`; the reference passes them to its processor call too."""


FAMILIES = [
    Family("llava", "demo:tiny-llava", "llava", "llava", "LlavaProcessor"),
    Family("llava-next", "demo:tiny-llava-next", "llava_next", "llava_next", "LlavaNextProcessor"),
    Family("llava-onevision", "demo:tiny-llava-onevision", "llava_onevision", "llava_onevision",
           "LlavaOnevisionProcessor"),
    Family("qwen2-vl", "demo:tiny-qwen2-vl", "qwen2_vl", "qwen2_vl", "Qwen2VLProcessor"),
    Family("qwen2.5-vl", "demo:tiny-qwen2.5-vl", "qwen2_vl", "qwen2_5_vl", "Qwen2_5_VLProcessor"),
    Family("idefics3", "demo:tiny-idefics3", "idefics3", "idefics3", "Idefics3Processor"),
    Family("idefics3-unsplit", "demo:tiny-idefics3", "idefics3", "idefics3", "Idefics3Processor",
           {"do_image_splitting": False}),
]


def model_spec(family: Family) -> ModelSpec:
    return ModelSpec(id=family.checkpoint, revision=None, dtype="float32", device="cpu",
                     batch_size=8, generation=GEN, backend="auto", backend_options=family.options)


class Reference:
    """The model's own greedy decoding of one row, from transformers alone: a fresh processor
    and model from the checkpoint folder, the processor's chat template, one `generate()`."""

    def __init__(self, folder: str, processor_kwargs: dict[str, Any]):
        from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
        self.kwargs = processor_kwargs
        tokenizer = self.processor.tokenizer
        eos = self.model.generation_config.eos_token_id
        # clean: none of the checkpoint's sampling or repetition settings, greedy to the end
        self.config = GenerationConfig(
            max_new_tokens=GEN.max_new_tokens, do_sample=False, num_beams=1,
            eos_token_id=tokenizer.eos_token_id if eos is None else eos,
            pad_token_id=tokenizer.pad_token_id)

    @torch.inference_mode()
    def answer(self, prompt: str, image) -> tuple[str, int]:
        """(text, number of new tokens) of the greedy answer to one row."""
        content = [{"type": "text", "text": prompt}]
        if image is not None:
            content.insert(0, {"type": "image"})
        text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                  add_generation_prompt=True, tokenize=False)
        enc = self.processor(text=[text], images=None if image is None else [[image]],
                             return_tensors="pt", **self.kwargs)
        out = self.model.generate(**enc, generation_config=self.config)
        tokens = out[0, enc["input_ids"].shape[1]:].tolist()
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return text, len(tokens)


@dataclass
class Loaded:
    family: Family
    backend: Any
    with_image: list[tuple[str, int]]
    """The reference's answer to each case with its image..."""
    text_only: list[tuple[str, int]]
    """...and to the same prompt without it."""


@pytest.fixture(scope="module")
def cases(photos):
    """(prompt, image): six image sizes (square, wide, tall, tiny, crops) and six prompt lengths."""
    ims = [im for _, im in photos]
    images = [ims[0], ims[1].resize((64, 32)), ims[2], ims[3].resize((40, 60)),
              ims[0].crop((0, 0, 200, 512)), ims[1].resize((30, 100))]
    assert len({im.size for im in images}) == len(images)
    return [(photos[0][0] + " Be brief." * i, im) for i, im in enumerate(images)]


@pytest.fixture(scope="module", params=FAMILIES, ids=lambda f: f.name)
def tiny(request, jfhub_cache, cases) -> Loaded:
    """The family's tiny checkpoint, loaded as a recipe with `backend: auto` loads it, and the
    reference answers to every case."""
    family = request.param
    folder = resolve(family.checkpoint)  # built once per session cache
    backend = load_backend(model_spec(family))
    assert backend.name == family.backend
    reference = Reference(folder, family.options)
    return Loaded(family, backend, [reference.answer(p, im) for p, im in cases],
                  [reference.answer(p, None) for p, _ in cases])


def texts(answers: list[tuple[str, int]]) -> list[str]:
    return [text for text, _ in answers]


def greedy(backend, rows: list[Branch]) -> list[str]:
    plans = [AnswerPlan(i, None, 0.0) for i in range(len(rows))]
    return decode_answers(backend, rows, plans, GEN, "logits")


def test_auto_picks_the_family_backend(tiny):
    family, backend = tiny.family, tiny.backend
    assert backend_class(model_spec(family)).name == type(backend).name == family.backend
    assert backend.model.config.model_type == family.model_type
    # the backend claims exactly the model types of the tiny checkpoints it runs
    claimed = {f.model_type for f in FAMILIES if f.backend == family.backend}
    assert set(type(backend).model_types) == claimed
    assert type(backend.processor).__name__ == family.processor


def test_reference_answers_are_long_and_differ(tiny):
    """What the equality checks compare against is not trivial: no early stop on image rows (the
    cache and positions are exercised), every photo its own answer, prompts their own text-only
    answers."""
    assert all(n >= 12 for _, n in tiny.with_image)
    assert len(set(texts(tiny.with_image))) == len(tiny.with_image) and all(texts(tiny.with_image))
    assert len(set(texts(tiny.text_only))) >= 2


def test_h0_equals_generate_row_by_row(tiny, cases):
    got = greedy(tiny.backend, [Branch(p, im) for p, im in cases])
    assert got == texts(tiny.with_image)


@pytest.mark.parametrize("space", SPACES)
def test_h1_equals_text_only_generate_in_a_mixed_batch(tiny, cases, space):
    rows, answers = [], []
    for i, (prompt, image) in enumerate(cases):
        free_first = i % 2 == 0  # both orders, and a batch that starts with an image-free row
        pair = [Branch(prompt, image), Branch(prompt, None)]
        rows += pair[::-1] if free_first else pair
        answers.append(AnswerPlan(len(rows) - 2 + free_first, len(rows) - 1 - free_first, 1.0))
    assert rows[0].image is None and rows[3].image is None and rows[2].image is not None
    got = decode_answers(tiny.backend, rows, answers, GEN, space)
    assert got == texts(tiny.text_only)


def test_a_batch_of_image_free_rows_only(tiny, cases):
    assert greedy(tiny.backend, [Branch(p, None) for p, _ in cases]) == texts(tiny.text_only)


def test_mixed_ratio_answer_does_not_depend_on_batch_mates(tiny, cases):
    def plan(items):
        rows, answers = [], []
        for p, im in items:
            answers.append(AnswerPlan(len(rows), len(rows) + 1, 0.5))
            rows += [Branch(p, im), Branch(p, None)]
        return rows, answers

    together = decode_answers(tiny.backend, *plan(cases), GEN, "logits")
    alone = [decode_answers(tiny.backend, *plan([case]), GEN, "logits")[0] for case in cases]
    assert together == alone
    assert len(set(together)) > 1


def test_mix_strategy_pairs_match_plain_and_text_only_generate(tiny, cases):
    """The positive (h=0) and the negative (fixed h=1) of each sample share one batch and one
    prefilled image prefix, and still equal generate() on each alone."""
    from judgefree_hub.records import LoadedSample, Sample
    from judgefree_hub.strategies.mix import MixStrategy

    strategy = MixStrategy({"space": "logits", "positive_ratio": 0.0, "unconditional": "no_image",
                            "negative_ratio": {"distribution": "fixed", "value": 1.0}}, seed=0)
    batch = [LoadedSample(Sample(f"k{i}", "s", p, lambda im=im: im), im)
             for i, (p, im) in enumerate(cases)]
    pairs = strategy.generate(batch, tiny.backend, GEN)
    assert [p.positive for p in pairs] == texts(tiny.with_image)
    assert [p.negative for p in pairs] == texts(tiny.text_only)
    assert all(p.positive != p.negative for p in pairs)
    assert {(p.positive_ratio, p.negative_ratio) for p in pairs} == {(0.0, 1.0)}


def test_self_check_passes(tiny, cases):
    for prompt, image in cases[::2]:
        assert self_check(tiny.backend, Branch(prompt, image), tiny.family.checkpoint) is None
    assert self_check(tiny.backend, Branch(cases[1][0], None), tiny.family.checkpoint) is None


def test_answers_vary_across_photos(tiny, cases):
    got = greedy(tiny.backend, [Branch(cases[0][0], im) for _, im in cases])
    assert len(set(got)) == len(got) and all(got)
