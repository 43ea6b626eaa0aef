"""Embedders behind one interface: published checkpoint layouts, output dimensions, refusals, front ends.

Each checkpoint is built here with exactly the published key names and shapes (small random values, stored as
float16 to halve the file: the loaders check names and shapes, and copy values into float32 parameters).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from audiox.errors import CheckpointError, InputError
from audiox.evaluation.embedders import EMBEDDERS, load_embedder, published
from audiox.evaluation.features import hz_to_mel, mel_filterbank, mel_to_hz


def random_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Small random values of the published shapes; batch-norm variances 1, counters 0."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros(shape, dtype=torch.long)
        elif k.endswith("running_var"):
            out[k] = torch.ones(shape, dtype=torch.float16)
        else:
            out[k] = (torch.randn(shape, generator=g) * 0.02).to(torch.float16)
    return out


def tone(freq: float, rate: int, seconds: float) -> torch.Tensor:
    t = torch.arange(int(round(rate * seconds)), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t).float()


# ---------------------------------------------------------------------------------------------------------------
# PANNs CNN14
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn14_dir(tmp_path_factory):
    from audiox.evaluation.embedders.panns import VARIANTS, published_layout

    d = tmp_path_factory.mktemp("panns")
    v = VARIANTS["panns-cnn14-16k"]
    state = random_state(published_layout(v))
    # the stored mel filters as the published file has them: librosa's Slaney filters, (bins, 64)
    state["logmel_extractor.melW"] = mel_filterbank(512, 16000, 64, 50.0, 8000.0, norm="slaney", htk=False).T.clone()
    torch.save({"model": state, "iteration": 0}, d / v.published.file)
    return d


def test_slaney_mel_scale_hand_values():
    # Slaney: linear 200/3 Hz per mel below 1 kHz (1000 Hz = 15 mel); log step ln(6.4) / 27 above, so
    # 6400 Hz = 15 + 27 = 42 mel exactly.
    assert float(hz_to_mel(1000.0, htk=False)) == pytest.approx(15.0, abs=1e-12)
    assert float(hz_to_mel(500.0, htk=False)) == pytest.approx(7.5, abs=1e-12)
    assert float(hz_to_mel(6400.0, htk=False)) == pytest.approx(42.0, abs=1e-9)
    assert float(mel_to_hz(torch.tensor(42.0), htk=False)) == pytest.approx(6400.0, rel=1e-12)
    fb = mel_filterbank(1024, 32000, 64, 50.0, 14000.0, norm="slaney", htk=False)
    assert fb.shape == (64, 513)
    assert float(fb.min()) >= 0


def test_cnn14_front_end_frames_bins_and_tone():
    from audiox.evaluation.embedders.panns import VARIANTS, cnn14_log_mel

    # 10 s at 32 kHz, hop 320, centred: 1 + 320000 // 320 = 1001 frames of 64 bands
    assert cnn14_log_mel(torch.zeros(1, 320000), VARIANTS["panns-cnn14"]).shape == (1, 1001, 64)
    v = VARIANTS["panns-cnn14-16k"]
    silent = cnn14_log_mel(torch.zeros(2, 16000), v)
    assert silent.shape == (2, 101, 64)  # 1 + 16000 // 160
    assert torch.all(silent == -100.0)  # 10 log10(amin = 1e-10)
    # A 1 kHz tone (an exact FFT bin: 1000 / (16000 / 512) = 32) peaks in the band whose centre is nearest 15 mel:
    # edges 50 Hz = 0.75 mel .. 8000 Hz = 15 + 27 ln 8 / ln 6.4 mel in 65 steps; centre k at 0.75 + (k + 1) step.
    top = 15 + 27 * math.log(8) / math.log(6.4)
    step = (top - 0.75) / 65
    expected = round((15 - 0.75) / step) - 1
    mel = cnn14_log_mel(tone(1000.0, 16000, 1.0)[None], v)
    assert int(mel[0, 50].argmax()) == expected == 20


def test_cnn14_loads_published_layout_and_outputs_published_dims(cnn14_dir):
    emb = load_embedder("panns-cnn14-16k", cnn14_dir)
    assert emb.front_end_matches  # stored filters = computed ones
    assert (emb.sample_rate, emb.dims, emb.classes) == (16000, 2048, 527)
    assert len(emb.weights_hash) == 16
    out = emb.run(torch.randn(2, 16000, generator=torch.Generator().manual_seed(1)) * 0.1)
    assert out.embeddings.shape == (2, 1, 2048) and out.logits is not None and out.logits.shape == (2, 527)
    assert torch.isfinite(out.embeddings).all() and bool((out.embeddings >= 0).all())  # ReLU output


def test_cnn14_refusals(tmp_path, cnn14_dir):
    from audiox.evaluation.embedders.panns import VARIANTS

    with pytest.raises(InputError, match=r"Cnn14_mAP=0\.431\.pth \(Zenodo record 3987831"):
        load_embedder("panns-cnn14", tmp_path)  # folder without the published file
    bad = tmp_path / "wrong.pth"
    torch.save({"model": {"conv.weight": torch.zeros(3)}}, bad)
    with pytest.raises(CheckpointError, match=r"not a PANNs CNN14 \(panns-cnn14-16k\) checkpoint \(missing 'spec"):
        load_embedder("panns-cnn14-16k", bad)
    # the 16 kHz checkpoint given as the 32 kHz one: its STFT kernels have 257 bins, not 513
    with pytest.raises(CheckpointError, match=r"'spectrogram_extractor.stft.conv_real.weight' has shape "
                                              r"\(257, 1, 512\), expected \(513, 1, 1024\)") as e:
        load_embedder("panns-cnn14", cnn14_dir / VARIANTS["panns-cnn14-16k"].published.file)
    assert "\n" not in str(e.value)


def test_cnn14_warns_when_stored_filters_differ(tmp_path, caplog):
    from audiox.evaluation.embedders.panns import VARIANTS, check_mel_filters

    v = VARIANTS["panns-cnn14-16k"]
    htk = mel_filterbank(512, 16000, 64, 50.0, 8000.0, norm="slaney", htk=True).T  # the other mel scale
    with caplog.at_level("WARNING"):
        assert not check_mel_filters(htk, v, tmp_path / "x.pth")
    assert "mel filters differ" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# VGGish
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vggish_dir(tmp_path_factory):
    from audiox.evaluation.embedders.vggish import PUBLISHED, published_layout

    d = tmp_path_factory.mktemp("vggish")
    torch.save(random_state(published_layout(), seed=2), d / PUBLISHED.file)
    return d


def test_vggish_published_key_names():
    from audiox.evaluation.embedders.vggish import published_layout

    layout = published_layout()
    convs = {k: v for k, v in layout.items() if k.startswith("features.") and k.endswith(".weight")}
    assert convs == {"features.0.weight": (64, 1, 3, 3), "features.3.weight": (128, 64, 3, 3),
                     "features.6.weight": (256, 128, 3, 3), "features.8.weight": (256, 256, 3, 3),
                     "features.11.weight": (512, 256, 3, 3), "features.13.weight": (512, 512, 3, 3)}
    assert layout["embeddings.0.weight"] == (4096, 12288)  # 512 channels x 6 x 4 after four 2x2 pools of 96x64
    assert layout["embeddings.4.weight"] == (128, 4096) and len(layout) == 18


def test_vggish_front_end_frames_bins_and_tone():
    from audiox.evaluation.embedders.vggish import vggish_examples, vggish_log_mel

    # 25 ms / 10 ms frames, not centred: 1 + (16000 - 400) // 160 = 98 frames; one 96-frame example
    silent = vggish_log_mel(torch.zeros(1, 16000))
    assert silent.shape == (1, 98, 64)
    assert torch.allclose(silent, torch.full_like(silent, math.log(0.01)))  # log(0 + 0.01)
    assert vggish_examples(torch.zeros(1, 16000)).shape == (1, 1, 96, 64)
    # 10 s: 1 + (160000 - 400) // 160 = 998 frames -> 1 + (998 - 96) // 96 = 10 examples
    assert vggish_examples(torch.zeros(1, 160000)).shape == (1, 10, 96, 64)
    # a tone at the centre of band 30: HTK mel 1127 ln(1 + f / 700), edges 125..7500 Hz in 65 steps
    lo, hi = 1127 * math.log(1 + 125 / 700), 1127 * math.log(1 + 7500 / 700)
    centre_hz = 700 * (math.exp((lo + 31 * (hi - lo) / 65) / 1127) - 1)
    mel = vggish_log_mel(tone(centre_hz, 16000, 1.0)[None])
    assert int(mel[0, 50].argmax()) == 30


def test_vggish_loads_and_outputs_128_per_example(vggish_dir, tmp_path):
    emb = load_embedder("vggish", vggish_dir)
    assert (emb.sample_rate, emb.dims, emb.window_seconds) == (16000, 128, pytest.approx(0.96))
    out = emb.run(torch.randn(2, 32000, generator=torch.Generator().manual_seed(3)) * 0.1)
    assert out.embeddings.shape == (2, 2, 128) and out.logits is None  # 2 s -> 2 examples
    # the published PCA step: identity vectors and zero means leave clip(x, -2, 2) quantised to 0..255
    from audiox.evaluation.embedders.vggish import PCA_PUBLISHED, VggishEmbedder

    torch.save({"pca_eigen_vectors": torch.eye(128), "pca_means": torch.zeros(128, 1)}, tmp_path / PCA_PUBLISHED.file)
    post = VggishEmbedder(vggish_dir, pca=tmp_path).run(torch.zeros(1, 16000)).embeddings
    raw = emb.run(torch.zeros(1, 16000)).embeddings
    assert torch.equal(post, torch.round((raw.clamp(-2, 2) + 2) * 255 / 4))


def test_vggish_refusals(tmp_path):
    with pytest.raises(InputError, match=r"vggish-10086976\.pth \(https://github\.com/harritaylor/torchvggish"):
        load_embedder("vggish", tmp_path / "nowhere.pth")
    bad = tmp_path / "vggish-10086976.pth"
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3)}, bad)
    with pytest.raises(CheckpointError, match=r"not a VGGish checkpoint \(missing 'features\.0\.bias' and 16 more"):
        load_embedder("vggish", tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# LAION-CLAP through transformers
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    """A tiny random ClapModel with a feature extractor and a small byte-level BPE tokenizer, saved as a
    transformers folder (the layout of laion/clap-htsat-unfused)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    d = tmp_path_factory.mktemp("clap")
    torch.manual_seed(0)  # transformers initialises from the global generator
    cfg = ClapConfig(
        text_config=dict(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=40, projection_hidden_size=16),
        audio_config=dict(depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1], hidden_size=64,
                          patch_embeds_hidden_size=8, num_mel_bins=64, spec_size=256, window_size=8,
                          projection_hidden_size=16, enable_fusion=False),
        projection_dim=8)
    ClapModel(cfg).save_pretrained(d)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "\u0120": 5}
    vocab.update({c: 6 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")})
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tok = RobertaTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tok).save_pretrained(d)
    return d


def test_clap_loads_folder_windows_and_text(clap_dir):
    emb = load_embedder("clap", clap_dir)
    assert (emb.sample_rate, emb.window_seconds, emb.dims) == (48000, 10.0, 8)
    # front end: 10 s at 48 kHz, hop 480, centred: 1 + 480000 // 480 = 1001 frames of 64 mel bands
    feats = emb.extractor([torch.zeros(480000).numpy()], sampling_rate=48000, return_tensors="pt",
                          truncation="rand_trunc", padding="repeatpad")
    assert tuple(feats["input_features"].shape) == (1, 1, 1001, 64)
    out = emb.run(torch.randn(2, 12 * 48000, generator=torch.Generator().manual_seed(4)) * 0.1)
    assert out.embeddings.shape == (2, 2, 8)  # 12 s -> two 10 s windows
    assert emb.embed_text(["a dog barks", "rain"]).shape == (2, 8)


def test_clap_refusals(tmp_path):
    with pytest.raises(InputError, match=r"laion/clap-htsat-unfused"):
        load_embedder("clap", tmp_path)
    from transformers import BertConfig

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(CheckpointError, match=r"not a transformers ClapModel folder") as e:
        load_embedder("clap", tmp_path)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------------------------
# aisfx (weights from its wheel) and the registry
# ---------------------------------------------------------------------------------------------------------------

def test_aisfx_blocks_and_dims():
    emb = load_embedder("aisfx")
    assert (emb.sample_rate, emb.dims, emb.classes) == (44100, 512, 0)
    # 10 s at 44.1 kHz, hop 1024, centred: 1 + 441000 // 1024 = 431 frames -> 1 + (431 - 100) // 100 = 4 blocks
    from audiox.evaluation.embeddings import aisfx_mel

    assert aisfx_mel(torch.zeros(441000), 44100).shape == (431, 96)
    out = emb.run(torch.randn(1, 441000, generator=torch.Generator().manual_seed(5)) * 0.1)
    assert out.embeddings.shape == (1, 4, 512)


def test_registry_names_every_published_file():
    assert published("panns-cnn14").file == "Cnn14_mAP=0.431.pth"
    assert published("vggish").file == "vggish-10086976.pth"
    assert set(EMBEDDERS) == {"aisfx", "panns-cnn14", "panns-cnn14-16k", "vggish", "clap"}
    with pytest.raises(InputError, match="unknown 'openl3'"):
        load_embedder("openl3")
