"""Foreign preference layouts -> TRL rows: detection, mapping values, errors, and one DPO step."""

import copy
import io
import math

import datasets
import pytest
from PIL import Image

from judgefree_hub.errors import DatasetLayoutError
from judgefree_hub.output.rows import FIELD_TYPES, FIELDS
from judgefree_hub.train.data import Layout, detect_layout, parse_columns, to_trl_dataset

PROMPTS = ("What is shown?", "Name the colour.")
CHOSEN = ("A red square.", "Blue.")
REJECTED = ("A cat.", "Green.")
SIZES = ((8, 6), (5, 7))
IMAGE = datasets.Image()
TEXT = datasets.Value("string")
TURNS = datasets.List({"role": TEXT, "content": datasets.List({"type": TEXT, "text": TEXT})})
STANDARD = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}
EXTRAS = [f for f in FIELDS if f not in STANDARD]


def pil(i: int, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, SIZES[i], color=(200, 10, 10) if mode == "RGB" else 90)


def jpeg(i: int) -> Image.Image:
    buf = io.BytesIO()
    pil(i).save(buf, format="JPEG")
    return Image.open(io.BytesIO(buf.getvalue()))


def turns(text: str, role: str = "assistant") -> list:
    return [{"role": role, "content": [{"type": "text", "text": text}]}]


def prompt_turns(text: str, arrow: bool = True) -> list:
    image = {"type": "image", "text": None} if arrow else {"type": "image"}
    return [{"role": "user", "content": [image, {"type": "text", "text": text}]}]


def expected(i: int, arrow: bool) -> dict:
    """A mapped row; read back from Arrow the image turn's absent text is None, while a
    stream yields `to_trl`'s dicts as they are."""
    return {"prompt": prompt_turns(PROMPTS[i], arrow), "chosen": turns(CHOSEN[i]),
            "rejected": turns(REJECTED[i])}


def check_rows(mapped, extra=(), arrow=True):
    rows = list(mapped)
    assert len(rows) == 2
    for i, row in enumerate(rows):
        assert sorted(row) == sorted(["images", "prompt", "chosen", "rejected", *extra])
        assert {k: row[k] for k in ("prompt", "chosen", "rejected")} == expected(i, arrow)
        assert len(row["images"]) == 1
        assert row["images"][0].mode == "RGB" and row["images"][0].size == SIZES[i]
    return rows


def plain(image_column="image", **names):
    cols = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", **names}
    data = {cols["prompt"]: list(PROMPTS), cols["chosen"]: list(CHOSEN),
            cols["rejected"]: list(REJECTED), image_column: [pil(0, "L"), pil(1, "L")],
            "extra": ["x", "y"]}
    return datasets.Dataset.from_dict(data, features=datasets.Features(
        {k: IMAGE if k == image_column else datasets.Value("string") for k in data}))


@pytest.fixture(scope="module")
def jfhub_ds():
    rows = [{**dict.fromkeys(FIELDS), "prompt": PROMPTS[i], "chosen": CHOSEN[i],
             "rejected": REJECTED[i], "chosen_score": (0.9, 0.25)[i], "rejected_score": 0.1,
             "reversed": bool(i), "strategy": "corrupt"} for i in range(2)]
    features = datasets.Features({
        "__key__": TEXT, "__url__": TEXT, "jpg": IMAGE,
        "json": {k: datasets.Value(FIELD_TYPES[k]) for k in FIELDS}})
    return datasets.Dataset.from_dict({"__key__": ["k0", "k1"], "__url__": ["u", "u"],
                                       "jpg": [jpeg(0), jpeg(1)], "json": rows}, features=features)


