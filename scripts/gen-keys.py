#!/usr/bin/env python3
"""Writes SET commands for COUNT keys as RESP, one file per node, each key sent to the node
that owns its hash slot, so `redis-cli --pipe` can load a cluster without redirections.

usage: gen-keys.py COUNT VALUE OUT_PREFIX PORT:FIRST-LAST [PORT:FIRST-LAST ...]
Keys are `key:%012d` (the format redis-benchmark uses); writes OUT_PREFIX<PORT>.resp.
"""
import sys


def crc16_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


TABLE = crc16_table()


def key_slot(key: bytes) -> int:
    # Keys here never contain braces, so the whole key is hashed.
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc & 16383


def main() -> None:
    count, value, prefix = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    owner = [None] * 16384
    files = {}
    for spec in sys.argv[4:]:
        port, ranges = spec.split(":")
        first, last = (int(x) for x in ranges.split("-"))
        files[port] = open(f"{prefix}{port}.resp", "wb")
        for slot in range(first, last + 1):
            owner[slot] = files[port]
    assert all(o is not None for o in owner), "every slot needs an owner"
    tail = b"\r\n$%d\r\n%s\r\n" % (len(value), value)
    for i in range(count):
        key = b"key:%012d" % i
        owner[key_slot(key)].write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s%s" % (len(key), key, tail))
    for f in files.values():
        f.close()


if __name__ == "__main__":
    main()
