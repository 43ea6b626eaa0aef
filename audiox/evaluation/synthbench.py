"""SynthBench: score generated audio against the ground truth of the synthetic corpus.

For each held-out entry the runner asks a *generator* for audio under up to four input cases:

- ``all``: every input the entry has (caption, video or image, audio prompt);
- ``text``: text only (the entry's descriptive caption: ``labels["description"]`` when the caption is an official
  video-only prompt);
- ``video``: the video with the official video-only prompt (entries with a video);
- ``image``: the still image with the official prompt (entries with an image).

A generator is any callable ``fn(entry, case) -> (audio (C, T), sample_rate)``: a model wrapper, the oracle (the
real clip) or noise (see :mod:`audiox.evaluation.generators`). Scores per clip are then pooled per case, per case
and task, and per case and kind.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiox.data.manifest import ManifestEntry, read_manifest
from audiox.errors import ConfigError
from audiox.evaluation import metrics
from audiox.evaluation.classifier import ReferenceClassifier, load_classifier, load_clip, true_labels
from audiox.evaluation.features import resample

log = logging.getLogger(__name__)

CASES = ("all", "text", "video", "image")
WORDINGS = ("corpus", "heldout")
OFFICIAL_PROMPTS = {"sfx": "Generate general audio for the video", "music": "Generate music for the video"}
# sound-effect classes with a clear pitch of their own; a clip is a pitched prompt when it has a beep and none of these
PITCHED_CLASSES = frozenset({"bell", "chime", "phone_ring", "alarm_clock", "laser", "coin", "jump", "power_up",
                             "speech", "siren", "engine"})


@dataclass(frozen=True)
class Case:
    """The inputs of one generation.

    Args:
        name: one of :data:`CASES`.
        text: prompt text or ``None``.
        video: absolute video path or ``None``.
        image: absolute image path or ``None``.
        audio: absolute path of the audio prompt (the clip itself) or ``None``.
        mode: ``"inpaint"``, ``"continue"`` or ``None``.
        spans: regenerated regions ``[(start_s, end_s)]`` (with ``audio``), else empty.
        seconds: requested length (s).
    """

    name: str
    text: str | None
    video: Path | None = None
    image: Path | None = None
    audio: Path | None = None
    mode: str | None = None
    spans: tuple[tuple[float, float], ...] = ()
    seconds: float = 10.0


Generator = Callable[[ManifestEntry, Case], tuple[torch.Tensor, int]]


def text_only_prompt(entry: ManifestEntry) -> str:
    """The informative text of an entry (its description when the caption is an official video-only prompt)."""
    if entry.caption.strip() in OFFICIAL_PROMPTS.values() or not entry.caption.strip():
        return str(entry.labels.get("description") or entry.caption)
    return entry.caption


def cases_for(entry: ManifestEntry, root: Path, text: str | None = None) -> list[Case]:
    """The input cases that apply to an entry (``text`` always; ``video``/``image`` when it has them).

    Args:
        entry: a manifest entry.
        root: the corpus folder (paths in the entry are relative to it).
        text: the ``text`` case's prompt (default: :func:`text_only_prompt`).
    """
    video = root / entry.video if entry.video else None
    image = root / entry.image if entry.image else None
    prompt = entry.audio_prompt or {}
    spans = tuple((float(s), float(e)) for s, e in prompt.get("spans", []))
    audio = root / entry.audio if prompt else None
    out = [Case("all", entry.caption, video, image, audio, prompt.get("mode"), spans, entry.seconds),
           Case("text", text_only_prompt(entry) if text is None else text, seconds=entry.seconds)]
    if video is not None:
        out.append(Case("video", OFFICIAL_PROMPTS[entry.kind], video=video, seconds=entry.seconds))
    if image is not None:
        out.append(Case("image", OFFICIAL_PROMPTS[entry.kind], image=image, seconds=entry.seconds))
    return out


@dataclass
class _Analysis:
    """Label-independent analyses of one audio clip (memoised by content hash)."""

    scores: torch.Tensor | None = None
    onsets: list[float] | None = None
    tempo: float | None = None
    beats: list[float] | None = None
    pitch: float | None = None
    embedding: torch.Tensor | None = None


@dataclass
class SynthBench:
    """The benchmark runner.

    Args:
        data_dir: corpus folder with ``manifest.jsonl``.
        classifier: the reference classifier (default: the committed one).
        split: which entries to score (``"test"``: the held-out ones).
        n: score at most this many entries (first ``n`` in manifest order, ``n >= 1``; ``None``: all).
        ids: score only these entry ids (in manifest order; applied before ``n``).
        fd: compute the Frechet distance on aisfx embeddings (needs ``aisfx``).
        pitch: compute the CREPE pitch error (needs ``torchcrepe``).
        cases: which input cases to run.
        wording: the ``text`` case's prompts: ``"corpus"`` (the entry's own description) or ``"heldout"``
            (:func:`audiox.evaluation.wording.heldout_prompt`: words the training captions never use).
        shuffle_text: the shuffled-caption control: each entry's ``text`` prompt is another entry's of the same
            kind (a derangement), so its score should fall to chance.
    """

    data_dir: str | Path
    classifier: ReferenceClassifier | None = None
    split: str = "test"
    n: int | None = None
    ids: tuple[str, ...] | None = None
    fd: bool = True
    pitch: bool = True
    cases: tuple[str, ...] = CASES
    wording: str = "corpus"
    shuffle_text: bool = False
    _memo: dict[str, _Analysis] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.data_dir)
        if self.n is not None and (isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1):
            raise ConfigError(f"n: must be a positive integer or None, got {self.n!r}")
        unknown = [c for c in self.cases if c not in CASES]
        if unknown:
            raise ConfigError(f"cases: unknown {unknown}; expected some of {CASES}")
        if self.wording not in WORDINGS:
            raise ConfigError(f"wording: expected one of {WORDINGS}, got {self.wording!r}")
        if self.classifier is None:
            self.classifier = load_classifier()
        entries = [e for e in read_manifest(self.root / "manifest.jsonl") if e.split == self.split]
        if self.ids is not None:
            entries = [e for e in entries if e.id in set(self.ids)]
        if not entries:
            raise ConfigError(f"{self.root}: no {self.split!r} entries to score")
        endless = next((e for e in entries if not math.isfinite(e.seconds) or e.seconds > 3600), None)
        if endless is not None:
            raise ConfigError(f"{self.root}: entry {endless.id!r}: seconds must be at most 3600, got {endless.seconds}")
        self.entries = entries[: self.n] if self.n is not None else entries

    def text_prompts(self) -> dict[str, str]:
        """Entry id -> the ``text`` case's prompt, in the chosen wording (shuffled within each kind for the
        control)."""
        from audiox.evaluation.wording import derangement, heldout_prompt

        own = {e.id: heldout_prompt(e) if self.wording == "heldout" else text_only_prompt(e) for e in self.entries}
        if not self.shuffle_text:
            return own
        out = dict(own)
        for kind in ("sfx", "music"):
            ids = [e.id for e in self.entries if e.kind == kind]
            for i, j in enumerate(derangement(len(ids))):
                out[ids[i]] = own[ids[j]]
        return out

    # ------------------------------------------------------------------ analyses
    def _analyse(self, audio: torch.Tensor, sample_rate: int, *, kind: str, want_pitch: bool) -> _Analysis:
        audio = audio.detach().float().cpu()
        key = hashlib.sha1(audio.numpy().tobytes() + str(sample_rate).encode()).hexdigest()
        a = self._memo.setdefault(key, _Analysis())
        if a.scores is None:
            assert self.classifier is not None
            a.scores = self.classifier.scores(audio, sample_rate)
            a.onsets = metrics.detect_onsets(audio, sample_rate)
        if kind == "music" and a.tempo is None:
            a.tempo = metrics.estimate_tempo(audio, sample_rate)
            a.beats = metrics.track_beats(audio, sample_rate, bpm=a.tempo)
        if want_pitch and a.pitch is None:
            from audiox.evaluation.pitch import dominant_pitch

            a.pitch = dominant_pitch(audio, sample_rate)
        if self.fd and a.embedding is None:
            from audiox.evaluation.embeddings import embed_clip

            a.embedding = embed_clip(audio, sample_rate)
        return a

    @staticmethod
    def pitched_target(entry: ManifestEntry) -> float | None:
        """The labelled beep pitch (Hz) of a pitched-prompt clip, else ``None``."""
        if entry.kind != "sfx":
            return None
        classes = entry.labels.get("classes", [])
        names = {c["class"] for c in classes}
        if "beep" not in names or names & PITCHED_CLASSES:
            return None
        return float(next(c["pitch_hz"] for c in classes if c["class"] == "beep"))

    def score_clip(self, entry: ManifestEntry, case: Case, audio: torch.Tensor, sample_rate: int) -> dict[str, Any]:
        """All per-clip scores of one generation.

        Args:
            entry: the prompt's entry (ground truth).
            case: the inputs the audio was generated from.
            audio: ``(C, T)`` generated samples.
            sample_rate: Hz.

        Returns:
            A JSON-able dict; metrics that do not apply are absent. ``_embedding`` holds the aisfx vector.
        """
        if audio.dim() != 2:
            raise ConfigError(f"generator output for {entry.id}: expected (C, T) audio, got {tuple(audio.shape)}")
        target_hz = self.pitched_target(entry) if self.pitch else None
        a = self._analyse(audio, sample_rate, kind=entry.kind, want_pitch=target_hz is not None)
        assert self.classifier is not None and a.scores is not None and a.onsets is not None
        pred = self.classifier.top1(a.scores, entry.kind)
        row: dict[str, Any] = {"id": entry.id, "task": entry.task, "kind": entry.kind, "case": case.name,
                               "pred": pred, "hit": float(pred in true_labels(entry))}
        if case.mode == "continue" and case.spans:  # the class of the new part alone (the prompt excluded)
            new = audio[:, int(round(case.spans[0][0] * sample_rate)):]
            if new.shape[-1] >= sample_rate // 2:
                scores = self.classifier.scores(new, sample_rate)
                row["continue_new_hit"] = float(self.classifier.top1(scores, entry.kind) in true_labels(entry))
        peak = float(audio.abs().max()) if audio.numel() else 0.0
        row["peak_dbfs"] = 20.0 * math.log10(max(peak, 1e-10))
        row["near_silent"] = float(row["peak_dbfs"] < NEAR_SILENT_DBFS)
        if target_hz is not None and a.pitch is not None:
            from audiox.evaluation.pitch import cents_error

            err = cents_error(a.pitch, target_hz)
            row.update(pitch_hz=a.pitch, target_hz=target_hz, pitch_cents=err,
                       pitch_within_50c=float(err <= 50.0) if math.isfinite(err) else 0.0)
        if entry.kind == "music" and a.tempo is not None:
            row["tempo_bpm"] = a.tempo
            row.update({f"tempo_{k}": v for k, v in metrics.tempo_scores(a.tempo, entry.labels["tempo_bpm"]).items()})
        if entry.video is not None and entry.kind == "sfx":
            spans = [(ev["t"], ev["dur"]) for ev in entry.labels.get("events", [])]
            row["event_f1"] = metrics.match_events(a.onsets, entry.labels.get("event_times", []), spans=spans)["f1"]
        if entry.video is not None and entry.kind == "music" and a.beats is not None:
            row["beat_f1"] = metrics.match_events(a.beats, entry.labels.get("beat_times", []))["f1"]
        if case.audio is not None and case.spans:
            real = load_clip(self.root, entry)
            gen = resample(audio, sample_rate, entry.sample_rate)
            row["kept_snr_db"] = metrics.kept_snr(gen, real, entry.sample_rate, case.spans)
            row.update(metrics.continuity(gen, real, entry.sample_rate, case.spans, entry.seconds))
        if a.embedding is not None:
            row["_embedding"] = a.embedding
        return row

    # ------------------------------------------------------------------ run
    def run(self, generator: Generator, *, keep_audio: int = 0) -> dict[str, Any]:
        """Generate and score every (entry, case).

        Args:
            generator: ``fn(entry, case) -> (audio (C, T), sample_rate)``.
            keep_audio: keep the audio of the first ``keep_audio`` entries per case (for spectrogram plots).

        Returns:
            ``{"rows": [...], "real_rows": [...] (the real clips scored the same way), "summary": {...},
            "classifier": {...}, "audio": {case: [(id, audio, rate)]}, "n_entries", "seconds"}``.
        """
        t0 = time.time()
        rows: list[dict[str, Any]] = []
        kept: dict[str, list[tuple[str, torch.Tensor, int]]] = {}
        real_rows: list[dict[str, Any]] = []
        prompts = self.text_prompts()
        for i, entry in enumerate(self.entries):
            real = load_clip(self.root, entry)
            real_case = Case("real", entry.caption, seconds=entry.seconds)
            real_rows.append(self.score_clip(entry, real_case, real, entry.sample_rate))
            for case in cases_for(entry, self.root, prompts[entry.id]):
                if case.name not in self.cases:
                    continue
                audio, rate = generator(entry, case)
                audio = audio.detach().float().cpu()
                audio = audio.reshape(-1, audio.shape[-1]) if audio.dim() != 3 else audio[0]
                rows.append(self.score_clip(entry, case, audio, rate))
                bucket = kept.setdefault(case.name, [])
                if len(bucket) < keep_audio:
                    bucket.append((entry.id, audio, rate))
            log.info("synthbench: %d/%d entries (%.0f s)", i + 1, len(self.entries), time.time() - t0)
        summary = summarise(rows, real_rows)
        assert self.classifier is not None
        clf = {"heldout_accuracy": self.classifier.meta.get("heldout", {}).get("accuracy"),
               "heldout": self.classifier.meta.get("heldout"),
               "real_accuracy_here": summary.pop("real", {}).get("overall", {}).get("accuracy"),
               "chance_accuracy_here": chance_accuracy(self.entries)}
        for r in rows + real_rows:
            r.pop("_embedding", None)
        return {"rows": rows, "real_rows": real_rows, "summary": summary, "classifier": clf, "audio": kept,
                "n_entries": len(self.entries), "seconds": round(time.time() - t0, 1)}


NEAR_SILENT_DBFS = -35.0  # an output whose raw peak stays below this is near-silent (the demo's acceptance rule)


def chance_accuracy(entries: list[ManifestEntry]) -> dict[str, float | None]:
    """Accuracy of the best constant guess per kind (the share of clips holding the most common label)."""
    out: dict[str, float | None] = {}
    for kind in ("sfx", "music"):
        sets = [true_labels(e) for e in entries if e.kind == kind]
        names = {n for s in sets for n in s}
        best = max((sum(name in s for s in sets) for name in names), default=0)
        out[kind] = round(best / len(sets), 4) if sets and names else None
    return out


_MEAN_KEYS = ("tempo_acc1", "tempo_acc2", "event_f1", "beat_f1", "pitch_within_50c", "excess_jump_db", "near_silent",
              "continue_new_hit")
_MEDIAN_KEYS = ("pitch_cents", "tempo_rel_error", "kept_snr_db")


def _pool(rows: list[dict[str, Any]], real: dict[str, list[dict[str, Any]]] | None) -> dict[str, Any]:
    """Aggregate a group of rows; ``real`` maps task -> real rows for the Frechet reference."""
    out: dict[str, Any] = {"n": len(rows)}
    for kind in ("sfx", "music"):
        hits = [r["hit"] for r in rows if r["kind"] == kind]
        out[f"{kind}_accuracy"] = float(np.mean(hits)) if hits else None
        preds = [r["pred"] for r in rows if r["kind"] == kind]
        out[f"{kind}_distinct"] = len(set(preds)) if preds else None  # collapse: how many labels are predicted
    out["accuracy"] = float(np.mean([r["hit"] for r in rows])) if rows else None
    for key in _MEAN_KEYS:
        vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
        out[key] = float(np.mean(vals)) if vals else None
    for key in _MEDIAN_KEYS:
        vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
        if key == "pitch_cents":  # an unvoiced result is a miss: count it as a full octave
            vals += [1200.0 for r in rows if key in r and not math.isfinite(r[key])]
        out[key] = float(np.median(vals)) if vals else None
    if real is not None:
        gen = [r["_embedding"] for r in rows if "_embedding" in r]
        ref = [r["_embedding"] for t in {r["task"] for r in rows} for r in real.get(t, []) if "_embedding" in r]
        ok = len(gen) >= 2 and len(ref) >= 2
        out["fd"] = metrics.frechet_distance(torch.stack(gen), torch.stack(ref)) if ok else None
    return out


def summarise(rows: list[dict[str, Any]], real_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool per-clip rows: ``{case: {"overall": {...}, "tasks": {task: {...}}, "kinds": {kind: {...}}}}``.

    The Frechet distance of a group compares its generated embeddings with the real clips of the same tasks.
    The pseudo-case ``"real"`` scores the real clips themselves (the classifier's accuracy on them).
    """
    real_by_task: dict[str, list[dict[str, Any]]] = {}
    for r in real_rows:
        real_by_task.setdefault(r["task"], []).append(r)
    out: dict[str, Any] = {"real": {"overall": _pool(real_rows, None)}}
    for case in CASES:
        group = [r for r in rows if r["case"] == case]
        if not group:
            continue
        tasks = sorted({r["task"] for r in group})
        out[case] = {
            "overall": _pool(group, real_by_task),
            "kinds": {k: _pool([r for r in group if r["kind"] == k], real_by_task)
                      for k in ("sfx", "music") if any(r["kind"] == k for r in group)},
            "tasks": {t: _pool([r for r in group if r["task"] == t], real_by_task) for t in tasks},
        }
    return out
