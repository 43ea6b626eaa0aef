"""Every item teaches text: which text a training draw shows, the same from raw media and from a packed folder.

An item's texts are ``[caption, description, *everyday prompts]``. ``task_prompt_prob`` keeps a generic caption
(video or image only), ``everyday_prob`` swaps a description for an everyday prompt; (1, 0) is the old behaviour.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from test_train_utils import make_corpus

from audiox.data.captions import pick_text, text_options

DRAWS = 4000
GENERIC = ["Generate general audio for the video", "A bell.", "ding", "bell", "a bell rings", "ding ding"]
PLAIN = ["A bell.", "A bell.", "ding", "bell", "a bell rings", "ding ding"]


def test_defaults_show_the_caption():
    for texts in (PLAIN, GENERIC):
        assert {pick_text(texts, d, 3, task_prompt_prob=1.0, everyday_prob=0.0) for d in range(500)} == {0}


def test_rates_follow_the_probabilities():
    # binomial counts over DRAWS draws: 4 standard deviations of p(1 - p) / n is below 0.032 for every p here
    generic = Counter(pick_text(GENERIC, d, 7, task_prompt_prob=0.3, everyday_prob=0.5) for d in range(DRAWS))
    assert abs(generic[0] / DRAWS - 0.3) < 0.032
    assert abs(generic[1] / DRAWS - 0.35) < 0.032  # description: (1 - 0.3) * (1 - 0.5)
    assert set(generic) == {0, 1, 2, 3, 4, 5} and all(abs(generic[k] / DRAWS - 0.0875) < 0.02 for k in range(2, 6))
    plain = Counter(pick_text(PLAIN, d, 7, task_prompt_prob=0.3, everyday_prob=0.5) for d in range(DRAWS))
    assert plain[1] == 0 and abs(plain[0] / DRAWS - 0.5) < 0.032  # a descriptive caption is the description
    assert pick_text(GENERIC, 11, 7, task_prompt_prob=0.3, everyday_prob=0.5) == \
        pick_text(GENERIC, 11, 7, task_prompt_prob=0.3, everyday_prob=0.5)


def test_text_options_order():
    assert text_options("Generate general audio for the video", {"description": "A bell.", "captions": ["ding"]}) \
        == ["Generate general audio for the video", "A bell.", "ding"]
    assert text_options("A bell.", {}) == ["A bell.", "A bell."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    manifest = make_corpus(root / "data", n_text=2, media=True)
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    for k, e in enumerate(lines):
        if e["task"] == "v2a":
            e["caption"] = "Generate general audio for the video"
        described = f"described {k}" if e["task"] == "v2a" else e["caption"]  # as in the corpus: t2a shows its
        e["labels"] = {"description": described, "captions": [f"everyday {k} a", f"everyday {k} b"]}  # description
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def test_packed_and_raw_items_show_the_same_text(corpus, tmp_path):
    from audiox.data.dataset import ManifestDataset
    from audiox.models.presets import build_model
    from audiox.training.packed import PackedDataset, pack
    from audiox.training.preencode import encode_frozen

    model = build_model("debug", seed=0).eval()
    pack(model, corpus, tmp_path / "pack", batch_size=4)
    probs = {"task_prompt_prob": 0.5, "everyday_prob": 0.5}
    packed = PackedDataset(tmp_path / "pack", **probs)
    raw = ManifestDataset(corpus, model.config.geometry, random_crop=False, **probs)
    shown = Counter()
    for i in range(len(packed)):
        for draw in range(30):  # v2a shows each of its 3 kinds of text with p >= 0.25: all seen
            p, r = packed[(i, draw)], raw[(i, draw)]
            assert p["text"] == r["text"]
            shown[(p["task"], p["text"].split()[0])] += 1
            if draw < 3:  # the stored tokens are the encoding of the text shown (int8: half a step per token)
                with torch.no_grad():
                    f = encode_frozen(model, {"text": [p["text"]]})
                assert torch.equal(p["text_mask"], f["text_mask"][0])
                step = f["text_hidden"][0].abs().amax(-1, keepdim=True) / 127
                m = f["text_mask"][0]
                assert ((p["text_hidden"] - f["text_hidden"][0]).abs() <= step / 2 + 1e-6)[m].all()
    assert {k for k in shown if k[0] == "v2a"} == {("v2a", "Generate"), ("v2a", "described"), ("v2a", "everyday")}
    t2a = {k[1] for k in shown if k[0] == "t2a"}
    assert "everyday" in t2a and "described" not in t2a  # the caption (its description) or an everyday prompt
