"""Decoding speed of judge-free pairs: jfhub's batched loop against the baselines, same model,
same inputs, fixed-length answers (EOS off, so every path does the same work).

dynamic:  jfhub's loop (decode_answers): per step ONE forward over 3 rows per sample
          (positive-cond, negative-cond, negative-uncond) with one KV cache, as a build runs it.
static:   the same loop with the static KV cache (backend.static_cache, recipe model.cache).
generate: positive-only model.generate(), one answer per sample: the floor a user knows.
naive:    the positive with model.generate(), then the negative with a separate conditional
          and a separate unconditional forward per step (two KV caches), mixed in logits.

The model is a demo checkpoint (--model) or is built from a real model's config.json with
RANDOM weights (--config; speed does not depend on the weights): built on the meta device and
materialised once, in the chosen dtype, on the target device; its processor is the project's
own tokenizer with the family's image processor, processor class and chat template, at the
real config's vision sizes (no tokenizer or weights are downloaded).

Each path is timed end to end (pairs/s) and split into prefill and decode steps (ms/step: the
steps after the first token, whose logits come from the prefill). A decode step must at least
read the language model's weights (all but the input embedding table, of which it reads only
its tokens' rows) and lm_head once per forward, plus the keys and values of every row: at step
k a row's cache holds its padded prompt length + k positions. That, over --bandwidth, is the
memory-bandwidth floor of a step; measured / floor says how far a path is from it.
The script checks the answers: dynamic and static must be identical (in float32; in half
precision their attention reductions differ and so can near-tied tokens), and reports how many
of generate's and naive's answers equal the batched loop's.

    python benchmarks/decode.py [--model demo:tiny-llava] [--samples 16] [--batch 8] [--tokens 32]
    python benchmarks/decode.py --config benchmarks/configs/llava-1.5-7b.json --dtype bfloat16 \\
        --batch 1 --samples 1 --tokens 4 --repeats 1 [--bandwidth 27] [--warmup 0] [--layers 4]
    bash benchmarks/gpu_check.sh    # both 7B configs on a CUDA machine

A 7B config in bfloat16 on a 2-core CPU peaks at about 17 GB of memory and takes 10-15 minutes
with the command above (a 600-token LLaVA prefill alone is about a minute); --warmup 0 or
--layers N shorten it.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from PIL import Image

from judgefree_hub.backends import (
    AnswerPlan,
    Branch,
    backend_class,
    decode_answers,
    load_backend,
    mix_scores,
)
from judgefree_hub.devices import pick_device, pick_dtype
from judgefree_hub.recipe import GenerationSpec, ModelSpec
from judgefree_hub.sources import open_rgb, package_dir

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png",
          "hubble_deep_field.jpg", "retina.jpg", "camera.png"]
PATHS = ("dynamic", "static", "generate", "naive")
PROMPT = "Describe the image in detail."
INIT_STD = 0.02


# -- timing ---------------------------------------------------------------------------------
class Clock:
    """Wall time, after the device's queued work is done (CUDA runs asynchronously)."""

    def __init__(self, device: torch.device):
        self.device = device

    def now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


@dataclass
class Run:
    """One path over one batch of samples."""

    texts: list[str]
    total_s: float
    prefill_s: float
    layouts: list[tuple[int, int]] = field(default_factory=list)
    """(rows, padded prompt length) of each forward a decode step runs."""
    cache: str = ""


class _TimedSteps:
    """decode_answers' StepModel: the backend, with its prefill timed and its layout noted."""

    def __init__(self, backend, clock: Clock):
        self._backend, self._clock = backend, clock
        self.prefill_s, self.layout, self.cache = 0.0, (0, 0), ""

    def prefill(self, rows, max_new_tokens):
        t0 = self._clock.now()
        logits = self._backend.prefill(rows, max_new_tokens)
        self.prefill_s += self._clock.now() - t0
        state = self._backend._state
        self.layout, self.cache = (len(rows), state.mask.shape[1]), type(state.cache).__name__
        return logits

    def __getattr__(self, name):
        return getattr(self._backend, name)