def trl_ds(image_column="images"):
    images = [[pil(0)], [pil(1)]] if image_column == "images" else [pil(0), pil(1)]
    features = datasets.Features({
        image_column: datasets.List(IMAGE) if image_column == "images" else IMAGE,
        "prompt": TURNS, "chosen": TURNS, "rejected": TURNS, "id": datasets.Value("int64")})
    return datasets.Dataset.from_dict({
        image_column: images, "prompt": [prompt_turns(p) for p in PROMPTS],
        "chosen": [turns(c) for c in CHOSEN], "rejected": [turns(r) for r in REJECTED],
        "id": [1, 2]}, features=features)


def rlaif_v_ds():
    ds = plain(prompt="question").rename_column("extra", "ds_name")
    return ds.cast_column("image", datasets.Image(decode=False))  # undecoded {"bytes","path"}


def test_jfhub_layout_keeps_scores(jfhub_ds):
    assert detect_layout(jfhub_ds.column_names).name == "jfhub"
    rows = check_rows(to_trl_dataset(jfhub_ds), extra=EXTRAS)
    assert [r["chosen_score"] for r in rows] == [0.9, 0.25]
    assert [r["reversed"] for r in rows] == [False, True] and rows[0]["strategy"] == "corrupt"


@pytest.mark.parametrize("image_column", ["images", "image"])
def test_trl_layout_selects_four_columns(image_column):
    ds = trl_ds(image_column)
    layout = detect_layout(ds.column_names, sample=ds.features)
    assert layout == Layout("trl", {**STANDARD, "image": image_column})
    check_rows(to_trl_dataset(ds))


def test_rlaif_v_layout_maps_question_and_decodes_bytes():
    ds = rlaif_v_ds()
    assert isinstance(ds[0]["image"], dict) and ds[0]["image"]["bytes"]
    assert detect_layout(ds.column_names) == Layout(
        "rlaif_v", {**STANDARD, "prompt": "question", "image": "image"})
    check_rows(to_trl_dataset(ds))


@pytest.mark.parametrize("image_column", ["image", "images"])
def test_plain_layout_is_told_from_trl_by_value_shape(image_column):
    ds = plain(image_column)
    assert detect_layout(ds.column_names, sample=ds.features).name == "plain"
    assert detect_layout(ds.column_names, sample=ds[0]).name == "plain"
    check_rows(to_trl_dataset(ds))


def test_generic_mapping_wins_over_detection():
    ds = plain("img", prompt="q", chosen="good", rejected="bad")
    mapping = parse_columns("prompt=q, chosen=good,rejected=bad,image=img")
    assert mapping == {"prompt": "q", "chosen": "good", "rejected": "bad", "image": "img"}
    assert detect_layout(ds.column_names, mapping) == Layout("generic", mapping)
    check_rows(to_trl_dataset(ds, mapping))
    # plain column names, but the explicit mapping still decides: prompt <- chosen
    swapped = to_trl_dataset(plain(), {"prompt": "chosen"})
    assert swapped[0]["prompt"] == prompt_turns(CHOSEN[0])
    assert detect_layout(plain().column_names, {"prompt": "chosen"}).name == "generic"


def test_generic_default_image_role_accepts_images():
    layout = detect_layout(["q", "chosen", "rejected", "images"], {"prompt": "q"})
    assert layout.columns == {**STANDARD, "prompt": "q", "image": "images"}


def test_plain_row_with_two_images_gets_two_placeholders():
    ds = datasets.Dataset.from_dict({"prompt": ["p"], "chosen": ["a"], "rejected": ["b"],
                                     "images": [[pil(0), pil(1)]]},
                                    features=datasets.Features({**{k: TEXT for k in STANDARD},
                                                                "images": datasets.List(IMAGE)}))
    row = to_trl_dataset(ds)[0]
    assert [im.size for im in row["images"]] == list(SIZES)
    assert [c["type"] for c in row["prompt"][0]["content"]] == ["image", "image", "text"]


def test_iterable_dataset_maps_too():
    stream = rlaif_v_ds().to_iterable_dataset()
    assert isinstance(stream, datasets.IterableDataset)
    check_rows(to_trl_dataset(stream), arrow=False)


