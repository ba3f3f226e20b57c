"""Every way an image file can be bad ends in that one sample skipped and counted; good images of
unusual modes load as RGB. Cases are generated: each bad kind x each container format."""

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from judgefree_hub.builders.preference import _load_images
from judgefree_hub.records import DropReason
from judgefree_hub.sources import SOURCES, SourceContext


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge image (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def encoded(fmt: str, mode: str = "RGB", size=(16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "P", "I;16", "I") else (200, 10, 10)[: len(mode)]).save(buf, format=fmt)
    return buf.getvalue()


FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}
BAD = {
    "empty": lambda fmt: b"",
    "text": lambda fmt: b"this is not an image at all\n",
    "truncated": lambda fmt: encoded(FORMATS[fmt])[: len(encoded(FORMATS[fmt])) // 2],
    "header-only": lambda fmt: encoded(FORMATS[fmt])[:12],
    "flipped-bytes": lambda fmt: bytes(b ^ 0xFF for b in encoded(FORMATS[fmt])),
    "bomb": lambda fmt: png_declaring(20000, 20000),
    "warning-size bomb": lambda fmt: png_declaring(10000, 10000),  # over PIL's limit, under 2x
}
GOOD_MODES = {"L": "PNG", "RGBA": "PNG", "P": "PNG", "I;16": "PNG", "CMYK": "JPEG", "1": "BMP"}


def folder_samples(folder: Path):
    source = SOURCES.get("folder")({"name": "f", "prompts": ["Describe."], "prompt_mode": "all", "limit": None,
                                    "package": None, "path": ".", "recursive": False,
                                    "include": ["*"]}, SourceContext(base_dir=folder, seed=0))
    return list(source.samples())


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_image_is_skipped_and_counted_not_raised(tmp_path, kind, fmt):
    (tmp_path / f"bad.{fmt}").write_bytes(BAD[kind](fmt))
    (tmp_path / f"good.{fmt}").write_bytes(encoded(FORMATS[fmt]))
    loaded, dropped = _load_images(folder_samples(tmp_path))
    assert len(loaded) == 1 and loaded[0].sample.source_id == f"f:good.{fmt}"
    assert len(loaded) == 1 and loaded[0].image.mode == "RGB" and loaded[0].image.size == (16, 12)
    assert len(dropped) == 1 and dropped[0].reason is DropReason.UNREADABLE_IMAGE
    assert f"bad.{fmt}" in dropped[0].detail


@pytest.mark.parametrize("mode", list(GOOD_MODES))
def test_images_of_every_mode_load_as_rgb(tmp_path, mode):
    (tmp_path / "x.img").write_bytes(encoded(GOOD_MODES[mode], mode))
    loaded, dropped = _load_images(folder_samples(tmp_path))
    assert not dropped and loaded[0].image.mode == "RGB"


def test_a_folder_source_reads_regular_files_only(tmp_path):
    import os

    (tmp_path / "a.png").write_bytes(encoded("PNG"))
    os.mkfifo(tmp_path / "pipe.png")  # reading it would block
    (tmp_path / "dir.png").mkdir()
    os.symlink(tmp_path / "nowhere.png", tmp_path / "dangling.png")
    assert [s.source_id for s in folder_samples(tmp_path)] == ["f:a.png"]