def batched(backend, items, gen, h, clock: Clock) -> Run:
    """jfhub's loop, as a build runs it (the cache kind is the backend's static_cache)."""
    rows, answers = [], []
    for prompt, image in items:
        answers.append(AnswerPlan(len(rows), None, 0.0))
        rows.append(Branch(prompt, image))
        answers.append(AnswerPlan(len(rows), len(rows) + 1, h))
        rows += [Branch(prompt, image), Branch(prompt, None)]
    timed = _TimedSteps(backend, clock)
    t0 = clock.now()
    texts = decode_answers(timed, rows, answers, gen, "logits")
    return Run(texts, clock.now() - t0, timed.prefill_s, [timed.layout], timed.cache)


def _positive_only(backend, items, gen, clock: Clock):
    """model.generate() on the image rows: (texts, total s, prefill s, (rows, prompt length))."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StepTimes(StoppingCriteria):  # called once per generated token; never stops
        def __init__(self):
            self.times = []

        def __call__(self, input_ids, scores, **kwargs):
            self.times.append(clock.now())
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    steps = StepTimes()
    t0 = clock.now()
    enc = backend.encode([Branch(p, im) for p, im in items])
    out = backend.model.generate(**enc, max_new_tokens=gen.max_new_tokens, do_sample=False,
                                 stopping_criteria=StoppingCriteriaList([steps]))
    length = enc["input_ids"].shape[1]
    texts = [backend.decode_text(_until_eos(backend, o[length:].tolist())) for o in out]
    total = clock.now() - t0
    return texts, total, steps.times[0] - t0, (len(items), length)


@torch.inference_mode()
def generate(backend, items, gen, h, clock: Clock) -> Run:
    """Positive only: one answer per sample."""
    texts, total, prefill, layout = _positive_only(backend, items, gen, clock)
    return Run(texts, total, prefill, [layout], "DynamicCache")


@torch.inference_mode()
def _forward_steps(backend, rows, steps):
    """A plain greedy loop over one batch with its own cache; yields logits per step (the
    backend's own prefill positions: 1-D from the mask, or M-RoPE)."""
    from transformers import DynamicCache

    batch = backend.encode(rows)
    pos = backend.prefill_positions(batch)
    mask = batch.pop("attention_mask")
    cache = {backend._cache_kw: DynamicCache()}
    out = backend.model(**batch, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1, **cache)
    pos = pos[..., -1:]
    for _ in range(steps):
        token = yield out.logits[:, -1].float()
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], -1)
        pos = pos + 1
        out = backend.model(input_ids=token[:, None], attention_mask=mask, position_ids=pos, use_cache=True, **cache)


@torch.inference_mode()
def naive(backend, items, gen, h, clock: Clock) -> Run:
    t0 = clock.now()
    positives, _, prefill_g, layout_g = _positive_only(backend, items, gen, clock)
    cond_rows = [Branch(p, im) for p, im in items]
    uncond_rows = [Branch(p, None) for p, _ in items]
    t1 = clock.now()
    cond = _forward_steps(backend, cond_rows, gen.max_new_tokens)
    uncond = _forward_steps(backend, uncond_rows, gen.max_new_tokens)
    lc, lu = next(cond), next(uncond)
    prefill_cu = clock.now() - t1
    tokens = []
    hh = torch.full((len(items),), h, device=lc.device)
    for step in range(gen.max_new_tokens):
        tok = mix_scores(lc, lu, hh, "logits").argmax(-1)
        tokens.append(tok)
        if step + 1 < gen.max_new_tokens:
            lc, lu = cond.send(tok), uncond.send(tok)
    negatives = [backend.decode_text(_until_eos(backend, t)) for t in torch.stack(tokens, 1).tolist()]
    texts = [t for pair in zip(positives, negatives, strict=True) for t in pair]
    total = clock.now() - t0
    layouts = [layout_g, (len(items), backend.encode(cond_rows)["input_ids"].shape[1]),
               (len(items), backend.encode(uncond_rows)["input_ids"].shape[1])]
    return Run(texts, total, prefill_g + prefill_cu, layouts, "DynamicCache")


