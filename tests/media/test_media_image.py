"""audiox.media.image: still images as uint8 constant videos."""

import numpy as np
import pytest
import torch
from PIL import Image

from audiox.errors import InputError, MediaError
from audiox.media import image as image_mod
from audiox.media.image import is_image_path, load_image_as_video
from audiox.media.image_modes import to_rgb


def test_png_becomes_constant_uint8_video(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (300, 100), (200, 30, 90)).save(path)
    video = load_image_as_video(path)
    assert video.shape == (50, 3, 224, 224) and video.dtype == torch.uint8
    assert video[:, 0].unique().tolist() == [200]
    assert video[:, 1].unique().tolist() == [30]
    assert video[:, 2].unique().tolist() == [90]


def test_squash_resize_and_rgba(tmp_path):
    img = np.zeros((40, 80, 4), np.uint8)
    img[:, :40] = (255, 255, 255, 128)  # left half white, half transparent (over white: white)
    img[:, 40:] = (0, 0, 0, 255)  # right half opaque black
    path = tmp_path / "halves.png"
    Image.fromarray(img, "RGBA").save(path)
    video = load_image_as_video(path, n_frames=3, size=16)
    assert video.shape == (3, 3, 16, 16)
    assert torch.equal(video[0], video[2])
    assert (video[0, :, :, :7] == 255).all() and (video[0, :, :, 9:] == 0).all()  # squashed, not cropped


def test_bad_images(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is text, not a picture\n")
    with pytest.raises(MediaError, match="notes.png: not an image"):
        load_image_as_video(text)
    truncated = tmp_path / "cut.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.jpg")
    truncated.write_bytes((tmp_path / "full.jpg").read_bytes()[:200])
    with pytest.raises(MediaError, match="cut.jpg"):
        load_image_as_video(truncated)
    with pytest.raises(MediaError, match="absent.png: file not found"):
        load_image_as_video(tmp_path / "absent.png")
    with pytest.raises(InputError, match="n_frames"):
        load_image_as_video(text, n_frames=0)


def test_is_image_path():
    assert all(is_image_path(f"a{s}") for s in (".jpg", ".JPEG", ".png", ".webp", ".bmp", ".gif"))
    assert not any(is_image_path(p) for p in ("a.mp4", "a.wav", "png", "a.png.txt"))


def _pixels(path, side: int) -> np.ndarray:
    """Load a ``side x side`` image without resizing: ``(side, side, 3)`` uint8."""
    video = load_image_as_video(path, n_frames=1, size=side)
    return video[0].permute(1, 2, 0).numpy()


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 128, 129, 257], [1000, 32768, 65279, 65535]], np.uint16)
    expected = np.array([[0, 0, 1, 1], [4, 128, 254, 255]], np.uint8)  # round(v / 257), halves up
    path = tmp_path / "grey16.png"
    Image.fromarray(np.tile(values, (2, 1))).save(path)  # a 4x4 16-bit PNG
    assert Image.open(path).mode == "I;16"
    out = _pixels(path, 4)
    assert np.array_equal(out[..., 0], np.tile(expected, (2, 1))) and (out == out[..., :1]).all()
    big_endian = Image.frombytes("I;16B", (4, 2), values.astype(">u2").tobytes())
    assert np.array_equal(np.asarray(to_rgb(big_endian, tmp_path / "x"))[..., 1], expected)
    ints = tmp_path / "grey32.tif"
    Image.fromarray(np.tile(values, (2, 1)).astype(np.int32), "I").save(ints)
    assert np.array_equal(_pixels(ints, 4)[..., 2], np.tile(expected, (2, 1)))
    Image.fromarray(np.full((4, 4), 70000, np.int32), "I").save(ints)
    with pytest.raises(MediaError, match=r"grey32.tif: I image with values 70000..70000; only 0..65535"):
        load_image_as_video(ints)


