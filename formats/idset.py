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

    def extend(self, values: Iterable[Hashable]) -> None:
        self._values.extend(map(hash, values))

    def freeze(self) -> "IdHashes":
        """Sort, note the repeated hashes and keep each once (in Arrow's kernels: 1.5 million
        hashes in a tenth of a second, where Python's sort and a loop took two; no hash table:
        Arrow's ``unique`` takes 200 bytes a value)."""
        if not self._frozen:
            from formats.arrow_csv import pc

            hashes = _as_arrow(self._values)
            ordered = pc.take(hashes, pc.array_sort_indices(hashes))
            same = _same_as_previous(ordered)
            repeated = set(pc.filter(ordered, same).to_pylist()) if pc.any(same).as_py() else set()
            kept = pc.filter(ordered, pc.invert(same)) if repeated else ordered
            self._values = array("q")
            self._values.frombytes(_bytes_of(kept))
            self.repeated, self._frozen = repeated, True
        return self

    def __len__(self) -> int:
        return len(self.freeze()._values)

    def __iter__(self):
        return iter(self.freeze()._values)

    def hash_of(self, value: Hashable) -> int:
        return hash(value)


def changes(now: IdHashes, before: IdHashes) -> tuple[int, int, set[int]]:
    """(ids added, ids removed, the removed ids' hashes) from ``before`` to ``now``: both sets
    of hashes sorted together, a hash found twice being in both."""
    from formats.arrow_csv import pa, pc

    a, b = _as_arrow(now.freeze()._values), _as_arrow(before.freeze()._values)
    values = pa.concat_arrays([a, b])
    order = pc.array_sort_indices(values)
    ordered = pc.take(values, order)
    twice = _same_as_previous(ordered)
    both = pc.sum(twice).as_py() or 0
    # a hash of ``before`` alone: from the second half, and equal to neither neighbour
    paired = pc.or_(twice, pa.concat_arrays([twice.slice(1), pa.array([False], pa.bool_())]))
    alone_before = pc.and_(pc.invert(paired), pc.greater_equal(order, len(a)))
    removed = set(pc.filter(ordered, alone_before).to_pylist()) if len(b) - both else set()
    return len(a) - both, len(b) - both, removed


def _same_as_previous(ordered):
    """For each value of a sorted array: is it equal to the one before it (the first: False)."""
    from formats.arrow_csv import pa, pc

    if len(ordered) < 2:
        return pa.array([False] * len(ordered), pa.bool_())
    return pa.concat_arrays([pa.array([False]), pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))])


def _as_arrow(values: array):
    """An ``array('q')`` as an Arrow int64 array over the same memory (no copy)."""
    from formats.arrow_csv import pa

    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _bytes_of(arr) -> memoryview:
    data = arr.buffers()[1]
    return memoryview(data)[arr.offset * 8:(arr.offset + len(arr)) * 8]


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