def _until_eos(backend, toks):
    for i, t in enumerate(toks):
        if t in backend.eos_token_ids:
            return toks[:i]
    return toks


# -- the memory-bandwidth floor -------------------------------------------------------------
def weight_bytes(model) -> int:
    """Weight bytes one decode forward reads: the language model but its input embedding table
    (a step reads only its tokens' rows of it), and lm_head (once, even when tied)."""
    skip = {id(p) for p in model.get_input_embeddings().parameters()}
    read = {id(p): p for p in model.get_decoder().parameters() if id(p) not in skip}
    read.update({id(p): p for p in model.get_output_embeddings().parameters()})
    return sum(p.numel() * p.element_size() for p in read.values())


def kv_bytes_per_position(model) -> int:
    """Bytes of keys and values one cached position of one row holds, over all layers."""
    text = model.config.get_text_config()
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * model.dtype.itemsize


def step_bytes(model, layouts: list[tuple[int, int]], tokens: int) -> float:
    """Bytes a decode step reads at least, averaged over the tokens - 1 steps after the prefill:
    per forward (rows, padded prompt length L), the weights once and each row's cache, which at
    step k holds L + k positions (left padding included: attention reads it, masked); the mean
    of L + k over k = 1 .. tokens - 1 is L + tokens / 2."""
    per_position = kv_bytes_per_position(model)
    return sum(weight_bytes(model) + per_position * rows * (length + tokens / 2) for rows, length in layouts)


# -- a model from a real config, with random weights ----------------------------------------
def _demo_tokenizer(max_length: int):
    from judgefree_hub.demo.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = max_length
    return tokenizer


