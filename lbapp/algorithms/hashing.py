"""Stable 64-bit hashes: the same in every process and on every host (Python's hash() is salted
per process), so both LB nodes of the HA pair map a key to the same backend."""
from __future__ import annotations

import struct
from hashlib import blake2b

MASK64 = (1 << 64) - 1
_EIGHT_U64 = struct.Struct("<8Q")


def key_hash(key: bytes) -> int:
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "little")


def mix64(x: int) -> int:
    """splitmix64: the next value of a deterministic pseudo-random sequence after x."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def name_hashes(name: str, count: int, domain: bytes) -> list[int]:
    """count stable 64-bit values for a backend name; the first k do not depend on count, so a
    backend keeps its ring points when its weight changes. domain (<= 16 bytes) separates uses."""
    data = name.encode()
    out: list[int] = []
    block = 0
    while len(out) < count:
        digest = blake2b(data, digest_size=64, person=domain, salt=block.to_bytes(16, "little"))
        out.extend(_EIGHT_U64.unpack(digest.digest()))
        block += 1
    del out[count:]
    return out
