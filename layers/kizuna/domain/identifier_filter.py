"""A Bloom filter of the identifier fingerprints an event object holds (kizuna.domain.stream_erasure), written once
per object by analytics_ingest, so that erasing one person reads only the objects that may hold them.

"Maybe" answers are wrong at most FALSE_POSITIVE_RATE of the time per identifier asked about (then an object is
read for nothing); "no" answers are never wrong. Sized for the object's own identifiers: about 2.4 bytes each at
0.01%. A filter is tiny next to its object (~0.5 KB an event), and every false "maybe" is a whole object read, so
the rate is low: at 1%, asked about an endpoint's id and address, a filter would send 2% of the app's objects to be
read for nothing (an erasure of 2,000 objects read 37 of them that way).
The bits are indexed by double hashing of the fingerprint (Kirsch and Mitzenmacher), which is itself a keyed hash,
so no further hashing is needed. A few dozen lines rather than a dependency: the pure-Python package on PyPI
(bloom-filter2, last released 2021) hashes keys its own way and persists to files, not to one DynamoDB attribute,
and the fast ones are native code the layer would have to build for Python 3.14 on arm64.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

FALSE_POSITIVE_RATE = 0.0001
_HEADER = 5  # 1 byte: hash count, 4 bytes: bit count
MIN_BITS = 64


class IdentifierFilter:
    def __init__(self, bits: int, hashes: int, data: bytearray | None = None) -> None:
        self.bits = bits
        self.hashes = hashes
        self._data = data if data is not None else bytearray((bits + 7) // 8)

    @classmethod
    def sized_for(cls, count: int, rate: float = FALSE_POSITIVE_RATE) -> IdentifierFilter:
        bits = max(MIN_BITS, math.ceil(-max(count, 1) * math.log(rate) / math.log(2) ** 2))
        hashes = max(1, min(16, round(bits / max(count, 1) * math.log(2))))
        return cls(bits, hashes)

    @classmethod
    def of(cls, fingerprints: Iterable[str], rate: float = FALSE_POSITIVE_RATE) -> IdentifierFilter:
        unique = set(fingerprints)
        result = cls.sized_for(len(unique), rate)
        for fp in unique:
            result.add(fp)
        return result

    def _positions(self, fingerprint: str) -> Iterable[int]:
        digest = bytes.fromhex(fingerprint)
        first = int.from_bytes(digest[:8], "big")
        step = int.from_bytes(digest[8:16], "big") | 1
        return ((first + i * step) % self.bits for i in range(self.hashes))

    def add(self, fingerprint: str) -> None:
        for bit in self._positions(fingerprint):
            self._data[bit >> 3] |= 1 << (bit & 7)

    def might_hold(self, fingerprint: str) -> bool:
        return all(self._data[bit >> 3] & (1 << (bit & 7)) for bit in self._positions(fingerprint))

    def might_hold_any(self, fingerprints: Iterable[str]) -> bool:
        return any(self.might_hold(fp) for fp in fingerprints)

    def to_bytes(self) -> bytes:
        return bytes([self.hashes]) + self.bits.to_bytes(4, "big") + bytes(self._data)

    @classmethod
    def from_bytes(cls, blob: bytes) -> IdentifierFilter:
        if len(blob) < _HEADER:
            raise ValueError("identifier filter too short")
        hashes, bits = blob[0], int.from_bytes(blob[1:_HEADER], "big")
        data = bytearray(blob[_HEADER:])
        if not hashes or len(data) != (bits + 7) // 8:
            raise ValueError("identifier filter is corrupt")
        return cls(bits, hashes, data)