def llava_processor(config, image_size: int):
    """LLaVA-1.5: the demo byte-level BPE with the llava-1.5 chat template ("USER: <image>\\n...
    ASSISTANT:"), CLIPImageProcessor (shortest edge + centre crop at the tower's size) and
    LlavaProcessor, which expands <image> to (size / patch)^2 tokens."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    text, vision = config.text_config, config.vision_config
    tokenizer = _demo_tokenizer(text.max_position_embeddings)
    vision.image_size = image_size
    extra = 1 if config.vision_feature_select_strategy == "full" else 0
    config.image_seq_length = (image_size // vision.patch_size) ** 2 + extra
    config.image_token_id = tokenizer.convert_tokens_to_ids(tokenizer.image_token)
    text.bos_token_id, text.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    text.pad_token_id = config.pad_token_id = tokenizer.pad_token_id
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision.patch_size,
                          num_additional_image_tokens=1,
                          vision_feature_select_strategy=config.vision_feature_select_strategy,
                          chat_template=tokenizer.chat_template)


def qwen_processor(config, image_size: int):
    """Qwen2-VL / Qwen2.5-VL: the demo Qwen2 tokenizer (Qwen's specials, the Instruct chat
    template) and the family's image, video and processor classes with the real checkpoints'
    pixel limits; a square image of `image_size` px (a multiple of patch x merge) gives
    (image_size / (patch x merge))^2 image tokens."""
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    from judgefree_hub.demo import tiny_qwen

    vision, text = config.vision_config, config.text_config
    step = vision.patch_size * vision.spatial_merge_size
    if image_size % step:
        raise SystemExit(f"--image-size {image_size}: Qwen resizes to multiples of {step} px; give one")
    tokenizer = tiny_qwen.build_tokenizer()
    tokenizer.model_max_length = text.max_position_embeddings
    ids = dict(zip(tiny_qwen.SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(tiny_qwen.SPECIAL_TOKENS)), strict=True))
    config.image_token_id, config.video_token_id = ids[tiny_qwen.IMAGE_PAD], ids[tiny_qwen.VIDEO_PAD]
    config.vision_start_token_id, config.vision_end_token_id = ids[tiny_qwen.VISION_START], ids[tiny_qwen.VISION_END]
    text.bos_token_id, text.eos_token_id, text.pad_token_id = None, ids[tiny_qwen.IM_END], ids[tiny_qwen.PAD]
    sizes = dict(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}, patch_size=vision.patch_size,
                 merge_size=vision.spatial_merge_size, temporal_patch_size=vision.temporal_patch_size)
    cls = Qwen2_5_VLProcessor if config.model_type == "qwen2_5_vl" else Qwen2VLProcessor
    return cls(image_processor=Qwen2VLImageProcessor(**sizes), video_processor=Qwen2VLVideoProcessor(**sizes),
               tokenizer=tokenizer, chat_template=tiny_qwen.CHAT_TEMPLATE)


# model_type -> (processor builder, the default --image-size: the vision tower's, or for
# Qwen's any-resolution tower 448 px = 256 image tokens)
FAMILIES: dict[str, tuple[Callable, Callable]] = {
    "llava": (llava_processor, lambda config: config.vision_config.image_size),
    "qwen2_vl": (qwen_processor, lambda config: 448),
    "qwen2_5_vl": (qwen_processor, lambda config: 448),
}


def _available_bytes(device: torch.device) -> Optional[int]:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@torch.no_grad()
def build_model(config, device: torch.device, dtype: torch.dtype, tokenizer):
    """The model class for `config`, built on the meta device and materialised once on `device`
    in `dtype`: weights drawn N(0, 0.02) in place (norm weights 1, biases 0), then the model's
    own init for what is not a weight (rotary inv_freq, position ids: computed, as
    from_pretrained computes them). The lm_head rows of ids the tokenizer lacks or cannot show
    (specials, control bytes) are zeroed, so greedy text is readable words and two paths'
    texts are equal only when their tokens are (the logits still cover the whole vocabulary)."""
    from transformers import AutoModelForImageTextToText

    from judgefree_hub.demo.llava import unreadable_ids

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    need = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    free = _available_bytes(device)
    if free is not None and need > 0.95 * free:
        raise SystemExit(f"the model needs {need / 1e9:.1f} GB in {dtype} and {device} has {free / 1e9:.1f} GB "
                         "free: use --dtype bfloat16 or fewer layers (--layers N)")
    model.to_empty(device=device)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.zero_()
        elif p.dim() == 1:
            p.fill_(1.0)
        else:
            p.normal_(0.0, INIT_STD)
        p._is_hf_initialized = True  # transformers' init functions skip it from here on
    model.initialize_weights()  # what is left: the buffers
    lm_head = model.get_output_embeddings().weight
    lm_head[len(tokenizer):] = 0.0
    lm_head[unreadable_ids(tokenizer)] = 0.0
    return model.eval()


def backend_from_config(config_path: Path, device: torch.device, dtype: torch.dtype, image_size: Optional[int],
                        layers: Optional[int], gen: GenerationSpec, batch: int):
    """The config and a processor for it written to a temporary folder (no weights), the backend
    class jfhub picks for that folder, and the model built in memory from the same config."""
    from transformers import AutoConfig, AutoProcessor

    with tempfile.TemporaryDirectory(prefix="jfhub-decode-") as tmp:
        (Path(tmp) / "config.json").write_text(config_path.read_text())
        config = AutoConfig.from_pretrained(tmp)
        if config.model_type not in FAMILIES:
            raise SystemExit(f"{config_path}: model_type {config.model_type!r}; this benchmark builds processors "
                             f"for {', '.join(FAMILIES)}")
        make_processor, default_size = FAMILIES[config.model_type]
        text = config.get_text_config()
        real_layers = text.num_hidden_layers
        if layers is not None and layers < real_layers:
            text.num_hidden_layers = layers
            if getattr(text, "layer_types", None):
                text.layer_types = text.layer_types[:layers]
        processor = make_processor(config, image_size or default_size(config))
        vocab = len(processor.tokenizer)
        if vocab > text.vocab_size:
            raise SystemExit(f"the tokenizer has {vocab} tokens, more than the config's vocab_size {text.vocab_size}")
        config.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        spec = ModelSpec(tmp, None, str(dtype).removeprefix("torch."), device.type, batch, gen)
        cls = backend_class(spec)  # from the folder's config.json model_type, as load_backend does
        processor = AutoProcessor.from_pretrained(tmp)
        config = AutoConfig.from_pretrained(tmp)
    t0 = time.perf_counter()
    model = build_model(config, device, dtype, processor.tokenizer)
    built_s = time.perf_counter() - t0
    backend = cls(model, processor, device, f"{config_path} (random weights)")
    return backend, real_layers, built_s


# -- the run --------------------------------------------------------------------------------
def photos(image_size: Optional[int]) -> list[Image.Image]:
    data = package_dir("skimage") / "data"
    images = [open_rgb(data / name) for name in PHOTOS]
    if image_size:  # square, so every image gives the same number of image tokens
        images = [im.resize((image_size, image_size), Image.Resampling.BICUBIC) for im in images]
    return images


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", default="demo:tiny-llava",
                     help="a checkpoint jfhub loads (demo:<name>, a local folder or a Hub id) (default: %(default)s)")
    src.add_argument("--config", type=Path,
                     help="a real model's config.json (e.g. benchmarks/configs/llava-1.5-7b.json): the model is "
                          "built from it with RANDOM weights, nothing is downloaded or saved")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (= cuda if available) (default: %(default)s)")
    ap.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                    help="weights and KV cache dtype (default: bfloat16 on CUDA, float32 on CPU; a 7B config "
                         "on a CPU needs bfloat16)")
    ap.add_argument("--samples", type=int, default=16, help="samples (one pair each) per run (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=8,
                    help="samples decoded together; jfhub's loop runs 3 rows per sample (default: %(default)s)")
    ap.add_argument("--tokens", type=int, default=32, help="tokens per answer, EOS off; at least 2 (default: %(default)s)")
    ap.add_argument("--ratio", type=float, default=0.5, help="the negative's mixing ratio h (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per path, the fastest is kept (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed runs per path first, each on the first batch with 2 tokens (default: %(default)s)")
    ap.add_argument("--bandwidth", type=float, default=None, metavar="GB/s",
                    help="the device's memory bandwidth: prints each path's floor in ms/step and measured/floor "
                         "(without it the floor is printed in GB/step only)")
    ap.add_argument("--image-size", type=int, default=None, metavar="PX",
                    help="with --config: images are resized to this square (default: the vision tower's size, "
                         "336 for LLaVA-1.5; 448 = 256 image tokens for Qwen2-VL/2.5-VL)")
    ap.add_argument("--layers", type=int, default=None, metavar="N",
                    help="with --config: keep only the first N language-model layers (a smaller, NOT the real, "
                         "model: for machines where the full one is too slow); printed as such")
    ap.add_argument("--skip", action="extend", nargs="+", default=[], metavar="PATH",
                    help=f"paths to leave out, any of {', '.join(PATHS)} (space- or comma-separated), e.g. "
                         "--skip naive for a quick run")
    args = ap.parse_args(argv)
    args.skip = {s for item in args.skip for s in item.split(",") if s}
    if args.skip - set(PATHS):
        ap.error(f"--skip: unknown path(s) {', '.join(sorted(args.skip - set(PATHS)))}; known: {', '.join(PATHS)}")
    if args.tokens < 2:
        ap.error("--tokens must be at least 2 (ms/step is measured over the steps after the first token)")
    if args.config is None and (args.image_size or args.layers):
        ap.error("--image-size and --layers apply to --config only")
    return args


def main(argv=None) -> dict:
    """Run the benchmark, print the figures; returns them (for tests)."""
    args = parse_args(argv)
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype or ("bfloat16" if device.type == "cuda" else "float32"), device)
    gen = GenerationSpec(max_new_tokens=args.tokens, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    torch.manual_seed(0)
    lines = []
    if args.config is not None:
        backend, real_layers, built_s = backend_from_config(args.config, device, dtype, args.image_size, args.layers,
                                                            gen, args.batch)
        source = f"config {args.config}"
    else:
        spec = ModelSpec(args.model, None, str(dtype).removeprefix("torch."), str(device), args.batch, gen,
                         cache="dynamic")
        backend = load_backend(spec)  # a transformers backend: the baselines below use its model
        real_layers, built_s, source = None, None, f"model {args.model}"
    model = backend.model
    # Fixed-length answers make all paths do the same work (EOS would end them at different steps).
    backend.eos_token_ids = frozenset()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = backend.tokenizer.pad_token_id

    images = photos(args.image_size or (FAMILIES[model.config.model_type][1](model.config)
                                        if args.config is not None else None))
    items = [(PROMPT, images[i % len(images)]) for i in range(args.samples)]
    batches = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
    image_row = backend.encode([Branch(PROMPT, images[0])])
    image_tokens = int((image_row["input_ids"] == model.config.image_token_id).sum())
    text_row = backend.encode([Branch(PROMPT, None)])

    text = model.config.get_text_config()
    params = sum(p.numel() for p in model.parameters())
    lines.append(f"{source}: {type(model).__name__} ({type(backend).__name__}), {_count(params)} parameters, "
                 f"{str(dtype).removeprefix('torch.')} on {device}"
                 + (f", RANDOM weights (built in {built_s:.1f} s)" if built_s is not None else ""))
    if real_layers is not None and text.num_hidden_layers < real_layers:
        lines.append(f"  LANGUAGE MODEL TRUNCATED (--layers): {text.num_hidden_layers} of its {real_layers} layers; "
                     "NOT the real model's speed")
    lines.append(f"  language model: {text.num_hidden_layers} layers, {text.num_attention_heads} heads, "
                 f"{getattr(text, 'num_key_value_heads', None) or text.num_attention_heads} KV heads, vocab "
                 f"{text.vocab_size} (tokenizer: {len(backend.tokenizer)}); image {images[0].size[0]}x"
                 f"{images[0].size[1]} px -> {image_tokens} image tokens; prompt {image_row['input_ids'].shape[1]} "
                 f"tokens with the image, {text_row['input_ids'].shape[1]} without")
    lines.append(f"  per decode forward: weights {weight_bytes(model) / 1e9:.3f} GB, KV cache "
                 f"{kv_bytes_per_position(model) / 1e3:.1f} kB per row and cached position")
    lines.append(f"{args.samples} samples, batch {args.batch}, {args.tokens} tokens per answer (EOS off), h={args.ratio}, "
                 f"best of {args.repeats} after {args.warmup} warm-up")
    print("\n".join(lines), flush=True)

    clock = Clock(device)
    fns = {"dynamic": batched, "static": batched, "generate": generate, "naive": naive}
    paths = [p for p in PATHS if p not in args.skip]

    def run(path: str, work, g) -> list[Run]:
        backend.static_cache = path == "static"
        try:
            return [fns[path](backend, b, g, args.ratio, clock) for b in work]
        finally:
            backend.static_cache = False

    warm = GenerationSpec(max_new_tokens=2, do_sample=False, temperature=1.0, top_k=0, top_p=1.0)
    t0 = time.perf_counter()
    for path in paths:
        for _ in range(args.warmup):
            run(path, batches[:1], warm)
    if args.warmup:
        print(f"warm-up ({args.warmup} run of each path on the first batch, 2 tokens): "
              f"{time.perf_counter() - t0:.1f} s", flush=True)

    steps = len(batches) * (args.tokens - 1)
    report = {"paths": {}, "image_tokens": image_tokens, "layers": text.num_hidden_layers, "real_layers": real_layers}
    head = f"{'path':9} {'rows':>5} {'prompt':>6} {'pairs/s':>9} {'total s':>8} {'prefill s':>9} {'ms/step':>9} {'GB/step':>8}"
    if args.bandwidth:
        head += f" {'floor ms':>9} {'x floor':>8}"
    print(f"\n{head}", flush=True)
    for path in paths:  # each line as soon as its path is measured (a CPU takes minutes per path)
        runs = None
        for _ in range(args.repeats):
            candidate = run(path, batches, gen)
            if runs is None or sum(r.total_s for r in candidate) < sum(r.total_s for r in runs):
                runs = candidate
        total, prefill = sum(r.total_s for r in runs), sum(r.prefill_s for r in runs)
        floor_bytes = sum(step_bytes(model, r.layouts, args.tokens) * (args.tokens - 1) for r in runs)
        row = {"texts": [t for r in runs for t in r.texts], "total_s": total, "prefill_s": prefill,
               "ms_per_step": 1e3 * (total - prefill) / steps, "bytes_per_step": floor_bytes / steps,
               "layouts": runs[0].layouts, "cache": runs[0].cache, "pairs_per_s": args.samples / total}
        rows = "+".join(str(r) for r, _ in runs[0].layouts)
        length = "/".join(str(n) for _, n in runs[0].layouts)
        rate = f"{row['pairs_per_s']:8.3f}" + ("*" if path == "generate" else " ")
        line = (f"{path:9} {rows:>5} {length:>6} {rate:>9} {total:8.2f} {prefill:9.2f} {row['ms_per_step']:9.1f} "
                f"{row['bytes_per_step'] / 1e9:8.3f}")
        if args.bandwidth:
            row["floor_ms"] = 1e3 * row["bytes_per_step"] / (args.bandwidth * 1e9)
            row["x_floor"] = row["ms_per_step"] / row["floor_ms"]
            line += f" {row['floor_ms']:9.2f} {row['x_floor']:8.1f}"
        print(line, flush=True)
        report["paths"][path] = row
    out = ["rows: per forward of a decode step (naive: 3 forwards); prompt: their padded prompt length; "
           "ms/step: decode time (total - prefill) / steps after the first token"
           + ("; *: positive only (one answer per sample)" if "generate" in paths else "")]
    if args.bandwidth:
        out.append(f"floor: GB/step / {args.bandwidth:g} GB/s (--bandwidth)")

    texts = {p: r["texts"] for p, r in report["paths"].items()}
    agree = {}
    if "dynamic" in texts and "static" in texts:
        agree["dynamic vs static"] = _agreement(texts["dynamic"], texts["static"])
    batched_texts = texts.get("dynamic") or texts.get("static")
    if batched_texts is not None and "generate" in texts:
        agree["generate vs batched positives"] = _agreement(texts["generate"], batched_texts[::2])
    if batched_texts is not None and "naive" in texts:
        agree["naive vs batched"] = _agreement(texts["naive"], batched_texts)
    if "naive" in texts:
        for p in ("dynamic", "static"):
            if p in texts:
                out.append(f"speed-up ({p} / naive): {report['paths']['naive']['total_s'] / report['paths'][p]['total_s']:.2f}x")
    out += [f"identical answers, {k}: {same}/{n}" for k, (same, n) in agree.items()]
    report["agreement"] = agree
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    out.append(f"peak RSS {rss:.2f} GiB" + (f", peak CUDA memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
                                           if device.type == "cuda" else ""))
    print("\n".join(out), flush=True)
    report["dtype"] = dtype
    return report


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def _agreement(a: list[str], b: list[str]) -> tuple[int, int]:
    return sum(x == y for x, y in zip(a, b, strict=True)), len(a)


if __name__ == "__main__":
    result = main()
    same, n = result["agreement"].get("dynamic vs static", (0, 0))
    if same < n:
        if result["dtype"] == torch.float32:
            raise SystemExit(f"dynamic and static caches wrote different answers ({n - same} of {n}) in float32")
        print(f"note: {n - same} of {n} answers differ between the dynamic and static caches in {result['dtype']}: "
              "their attention reductions run over other lengths, which can flip near-tied tokens in half precision")
