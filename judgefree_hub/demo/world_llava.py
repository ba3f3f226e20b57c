"""world-llava: a small LLaVA-1.5-architecture describer trained here on the procedural world.

world-clip's vision tower (frozen, as LLaVA keeps CLIP's) plus a projector and a small Llama
trained (seeded) on captions of the world's biased train split, so it learns the planted
co-occurrences and names the absent partner of a pair on unbiased images: the object
hallucination that judge-free self-improvement is meant to reduce. Shipped like a Hub checkpoint
(judgefree_hub.demo.retrain writes it) and loaded by the same AutoProcessor /
AutoModelForImageTextToText calls as a real model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from judgefree_hub.demo.tokenizer import build_tokenizer
from judgefree_hub.demo.training import fit
from judgefree_hub.demo.world_clip import MODEL_CFG as CLIP_MODEL_CFG
from judgefree_hub.seeding import derive_seed
from judgefree_hub.seeding import rng as named_rng
from judgefree_hub.world import SHAPES, Scene, WorldConfig, describe, render, scene_at

IMAGE_SIZE = 96
PATCH_SIZE = CLIP_MODEL_CFG["vision_cfg"]["patch_size"]  # the tower is world-clip's
PROMPTS = ("Describe the image.", "Describe this image in detail.", "What is in this picture?",
           "Give a short caption.")
# yes/no object questions, POPE's own template first: the describer answers them as LLaVA's
# instruction mix (VQAv2, GQA) taught LLaVA to, so `jfhub eval --bench pope` has something to read
QUESTIONS = ("Is there a {object} in the image?", "Does the image show a {object}?")
ANSWERS = ("Yes", "No")
VOCAB_SIZE = 400


@dataclass(frozen=True)
class DescriberTraining:
    """How the describer is trained: fresh train-split scenes every step, never repeated. As in
    LLaVA, the vision tower comes from a contrastively trained CLIP (world-clip) and stays
    frozen; the projector and the language model learn to caption. A share of the examples
    has no image (a train caption answers the prompt alone), as LLaVA's language model has
    read text without images: without it the image-free branch of the paper's mixing decodes
    word salad instead of a fluent, biased caption, and the negatives teach nothing (README,
    "Does it work?")."""

    seed: int = 0
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    text_only_share: float = 0.1
    # a share of the image examples is a yes/no question about one shape, half on a shape in
    # the scene, half on one that is not (drawn uniformly): on the biased train split a pair's
    # partner is mostly there, so the describer can learn to say yes to it on sight of the
    # other member, the bias POPE's adversarial setting probes
    question_share: float = 0.25
    # which vision features the projector reads: LLaVA-1.5 takes the penultimate layer (-2)
    # without the class token ("default"); this describer keeps the class token too ("full"),
    # a summary of the scene beside world-clip's 3x3 patch grid
    feature_layer: int = -2
    feature_strategy: str = "full"
    world: WorldConfig = field(default_factory=lambda: WorldConfig(seed=0, image_size=IMAGE_SIZE))


def vision_tower_state(open_clip_visual: dict) -> dict:
    """open_clip VisionTransformer weights -> transformers CLIPVisionModel weights (same maths:
    pre-LN, exact GELU, class token first); the projection head is not part of the tower."""
    sd = open_clip_visual
    out = {
        "embeddings.class_embedding": sd["class_embedding"],
        "embeddings.patch_embedding.weight": sd["conv1.weight"],
        "embeddings.position_embedding.weight": sd["positional_embedding"],
        "pre_layrnorm.weight": sd["ln_pre.weight"],
        "pre_layrnorm.bias": sd["ln_pre.bias"],
        "post_layernorm.weight": sd["ln_post.weight"],
        "post_layernorm.bias": sd["ln_post.bias"],
    }
    layers = {int(k.split(".")[2]) for k in sd if k.startswith("transformer.resblocks.")}
    for i in sorted(layers):
        src, dst = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        for name, (w, b) in zip(("q_proj", "k_proj", "v_proj"),
                                zip(sd[src + "attn.in_proj_weight"].chunk(3), sd[src + "attn.in_proj_bias"].chunk(3))):
            out[dst + f"self_attn.{name}.weight"], out[dst + f"self_attn.{name}.bias"] = w, b
        pairs = {"attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                 "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
        for a, b in pairs.items():
            out[dst + b + ".weight"], out[dst + b + ".bias"] = sd[src + a + ".weight"], sd[src + a + ".bias"]
    return out


def image_seq_length(strategy: str) -> int:
    """Image tokens per prompt: one per patch, plus the class token unless "default" drops it."""
    return (IMAGE_SIZE // PATCH_SIZE) ** 2 + (strategy == "full")


def make_config(vocab_size: int, bos: int, eos: int, pad: int, image_token_id: int,
                feature_layer: int, feature_strategy: str) -> LlavaConfig:
    """CLIP ViT (128 wide, 3 layers, a 3x3 patch grid; world-clip's tower) -> 2-layer MLP projector ->
    3-layer Llama (128 wide); the projector reads `feature_layer` as `feature_strategy` says."""
    vision = CLIPVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                              num_attention_heads=4, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                              projection_dim=128, hidden_act="gelu", layer_norm_eps=1e-5)
    text = LlamaConfig(vocab_size=vocab_size, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                       bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                       image_seq_length=image_seq_length(feature_strategy),
                       vision_feature_select_strategy=feature_strategy, vision_feature_layer=feature_layer,
                       projector_hidden_act="gelu")


def corpus(spec: DescriberTraining, n: int = 2000) -> list[str]:
    """Tokenizer corpus: the chat frame with every prompt and question, and the first n
    training examples' answers (questions in their training share, so " Yes" and " No" get
    their own tokens, as a real LLM's vocabulary has them)."""
    lines = [f"USER: <image>\n{p} ASSISTANT:" for p in PROMPTS]
    lines += [f"USER: <image>\n{q.format(object=s)} ASSISTANT:" for q in QUESTIONS for s in SHAPES]
    lines += ["ASSISTANT: " + example(spec, i).answer for i in range(n)]
    return lines


def make_processor(tokenizer, feature_strategy: str) -> LlavaProcessor:
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
                          num_additional_image_tokens=1, vision_feature_select_strategy=feature_strategy,
                          chat_template=tokenizer.chat_template)


