#!/usr/bin/env python3
"""Writes the RESP commands that build COUNT small elements of one collection type, for
`redis-cli --pipe` into a standalone server (the memory-per-element rows of `just bench`).

usage: gen-elements.py TYPE SHAPE COUNT OUT
TYPE: list | hash | set | zset. SHAPE: big (one key holding all COUNT elements, sent 1000 per
command) or compact (COUNT / 100 keys of 100 elements each, within Redis 7.0's default
listpack/intset limits; the set's members are integers, so an intset).
"""
import sys

BATCH = 1000
COMPACT_PER_KEY = 100


def command(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def elements(kind, shape, first, count):
    """The argument list after the key for elements first..first+count."""
    args = []
    for i in range(first, first + count):
        if kind == "list":
            args.append(b"e:%07d" % i)
        elif kind == "hash":
            args += [b"f:%07d" % i, b"v"]
        elif kind == "set":
            args.append(b"%d" % i if shape == "compact" else b"m:%07d" % i)
        elif kind == "zset":
            args += [b"%d" % i, b"m:%07d" % i]
        else:
            raise SystemExit(f"unknown type {kind}")
    return args


VERB = {"list": b"RPUSH", "hash": b"HSET", "set": b"SADD", "zset": b"ZADD"}


def main() -> None:
    kind, shape, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(out, "wb") as f:
        if shape == "big":
            for first in range(0, count, BATCH):
                n = min(BATCH, count - first)
                f.write(command([VERB[kind], b"big"] + elements(kind, shape, first, n)))
        elif shape == "compact":
            assert count % COMPACT_PER_KEY == 0, "whole keys only"
            for k in range(count // COMPACT_PER_KEY):
                key = b"c:%07d" % k
                f.write(command([VERB[kind], key] + elements(kind, shape, 0, COMPACT_PER_KEY)))
        else:
            raise SystemExit(f"unknown shape {shape}")


if __name__ == "__main__":
    main()
