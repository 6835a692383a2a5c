"""Carve a validation split out of a training split, stratified so every class and kind is represented."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from edge_inspect.datasets.loader import Sample


def split_validation(
    samples: Sequence[Sample], fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """(train, validation): ``fraction`` of each (texture class, defective) group goes to validation.

    Thresholds are chosen on the validation part, never on Test, so Test figures stay honest.
    """
    if not 0.0 < fraction < 1.0:
        msg = f"validation fraction must be within (0, 1), got {fraction}"
        raise ValueError(msg)
    groups: dict[tuple[str, bool], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.texture_class, sample.defective)].append(sample)
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    validation: list[Sample] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda s: str(s.image))
        order = rng.permutation(len(group))
        cut = round(len(group) * fraction)
        validation += [group[i] for i in order[:cut]]
        train += [group[i] for i in order[cut:]]
    return train, validation
