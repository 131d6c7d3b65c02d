"""A plain-Python mutation fuzzer over ``inspect``, ``decode_preview`` and ``decode`` (no atheris needed).

    nice -n 19 python fuzz/mutate.py --count 100000            # from the repository root

Input ``i`` is a deterministic function of ``(--seed, i)``: a corpus payload, 1-8 stacked mutations
(bit flips, byte changes, "interesting" msgpack bytes, inserts, deletions, duplications, splices with
another payload, truncation, appended bytes, a field replaced by a random msgpack value or an
extension map added), then, for ``--sealed`` of the inputs (default 90 %), a recomputed CRC-32 so
that the mutation reaches the parsers and decoders behind the checksum (see ``harness.py``).
Every input goes through ``inspect`` and ``decode_preview``; every ``--decode-every``-th also
through ``decode(model="bicubic")``.

A finding (an exception other than SrCodecError, out of memory, pixels of the wrong size) is
saved to ``--findings`` and counted; the run goes on. An input running longer than ``--timeout``
seconds is a hang: faulthandler dumps every thread's stack and the process exits with status 1,
leaving that input in ``<findings>/current.srp``. A crash (segfault) leaves it there too. Replay
one input with ``--start I --count 1``, or a saved file with ``--replay FILE``.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's sr_codec, installed or not
sys.path.insert(0, str(HERE))

from harness import Finding, check, sealed  # noqa: E402

INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCC,
               0xCD, 0xCE, 0xCF, 0xD0, 0xD3, 0xD9, 0xDC, 0xDD, 0xDE, 0xDF, 0x90, 0x9F, 0x8F, 0xA0, 0xE0, 0x0A, 0x12]


def load_corpus(folder: Path) -> list[bytes]:
    files = sorted(folder.glob("*.srp")) if folder.is_dir() else []
    if files:
        return [f.read_bytes() for f in files]
    from make_corpus import make_corpus  # no corpus written yet: make it in memory

    return list(make_corpus().values())


def _random_value(rng: random.Random) -> object:
    return rng.choice([
        None, True, rng.randint(-(2**63), 2**64 - 1), rng.randint(0, 300), rng.random() * 1e6, float("nan"),
        "x" * rng.randint(0, 40), rng.randbytes(rng.randint(0, 40)), [1] * rng.randint(0, 5), {2: 1},
        msgpack.ExtType(rng.randint(0, 127), b"e"), 0, 1, 65535, 65536, 2**32 - 1, 2**32,
    ])


def _replace_field(data: bytes, rng: random.Random) -> bytes:
    """Re-pack the payload's msgpack objects with one of them (or an extension map) replaced."""
    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=len(data))
    unpacker.feed(data[:-4])
    objects = []
    try:
        for _ in range(16):
            objects.append(unpacker.unpack())
    except Exception:
        pass
    if not objects:
        return data
    if rng.random() < 0.3:
        objects.append({rng.randint(0, 12): _random_value(rng)})
    else:
        objects[rng.randrange(len(objects))] = _random_value(rng)
    try:
        body = b"".join(msgpack.packb(o, use_bin_type=True) for o in objects)
    except Exception:
        return data
    return body + data[-4:]


def mutate(data: bytes, corpus: list[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 8])):
        if not buf:
            buf += rng.randbytes(rng.randint(1, 16))
        op = rng.randrange(11)
        pos = rng.randrange(len(buf))
        if op == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos] = rng.choice(INTERESTING)
        elif op == 3:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 32))
        elif op == 4:
            del buf[pos : pos + rng.randint(1, 32)]
        elif op == 5:
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        elif op == 6:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other))
            buf = buf[:pos] + bytearray(other[cut:])
        elif op == 7:
            del buf[pos:]
        elif op == 8:
            buf += rng.randbytes(rng.randint(1, 16))
        elif op == 9:
            buf = bytearray(_replace_field(bytes(buf), rng))
        else:
            i = rng.randrange(0, max(1, len(buf) - 4))
            buf[i : i + 4] = rng.randrange(2**32).to_bytes(4, "big")  # a whole word (sizes, tags)
    return bytes(buf)


def make_input(index: int, seed: int, corpus: list[bytes], sealed_share: float) -> tuple[bytes, bool]:
    """Input ``index`` of the run with ``seed``, and whether its checksum was recomputed."""
    rng = random.Random(f"{seed}:{index}")
    data = mutate(rng.choice(corpus), corpus, rng)
    seal = rng.random() < sealed_share
    return (sealed(data) if seal else data), seal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sealed", type=float, default=0.9, help="share of inputs whose CRC-32 is recomputed")
    parser.add_argument("--decode-every", type=int, default=10, help="also decode(model='bicubic') every Nth input")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus")
    parser.add_argument("--findings", type=Path, default=HERE / "findings")
    parser.add_argument("--replay", type=Path, help="run one saved input and exit")
    args = parser.parse_args()

    if args.replay:
        print(check(args.replay.read_bytes(), full_decode=True))
        return 0
    corpus = load_corpus(args.corpus)
    originals = set(corpus)
    args.findings.mkdir(parents=True, exist_ok=True)
    current = open(args.findings / "current.srp", "wb", buffering=0)  # noqa: SIM115 - rewritten per input
    faulthandler.enable()

    outcomes: Counter[str] = Counter()
    findings = 0
    slowest: list[tuple[float, int]] = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for index in range(args.start, args.start + args.count):
        data, seal = make_input(index, args.seed, corpus, args.sealed)
        os.pwrite(current.fileno(), data, 0)
        os.ftruncate(current.fileno(), len(data))
        full = index % args.decode_every == 0
        faulthandler.dump_traceback_later(args.timeout, exit=True)
        t0 = time.perf_counter()
        try:
            outcome = check(data, full_decode=full)
        except Finding as exc:
            findings += 1
            outcome = "FINDING"
            (args.findings / f"finding-{args.seed}-{index}.srp").write_bytes(data)
            print(f"finding at input {index}: {exc}", file=sys.stderr)
        finally:
            faulthandler.cancel_dump_traceback_later()
        elapsed = time.perf_counter() - t0
        slowest = sorted([*slowest, (elapsed, index)], reverse=True)[:5]
        unchanged = " (mutations cancelled out)" if data in originals else ""
        outcomes[f"{'sealed' if seal else 'raw'} {outcome}{unchanged}"] += 1
        done = index - args.start + 1
        if done % 10_000 == 0:
            print(f"{done} inputs, {time.perf_counter() - started:.0f} s, {findings} findings", flush=True)
    wall = time.perf_counter() - started
    current.close()
    os.remove(args.findings / "current.srp")

    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n{args.count} inputs (seed {args.seed}, from {args.start}) in {wall:.1f} s "
          f"({args.count / wall:.0f}/s); corpus {len(corpus)} payloads; "
          f"decode(model='bicubic') on {len(range(args.start, args.start + args.count, args.decode_every))} of them")
    print(f"findings: {findings}; slowest inputs: " + ", ".join(f"#{i} {t * 1e3:.1f} ms" for t, i in slowest))
    print(f"peak RSS {rss_after / 1024:.0f} MiB (after loading the corpus: {rss_before / 1024:.0f} MiB)")
    for key, n in sorted(outcomes.items()):
        print(f"  {key:40s} {n}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
