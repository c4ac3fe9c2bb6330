#!/usr/bin/env python3
"""Builds the fuzzers' starting corpora from the project's captures.

    python3 fuzz/make_seeds.py            # from the repository root

writes fuzz/corpus/{capture,pipeline,decode}/ (ignored by git):

- capture, pipeline: every .pcap/.pcapng under fixtures/ and every file in
  ../shared/captures/bad/ (cut to MAX_LEN bytes, so libFuzzer's -max_len keeps
  them whole), plus a gzip and a zstd copy of a small capture (the reader
  unwraps both) when the tools are installed.
- decode: the distinct frames among the first FRAMES_PER_CAPTURE of each capture, prefixed with the selector
  byte the decode target maps to a link type (fuzz_targets/decode.rs).

Then `cargo fuzz cmin` shrinks each corpus to the inputs that add coverage.
"""

import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys

MAX_LEN = 65536
FRAMES_PER_CAPTURE = 200
# Order of LINK_TYPES in fuzz_targets/decode.rs.
SELECTORS = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 101: 5, 12: 6, 14: 7, 228: 8, 229: 9}
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 16),
    b"\xa1\xb2\xc3\xd4": (">", 16),
    b"\x4d\x3c\xb2\xa1": ("<", 16),
    b"\xa1\xb2\x3c\x4d": (">", 16),
    b"\x34\xcd\xb2\xa1": ("<", 24),
    b"\xa1\xb2\xcd\x34": (">", 24),
}


def pcap_frames(data):
    order, rec = PCAP_MAGICS[data[:4]]
    linktype = struct.unpack(order + "I", data[20:24])[0] & 0xFFFF
    at = 24
    while at + rec <= len(data):
        caplen = struct.unpack(order + "I", data[at + 8 : at + 12])[0]
        frame = data[at + rec : at + rec + caplen]
        if len(frame) < caplen:
            break
        yield linktype, frame
        at += rec + caplen


def pcapng_frames(data):
    at, order, links = 0, "<", []
    while at + 12 <= len(data):
        if data[at : at + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        btype, blen = struct.unpack(order + "II", data[at : at + 8])
        if blen < 12 or at + blen > len(data):
            break
        block = data[at : at + blen]
        if btype == 1:
            links.append(struct.unpack(order + "H", block[8:10])[0])
        elif btype == 6 and blen >= 32:
            if_id, _, _, caplen = struct.unpack(order + "IIII", block[8:24])
            if if_id < len(links):
                yield links[if_id], block[28 : 28 + min(caplen, blen - 32)]
        elif btype == 3 and links:
            yield links[0], block[12 : blen - 4]
        at += blen


def frames(data):
    if data[:4] in PCAP_MAGICS:
        return pcap_frames(data)
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return pcapng_frames(data)
    return iter(())


def save(directory, content):
    name = hashlib.sha1(content).hexdigest()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(content)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sources = []
    for base, _, files in os.walk(os.path.join(root, "fixtures")):
        sources += [os.path.join(base, f) for f in files if f.endswith((".pcap", ".pcapng"))]
    bad = os.path.join(root, "..", "shared", "captures", "bad")
    if os.path.isdir(bad):
        sources += [os.path.join(bad, f) for f in os.listdir(bad)]
    sources.sort()
    out = {t: os.path.join(root, "fuzz", "corpus", t) for t in ("capture", "pipeline", "decode")}
    for d in out.values():
        os.makedirs(d, exist_ok=True)
    captures = set()
    frame_seeds = set()
    for path in sources:
        with open(path, "rb") as f:
            data = f.read()
        captures.add(data[:MAX_LEN])
        # The first frames of each capture: the floods alone hold 40,000 frames
        # that differ only in addresses.
        for n, (linktype, frame) in enumerate(frames(data)):
            if n == FRAMES_PER_CAPTURE:
                break
            selector = SELECTORS.get(linktype, linktype if 10 <= linktype < 256 else 255)
            frame_seeds.add(bytes([selector]) + frame)
    small = os.path.join(root, "fixtures", "formats", "one_tcp_rst.pcap")
    with open(small, "rb") as f:
        plain = f.read()
    captures.add(gzip.compress(plain))
    if shutil.which("zstd"):
        captures.add(subprocess.run(["zstd", "-c", small], capture_output=True, check=True).stdout)
    for c in captures:
        save(out["capture"], c)
        save(out["pipeline"], c)
    for s in frame_seeds:
        save(out["decode"], s)
    print(f"{len(captures)} capture seeds, {len(frame_seeds)} frame seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