def test_float_images(tmp_path):
    path = tmp_path / "f.tif"
    unit = np.array([[0.0, 0.5, 0.998, 1.0]] * 4, np.float32)  # 0..1 scale: round(v * 255)
    Image.fromarray(unit, "F").save(path)
    assert _pixels(path, 4)[0, :, 0].tolist() == [0, 128, 254, 255]
    Image.fromarray(unit * 200 + 2.4, "F").save(path)  # max > 1: already 0..255, round(v)
    assert _pixels(path, 4)[0, :, 0].tolist() == [2, 102, 202, 202]
    for bad, what in ((-0.5, r"values -0.5..1"), (300.0, r"values 0..300"), (np.nan, "NaN or infinite")):
        values = unit.copy()
        values[0, 0] = bad
        Image.fromarray(values, "F").save(path)
        with pytest.raises(MediaError, match=f"f.tif: float image with {what}"):
            load_image_as_video(path)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.array([[(200, 30, 90, 64), (0, 0, 0, 0)], [(1, 2, 3, 255), (0, 0, 0, 128)]], np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    # round((c * a + 255 * (255 - a)) / 255): 200 at alpha 64 -> 241; fully transparent -> white; opaque kept
    assert _pixels(path, 2).tolist() == [[[241, 199, 214], [255, 255, 255]], [[1, 2, 3], [127, 127, 127]]]
    la = tmp_path / "la.png"
    Image.fromarray(np.array([[(100, 128), (100, 0)], [(100, 255), (0, 1)]], np.uint8), "LA").save(la)
    assert _pixels(la, 2)[..., 0].tolist() == [[177, 255], [100, 254]]
    palette = Image.new("P", (2, 2))
    palette.putpalette([10, 20, 30, 200, 0, 0] + [0] * 762)
    palette.putdata([0, 1, 1, 0])
    gif = tmp_path / "p.gif"
    palette.save(gif, transparency=0)  # palette index 0 is transparent
    png = tmp_path / "p.png"
    palette.save(png, transparency=0)
    for path in (gif, png):
        assert _pixels(path, 2).tolist() == [[[255, 255, 255], [200, 0, 0]], [[200, 0, 0], [255, 255, 255]]]
    keyed = tmp_path / "keyed.png"  # an RGB PNG with a transparent colour (tRNS)
    Image.fromarray(np.array([[(1, 2, 3), (4, 5, 6)]] * 2, np.uint8)).save(keyed, transparency=(1, 2, 3))
    assert _pixels(keyed, 2)[0].tolist() == [[255, 255, 255], [4, 5, 6]]
    pa = Image.new("PA", (1, 1))
    pa.putpalette([10, 20, 30] * 256)
    pa.putpixel((0, 0), (0, 51))
    assert np.asarray(to_rgb(pa, tmp_path / "x")).tolist() == [[[206, 208, 210]]]  # (10 * 51 + 255 * 204) / 255
    with pytest.raises(MediaError, match=r"x: image mode La cannot be converted to RGB"):
        to_rgb(Image.new("La", (1, 1)), tmp_path / "x")


def test_other_modes_use_pil_conversion(tmp_path):
    cmyk = tmp_path / "cmyk.tif"
    Image.fromarray(np.array([[(0, 255, 255, 0), (0, 0, 0, 255)]] * 2, np.uint8), "CMYK").save(cmyk)
    assert _pixels(cmyk, 2)[0].tolist() == [[255, 0, 0], [0, 0, 0]]
    cmyk_jpeg = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cmyk_jpeg, quality=100)
    assert np.abs(_pixels(cmyk_jpeg, 8).astype(int) - [255, 0, 0]).max() <= 2  # JPEG rounding
    bilevel = tmp_path / "one.png"
    Image.fromarray(np.array([[True, False], [False, True]])).save(bilevel)
    assert _pixels(bilevel, 2)[..., 1].tolist() == [[255, 0], [0, 255]]
    grey = tmp_path / "grey.png"
    Image.new("L", (2, 2), 77).save(grey)
    assert (_pixels(grey, 2) == 77).all()


def test_size_limits(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (40, 40)).save(path)  # 1600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL warns above 1000, fails above 2000
    with pytest.raises(MediaError, match=r"big.png: image is too large \(more than \d+ pixels\)$"):
        load_image_as_video(path)
    Image.new("RGB", (50, 50)).save(path)  # 2500 pixels: PIL's DecompressionBombError
    with pytest.raises(MediaError, match=r"big.png: image is too large"):
        load_image_as_video(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # PIL's check off: ours still holds
    monkeypatch.setattr(image_mod, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(MediaError, match=r"big.png: image is too large \(50x50 pixels; the limit is 100\)$"):
        load_image_as_video(path)
    monkeypatch.setattr(image_mod.Image, "open", lambda p: Image.new("RGB", (0, 3)))  # PIL refuses such files
    with pytest.raises(MediaError, match=r"big.png: image has zero size \(0x3 pixels\)$"):
        load_image_as_video(path)
