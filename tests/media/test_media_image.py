"""audiox.media.image: still images as uint8 constant videos."""

import numpy as np
import pytest
import torch
from PIL import Image

from audiox.errors import InputError, MediaError
from audiox.media.image import is_image_path, load_image_as_video


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
    img[:, :40] = (255, 255, 255, 128)  # left half white, half transparent
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
