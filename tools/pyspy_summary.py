"""The top entries of a py-spy raw profile (``py-spy record --format raw``).

Each line of the raw format is one stack, outermost frame first, frames joined
by ``;``, then a space and the number of samples.  Prints, for the functions
with the most samples, the share of samples they were running in themselves
("self") and anywhere on the stack ("total").

    .venv/bin/python tools/pyspy_summary.py PROFILE.raw [--top 25]
"""

from __future__ import annotations

import argparse
import collections


def load(path: str) -> list[tuple[list[str], int]]:
    stacks = []
    with open(path) as f:
        for line in f:
            frames, _, count = line.rstrip('\n').rpartition(' ')
            if frames and count.isdigit():
                stacks.append((frames.split(';'), int(count)))
    return stacks


def summarise(stacks, top: int = 25) -> str:
    own, anywhere = collections.Counter(), collections.Counter()
    total = sum(count for _, count in stacks) or 1
    for frames, count in stacks:
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    lines = [f'{total} samples; self% total% function']
    for frame, count in own.most_common(top):
        lines.append(f'{100 * count / total:5.1f} {100 * anywhere[frame] / total:6.1f}  {frame}')
    lines.append('by total (inclusive):')
    for frame, count in anywhere.most_common(top):
        lines.append(f'{100 * own[frame] / total:5.1f} {100 * count / total:6.1f}  {frame}')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('profile')
    parser.add_argument('--top', type=int, default=25)
    args = parser.parse_args()
    print(summarise(load(args.profile), args.top))


if __name__ == '__main__':
    main()
