"""Which text a training item shows: its task prompt, its description, or one of its prompts in everyday words.

Every corpus clip carries a description (``labels["description"]``) and, in corpora built since the everyday
wording, prompts in other people's words (``labels["captions"]``). Its manifest ``caption`` is the task's prompt:
the description itself, or for a video-only or image-only item the generic official prompt ("Generate general
audio for the video"). So the texts of an item are, in this order (:func:`text_options`)::

    [caption, description, *everyday prompts]

and :func:`pick_text` draws one per training draw, so text teaches on every item while the generic prompt stays
in use (inference on a video alone passes it).
"""

from __future__ import annotations

from typing import Any

from audiox.data.dataset import mix_seed


def text_options(caption: str, labels: dict[str, Any]) -> list[str]:
    """``[caption, description, *everyday prompts]`` (the description defaults to the caption).

    Args:
        caption: the manifest caption (the task's prompt).
        labels: the manifest labels (may lack ``description`` / ``captions``).
    """
    description = labels.get("description") or caption
    everyday = [str(c) for c in labels.get("captions", []) if isinstance(c, str) and c.strip()]
    return [caption, str(description), *everyday]


def pick_text(texts: list[str], draw: int, index: int, *, task_prompt_prob: float, everyday_prob: float) -> int:
    """Index into ``texts`` (:func:`text_options`) of the text one training draw shows.

    Args:
        texts: ``[caption, description, *everyday prompts]``, or ``[caption]`` alone; a caption that differs from
            the description is a generic task prompt.
        draw: the sampler's draw number (the same draw gives the same text: exact resume).
        index: the item index.
        task_prompt_prob: probability that a generic caption is kept as it is.
        everyday_prob: probability that a description is replaced by one of the everyday prompts.
    """
    n_options = len(texts)
    generic = n_options > 1 and texts[0] != texts[1]
    u = _unit(draw, index, 1)
    if n_options < 2 or (generic and u < task_prompt_prob):
        return 0
    everyday = n_options - 2
    if everyday > 0 and _unit(draw, index, 2) < everyday_prob:
        return 2 + int(_unit(draw, index, 3) * everyday)
    return 1 if generic else 0  # a caption that is the description is itself the description


def _unit(draw: int, index: int, salt: int) -> float:
    """A uniform number in [0, 1) from the draw, the item and a salt."""
    return (mix_seed(draw, index, salt, 911) % (1 << 53)) / float(1 << 53)
