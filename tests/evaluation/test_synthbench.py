"""SynthBench end to end: the oracle (real held-out audio) scores near-perfectly, white noise at chance level.

Thresholds (on a lone-beep clip plus one tv2a, tv2m, i2a, i2m and inpaint clip of a freshly built held-out corpus):

- oracle: category/instrument accuracy equal to the classifier's accuracy on the same real clips (clip by clip);
  video event onset F1 >= 0.6 (recordings hold unlabelled onsets), music beat F1 >= 0.8, tempo acc2 = 1,
  pitch error <= 20 cents, kept-region SNR = 100 dB (the cap), boundary excess jump = 0 dB, Frechet distance ~ 0;
- noise: accuracy <= chance (best constant guess) + 0.15, event F1, beat F1 and tempo acc2 <= 0.1, no pitch
  within 50 cents, kept-region SNR < 3 dB, excess jump > 3 dB, Frechet distance > 50;
- neither near-silent (raw peak below -35 dBFS); a constant -40 dBFS output is.
"""

from __future__ import annotations

import argparse
import json

import pytest

from audiox.evaluation.generators import noise_generator, oracle_generator
from audiox.evaluation.synthbench import OFFICIAL_PROMPTS, Case, SynthBench, cases_for, text_only_prompt


@pytest.fixture(scope="module")
def bench(heldout_corpus, scored_ids) -> SynthBench:
    return SynthBench(heldout_corpus, ids=scored_ids)


@pytest.fixture(scope="module")
def oracle(bench, heldout_corpus):
    return bench.run(oracle_generator(heldout_corpus), keep_audio=1)


@pytest.fixture(scope="module")
def noise(bench):
    return bench.run(noise_generator(0))


def test_cases_cover_every_modality(bench, heldout_corpus):
    by_task = {e.task: e for e in bench.entries}
    names = {t: [c.name for c in cases_for(e, heldout_corpus)] for t, e in by_task.items()}
    assert names["t2a"] == ["all", "text"]
    assert names["tv2m"] == ["all", "text", "video"] and names["i2a"] == ["all", "text", "image"]
    tv2a = by_task["tv2a"]
    video_case = cases_for(tv2a, heldout_corpus)[2]
    assert video_case.text == OFFICIAL_PROMPTS["sfx"] and video_case.video is not None and video_case.image is None
    i2a = by_task["i2a"]
    assert i2a.caption == OFFICIAL_PROMPTS["sfx"] and text_only_prompt(i2a) == i2a.labels["description"]
    inpaint = cases_for(by_task["inpaint"], heldout_corpus)
    assert inpaint[0].audio is not None and inpaint[0].spans and inpaint[1].audio is None


def test_oracle_scores_near_perfect(oracle):
    s = oracle["summary"]
    real_acc = oracle["classifier"]["real_accuracy_here"]
    assert real_acc >= 0.8  # 6 clips: at most one miss
    real_hit = {r["id"]: r["hit"] for r in oracle["real_rows"]}
    assert all(r["hit"] == real_hit[r["id"]] for r in oracle["rows"])  # accuracy == classifier accuracy, every case
    for case in ("all", "text", "video", "image"):
        assert s[case]["overall"]["fd"] == pytest.approx(0.0, abs=1e-3)  # identical sets: 0 up to sqrtm rounding
    every = s["all"]["overall"]
    assert every["accuracy"] == real_acc
    assert every["event_f1"] >= 0.6 and every["beat_f1"] >= 0.8 and every["tempo_acc2"] == 1.0
    assert every["pitch_cents"] <= 20.0 and every["pitch_within_50c"] == 1.0
    assert every["kept_snr_db"] == 100.0 and every["excess_jump_db"] == pytest.approx(0.0, abs=1e-9)
    assert every["near_silent"] == 0.0 and all(r["peak_dbfs"] > -35.0 for r in oracle["rows"])
    assert len(s["all"]["tasks"]) == 6


def test_noise_scores_at_chance(noise, oracle):
    s = noise["summary"]["all"]["overall"]
    chance = noise["classifier"]["chance_accuracy_here"]
    assert s["sfx_accuracy"] <= chance["sfx"] + 0.15 and s["music_accuracy"] <= chance["music"] + 0.15
    assert s["event_f1"] <= 0.1 and s["beat_f1"] <= 0.1 and s["tempo_acc2"] <= 0.1
    assert s["pitch_within_50c"] == 0.0 and s["pitch_cents"] >= 600
    assert s["kept_snr_db"] < 3.0 and s["excess_jump_db"] > 3.0
    assert s["fd"] > 50.0 > oracle["summary"]["all"]["overall"]["fd"]
    assert s["near_silent"] == 0.0


