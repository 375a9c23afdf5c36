"""py-spy's raw (collapsed) stack samples, summarised: where each service spends its samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def load(path: Path) -> list[tuple[list[str], int]]:
    """`frame;frame;... count` lines → (frames outermost first, samples)."""
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def summary(samples: list[tuple[list[str], int]], top: int = 25) -> str:
    """Markdown: the frames with the most samples of their own (self), and with the most beneath them (inclusive)."""
    own, inclusive, total = Counter(), Counter(), 0
    for frames, count in samples:
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "| self | frame |", "|---|---|"]
    lines += [f"| {100 * count / total:.1f} % | `{frame}` |" for frame, count in own.most_common(top)]
    lines += ["", "| inclusive | frame |", "|---|---|"]
    lines += [f"| {100 * count / total:.1f} % | `{frame}` |" for frame, count in inclusive.most_common(top * 2)]
    return "\n".join(lines)