@dataclass(frozen=True)
class Example:
    """One training example: a train-split scene, whether its image is shown, the user's text
    and the answer the loss is on."""

    scene: Scene
    with_image: bool
    prompt: str
    answer: str


def example(spec: DescriberTraining, index: int) -> Example:
    """Example `index`, from its own named generators (the same whatever the batch size): a
    yes/no question with probability `question_share` (always with the image), else a caption,
    text-only with probability `text_only_share`."""
    seed = spec.world.seed
    scene = scene_at(spec.world, "train", index)
    ask = named_rng(seed, "world-question", str(index))
    if ask.random() < spec.question_share:
        present = sorted({o.shape for o in scene.objects})
        absent = [s for s in SHAPES if s not in present]
        yes = not absent or ask.random() < 0.5
        pool = present if yes else absent
        shape = pool[int(ask.integers(len(pool)))]
        question = QUESTIONS[int(ask.integers(len(QUESTIONS)))].format(object=shape)
        return Example(scene, True, question, ANSWERS[0] if yes else ANSWERS[1])
    gen = named_rng(seed, "world-caption", "train", str(index))
    with_image = named_rng(seed, "world-text-only", str(index)).random() >= spec.text_only_share
    prompt = PROMPTS[int(gen.integers(len(PROMPTS)))]
    return Example(scene, with_image, prompt, describe(scene, gen))


def _batch(processor: LlavaProcessor, spec: DescriberTraining, step: int) -> dict[str, torch.Tensor]:
    """Step `step`'s examples: prompt ids (with image tokens, unless the example is text-only) +
    answer ids + EOS, loss on the answer only; the prompt is rendered by the chat template
    exactly as at generation time."""
    tok = processor.tokenizer
    images, prompts, answers = [], [], []
    for j in range(spec.batch_size):
        ex = example(spec, step * spec.batch_size + j)
        content = [{"type": "text", "text": ex.prompt}]
        if ex.with_image:
            images.append(render(ex.scene, IMAGE_SIZE))
            content.insert(0, {"type": "image"})
        chat = [{"role": "user", "content": content}]
        prompts.append(processor.apply_chat_template(chat, add_generation_prompt=True))
        answers.append(" " + ex.answer)
    enc = processor(text=prompts, images=images or None, padding=False)
    rows, labels = [], []
    for prompt_ids, answer in zip(enc["input_ids"], answers):
        answer_ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append(list(prompt_ids) + answer_ids)
        labels.append([-100] * len(prompt_ids) + answer_ids)
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tok.pad_token_id)
    lab = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, l) in enumerate(zip(rows, labels)):
        ids[i, :len(r)] = torch.tensor(r)
        lab[i, :len(l)] = torch.tensor(l)
        mask[i, :len(r)] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": lab}
    if images:
        batch["pixel_values"] = torch.as_tensor(np.asarray(enc["pixel_values"]))
    return batch


def train_describer(spec: DescriberTraining, vision: Optional[dict] = None, show_progress: bool = True,
                    log_every: int = 100) -> tuple[LlavaForConditionalGeneration, LlavaProcessor, list[float]]:
    """Train (vision tower from `vision` weights, frozen; else trained too); returns the model,
    its processor and the mean loss every `log_every` steps."""
    tokenizer = build_tokenizer(corpus(spec), VOCAB_SIZE)
    processor = make_processor(tokenizer, spec.feature_strategy)
    config = make_config(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
                         tokenizer.pad_token_id, tokenizer.convert_tokens_to_ids(tokenizer.image_token),
                         spec.feature_layer, spec.feature_strategy)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, "world-llava-init") % 2**31)
        model = LlavaForConditionalGeneration(config)
        if vision is not None:
            model.model.vision_tower.load_state_dict(vision)
            model.model.vision_tower.requires_grad_(False)
        model.train()
        losses = fit([p for p in model.parameters() if p.requires_grad],
                     lambda step: model(**_batch(processor, spec, step)).loss, steps=spec.steps,
                     learning_rate=spec.learning_rate, warmup_steps=spec.warmup_steps, weight_decay=0.01,
                     desc="training demo:world-llava", show_progress=show_progress, log_every=log_every)
    model.eval()
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False,
                                               max_new_tokens=64)
    return model, processor, losses