def test_near_silent_outputs_are_counted(bench):
    import torch

    quiet = bench.run(lambda entry, case: (torch.full((1, 16000), 10 ** (-40 / 20)), 16000))  # peak -40 dBFS
    s = quiet["summary"]["all"]["overall"]
    assert s["near_silent"] == 1.0 and all(r["peak_dbfs"] == pytest.approx(-40.0, abs=1e-4) for r in quiet["rows"])


def test_report_files(oracle, tmp_path):
    from audiox.evaluation.report import write_report

    paths = write_report(tmp_path / "rep", oracle, {"generator": "oracle"})
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["all"]["overall"]["kept_snr_db"] == 100.0
    assert "_embedding" not in data["rows"][0]
    md = paths["md"].read_text()
    assert "| SFX category accuracy |" in md and "| metric | all | text | video | image |" in md
    assert paths["chart"].stat().st_size > 1000
    assert len(list((tmp_path / "rep" / "spectrograms").glob("*.png"))) == 4


def test_cli_oracle(heldout_corpus, tmp_path, capsys):
    from audiox.commands import evaluate

    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(["synth", "--data", str(heldout_corpus), "--out", str(tmp_path / "r"), "--n", "2",
                              "--oracle", "--no-fd", "--no-pitch", "--spectrograms", "1"])
    assert evaluate.run(args) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["generator"].startswith("oracle") and report["n_entries"] == 2
    assert "SynthBench: 2 entries" in capsys.readouterr().out


def test_cli_threads(heldout_corpus, tmp_path):
    import pytest
    import torch

    from audiox.commands import evaluate
    from audiox.errors import InputError

    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    base = ["synth", "--data", str(heldout_corpus), "--n", "1", "--oracle", "--no-fd", "--no-pitch",
            "--spectrograms", "0"]
    before = torch.get_num_threads()
    try:
        assert evaluate.run(parser.parse_args([*base, "--out", str(tmp_path / "a"), "--threads", "1"])) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InputError, match="--threads must be >= 1, got 0"):
        evaluate.run(parser.parse_args([*base, "--out", str(tmp_path / "b"), "--threads", "0"]))


def test_text_case_wordings(heldout_corpus, scored_ids):
    from audiox.evaluation.wording import heldout_prompt

    corpus = SynthBench(heldout_corpus, ids=scored_ids)
    held = SynthBench(heldout_corpus, ids=scored_ids, wording="heldout")
    shuffled = SynthBench(heldout_corpus, ids=scored_ids, wording="heldout", shuffle_text=True)
    own, other, mixed = corpus.text_prompts(), held.text_prompts(), shuffled.text_prompts()
    kinds = {e.id: e.kind for e in corpus.entries}
    for e in corpus.entries:
        assert own[e.id] == text_only_prompt(e) and other[e.id] == heldout_prompt(e) != own[e.id]
        assert mixed[e.id] != other[e.id]  # every entry gets another entry's prompt, of its own kind
        assert any(mixed[e.id] == other[d] and kinds[d] == e.kind for d in other if d != e.id)
    assert sorted(mixed.values()) == sorted(other.values())
    with pytest.raises(Exception, match="wording"):
        SynthBench(heldout_corpus, ids=scored_ids, wording="slang")


def test_continuation_is_scored_on_its_new_part(bench, heldout_corpus):
    """``continue_new_hit`` classifies only what follows the prompt: a new part from a clip of another class scores
    0 however right the prompt part is."""
    import torch

    from audiox.evaluation.classifier import load_clip, true_labels

    sfx = [e for e in bench.entries if e.kind == "sfx"]
    clips = {e.id: load_clip(heldout_corpus, e) for e in sfx}
    right = {e.id: bench.classifier.top1(bench.classifier.scores(clips[e.id], e.sample_rate), e.kind)
             in true_labels(e) for e in sfx}
    entry = next(e for e in sfx if right[e.id])
    other = next(e for e in sfx if right[e.id] and not true_labels(e) & true_labels(entry))
    rate, half = entry.sample_rate, clips[entry.id].shape[-1] // 2
    case = Case("all", entry.caption, audio=heldout_corpus / entry.audio, mode="continue",
                spans=((half / rate, entry.seconds),), seconds=entry.seconds)
    own = clips[entry.id]
    foreign = torch.cat([own[:, :half], clips[other.id][:, : own.shape[-1] - half]], dim=-1)
    new_own = bench.classifier.top1(bench.classifier.scores(own[:, half:], rate), "sfx") in true_labels(entry)
    assert bench.score_clip(entry, case, own, rate)["continue_new_hit"] == float(new_own)
    assert bench.score_clip(entry, case, foreign, rate)["continue_new_hit"] == 0.0
