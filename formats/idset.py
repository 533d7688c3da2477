"""Ids in a compact form: each value kept as its 64-bit hash (8 bytes, where a Python set of
strings takes 80 or more), for the rule engine's uniqueness check and the push's "ids added
and removed since the last push" over files of millions of rows.

Two different ids share a hash with a chance of about n²/2⁶⁵ (one in ten million for 1.5
million ids): where that would matter (a duplicate reported) the values themselves are
compared again; counts of ids added and removed are exact but for such a collision.
Hashes are Python's ``hash`` of the value: valid within one process, never stored.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
from array import array
from typing import Hashable, Iterable


class IdHashes:
    """A multiset of ids as hashes: ``add`` while reading, then ``freeze`` (sorted, once)."""

    def __init__(self) -> None:
        self._values = array("q")
        self._frozen = False
        self.repeated: set[int] = set()  # hashes added more than once (after freeze)

    def add(self, value: Hashable) -> None:
        self._values.append(hash(value))

    def freeze(self) -> "IdHashes":
        """Sort, note the repeated hashes and keep each once."""
        if not self._frozen:
            ordered = sorted(self._values)  # transient: a list of ints while sorting
            self._values = array("q")
            repeated = set()
            for h, group in itertools.groupby(ordered):
                self._values.append(h)
                next(group)
                if next(group, None) is not None:  # a second one
                    repeated.add(h)
            del ordered
            self.repeated, self._frozen = repeated, True
        return self

    def __len__(self) -> int:
        return len(self.freeze()._values)

    def __iter__(self):
        return iter(self.freeze()._values)

    def hash_of(self, value: Hashable) -> int:
        return hash(value)


def changes(now: IdHashes, before: IdHashes) -> tuple[int, int, set[int]]:
    """(ids added, ids removed, the removed ids' hashes) from ``before`` to ``now``."""
    n_now, n_before = len(now), len(before)
    removed: set[int] = set()
    both = 0
    for h, group in itertools.groupby(heapq.merge(((h, 0) for h in now), ((h, 1) for h in before)),
                                      key=lambda pair: pair[0]):
        sides = [side for _, side in group]
        if len(sides) == 2:
            both += 1
        elif sides[0] == 1:
            removed.add(h)
    return n_now - both, n_before - both, removed


def smallest(values: Iterable[str], hashes: set[int], n: int = 10) -> list[str]:
    """The ``n`` smallest distinct ``values`` whose hash is in ``hashes`` (e.g. the first ids,
    by name, of those removed), streamed: memory holds ``n`` values."""
    best: list[str] = []
    if not hashes:
        return best
    for v in values:
        if (len(best) < n or v < best[-1]) and v not in best and hash(v) in hashes:
            bisect.insort(best, v)
            del best[n:]
    return best
