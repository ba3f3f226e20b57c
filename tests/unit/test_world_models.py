"""The world demo models' pieces that need no training: weight conversion, hard negatives,
batches. Training itself runs in the e2e tests (once per session, into the session cache)."""

import numpy as np
import open_clip
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from judgefree_hub.demo import world_clip, world_llava
from judgefree_hub.evals.pope import AnswerTokens
from judgefree_hub.seeding import rng
from judgefree_hub.world import SHAPES, WorldConfig, describe, scene_at


def test_open_clip_tower_converts_to_transformers_exactly():
    torch.manual_seed(0)
    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 48, "layers": 2, "width": 64, "head_width": 16, "patch_size": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    clip = open_clip.CLIP(**cfg).eval()
    hf = CLIPVisionModel(CLIPVisionConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                                          num_attention_heads=4, image_size=48, patch_size=16,
                                          hidden_act="gelu", layer_norm_eps=1e-5)).eval()
    state = world_llava.vision_tower_state(clip.visual.state_dict())
    missing, unexpected = hf.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    pixels = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        want = clip.encode_image(pixels)
        got = hf(pixel_values=pixels).pooler_output @ clip.visual.proj
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_hard_negative_makes_exactly_one_change():
    config = WorldConfig(seed=0)
    kinds = set()
    for i in range(200):
        scene = scene_at(config, "eval", i)
        neg = world_clip.hard_negative(scene, rng(0, "t", str(i)))
        assert describe(neg) != describe(scene)
        before, after = {o.shape for o in scene.objects}, {o.shape for o in neg.objects}
        if len(neg.objects) == len(scene.objects) + 1:
            kinds.add("added")
            assert len(after - before) == 1
        elif after != before:
            kinds.add("swapped")
        else:
            changed = [(a.color != b.color, a.size != b.size) for a, b in zip(scene.objects, neg.objects)
                       if a != b]
            assert changed in ([(True, False)], [(False, True)])
            kinds.add("recoloured" if changed[0][0] else "resized")
    assert kinds == {"added", "swapped", "recoloured", "resized"}


def test_describer_batch_trains_on_the_answer_only_with_text_only_examples_and_questions():
    spec = world_llava.DescriberTraining(batch_size=16, text_only_share=0.3, question_share=0.3)
    tok = world_llava.build_tokenizer(world_llava.corpus(spec, n=200), world_llava.VOCAB_SIZE)
    proc = world_llava.make_processor(tok, spec.feature_strategy)
    batch = world_llava._batch(proc, spec, 0)
    examples = [world_llava.example(spec, j) for j in range(16)]
    kinds = {("question" if e.prompt not in world_llava.PROMPTS else "caption", e.with_image) for e in examples}
    assert kinds == {("question", True), ("caption", True), ("caption", False)}  # every kind is exercised
    size = world_llava.IMAGE_SIZE
    assert batch["pixel_values"].shape == (sum(e.with_image for e in examples), 3, size, size)
    image_id = tok.convert_tokens_to_ids(tok.image_token)
    for j, (ids, labels, mask) in enumerate(zip(batch["input_ids"], batch["labels"], batch["attention_mask"])):
        n = int(mask.sum())
        assert int((ids == image_id).sum()) == (world_llava.image_seq_length("full") if examples[j].with_image else 0)
        kept = labels[labels != -100]
        assert kept[-1] == tok.eos_token_id and (labels[:n] != -100).sum() == len(kept)
        assert tok.decode(kept[:-1]) == " " + examples[j].answer
        assert examples[j].prompt in tok.decode(ids[:n])
        assert (ids[n:] == tok.pad_token_id).all() and np.all(labels[n:].numpy() == -100)


def test_describer_examples_caption_the_scene_or_answer_a_question_about_it_truthfully():
    spec = world_llava.DescriberTraining()
    questions = {q.format(object=s): s for q in world_llava.QUESTIONS for s in SHAPES}
    asked, said_yes = 0, 0
    for j in range(2000):
        e = world_llava.example(spec, j)
        assert e.scene == scene_at(spec.world, "train", j)
        if e.prompt in questions:
            asked += 1
            assert e.with_image and e.answer in world_llava.ANSWERS
            present = questions[e.prompt] in {o.shape for o in e.scene.objects}
            assert (e.answer == "Yes") == present, (j, e)
            said_yes += present
        else:
            assert e.prompt in world_llava.PROMPTS
            gen = rng(spec.world.seed, "world-caption", "train", str(j))
            gen.integers(len(world_llava.PROMPTS))  # the prompt is drawn first
            assert e.answer == describe(e.scene, gen)
    assert abs(asked / 2000 - spec.question_share) < 0.03
    assert abs(said_yes / asked - 0.5) < 0.05  # balanced, as POPE's questions are


def test_the_describer_tokenizer_reads_yes_and_no_in_one_token_each():
    spec = world_llava.DescriberTraining()
    tok = world_llava.build_tokenizer(world_llava.corpus(spec), world_llava.VOCAB_SIZE)
    assert AnswerTokens.of(tok).single  # POPE's next-token reader: one forward per question
    for answer in world_llava.ANSWERS:
        assert len(tok(" " + answer, add_special_tokens=False)["input_ids"]) == 1


def test_describer_reads_the_class_token_and_penultimate_layer():
    """LLaVA-1.5's choice (penultimate layer) with the class token kept ("full"), the shipped
    describer's: the processor and the model agree on 3x3 patches + 1 image tokens, and a
    training step runs on mixed batches."""
    spec = world_llava.DescriberTraining(batch_size=4, text_only_share=0.3)
    assert (spec.feature_layer, spec.feature_strategy) == (-2, "full")
    tok = world_llava.build_tokenizer(world_llava.corpus(spec, n=200), world_llava.VOCAB_SIZE)
    proc = world_llava.make_processor(tok, spec.feature_strategy)
    config = world_llava.make_config(len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id,
                                     tok.convert_tokens_to_ids(tok.image_token), spec.feature_layer,
                                     spec.feature_strategy)
    assert config.image_seq_length == world_llava.image_seq_length("default") + 1 == 10
    batch = world_llava._batch(proc, spec, 0)
    image_id = tok.convert_tokens_to_ids(tok.image_token)
    per_row = (batch["input_ids"] == image_id).sum(dim=1).tolist()
    assert set(per_row) <= {0, config.image_seq_length} and config.image_seq_length in per_row
    model = world_llava.LlavaForConditionalGeneration(config)
    assert torch.isfinite(model(**batch).loss)