def test_iterable_dataset_without_features_peeks_first_row():
    def rows():
        for i in range(2):
            yield {"question": PROMPTS[i], "chosen": CHOSEN[i], "rejected": REJECTED[i],
                   "image": pil(i, "RGBA")}

    stream = datasets.IterableDataset.from_generator(rows)
    assert stream.column_names is None and stream.features is None
    rows_out = list(to_trl_dataset(stream))
    assert [r["prompt"][0]["content"][1]["text"] for r in rows_out] == list(PROMPTS)
    assert rows_out[1]["rejected"] == turns(REJECTED[1])
    assert [r["images"][0].mode for r in rows_out] == ["RGB", "RGB"]


def test_no_layout_error_names_found_columns():
    with pytest.raises(DatasetLayoutError) as err:
        detect_layout(["foo", "bar"])
    assert str(err.value) == (
        "dataset columns ['foo', 'bar'] match no known preference layout; need "
        "prompt/chosen/rejected + image (or question/chosen/rejected/image, "
        "images/prompt/chosen/rejected, json + jpg); map yours with "
        "--columns prompt=COL,chosen=COL,rejected=COL,image=COL")
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("mapping, message", [
    ({"image": "img"}, "--columns maps image=img but the dataset has no column 'img' "
                       "(columns: ['prompt', 'chosen', 'rejected', 'image', 'extra'])"),
    ({"prompt": "q", "image": "img"}, "--columns maps prompt=q, image=img but the dataset has no "
     "columns 'q', 'img' (columns: ['prompt', 'chosen', 'rejected', 'image', 'extra'])"),
])
def test_mapping_to_missing_column(mapping, message):
    with pytest.raises(DatasetLayoutError) as err:
        to_trl_dataset(plain(), mapping)
    assert str(err.value) == message


def test_mapping_leaving_a_missing_default():
    with pytest.raises(DatasetLayoutError) as err:
        detect_layout(["q", "good", "bad", "img"], parse_columns("prompt=q,chosen=good,image=img"))
    assert str(err.value) == ("--columns leaves rejected unmapped and the dataset has no column "
                              "'rejected' (columns: ['q', 'good', 'bad', 'img']); add rejected=COL")


@pytest.mark.parametrize("spec, message", [
    ("promt=q", "--columns: unknown role 'promt' (did you mean prompt?); "
                "roles are prompt, chosen, rejected, image"),
    ("prompt", "--columns: 'prompt' is not ROLE=COLUMN; write e.g. "
               "--columns prompt=question,image=img"),
    ("prompt=", "--columns: 'prompt=' is not ROLE=COLUMN; write e.g. "
                "--columns prompt=question,image=img"),
    ("image=a,image=b", "--columns: image is mapped twice ('a' and 'b'); give each role once"),
])
def test_parse_columns_errors(spec, message):
    with pytest.raises(DatasetLayoutError) as err:
        parse_columns(spec)
    assert str(err.value) == message and "\n" not in message


def test_non_image_in_image_column_is_named():
    ds = datasets.Dataset.from_dict({"question": ["q"], "chosen": ["a"], "rejected": ["b"],
                                     "image": ["x.jpg"]})
    with pytest.raises(DatasetLayoutError, match="column 'image' holds str, not an image"):
        to_trl_dataset(ds)


@pytest.mark.slow
def test_mapped_rlaif_v_trains_one_dpo_step(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import DPOConfig, DPOTrainer

    from judgefree_hub.demo import resolve

    path = resolve("demo:tiny-llava")
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1,
                     bf16=False, activation_checkpointing=False, max_length=None, report_to=[],
                     use_cpu=True, save_strategy="no", logging_steps=1)
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                         train_dataset=to_trl_dataset(rlaif_v_ds()), processing_class=processor)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 1 and losses[0] == pytest.approx(math.log(2), abs=1e-3)
