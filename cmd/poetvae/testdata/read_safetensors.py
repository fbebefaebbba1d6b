#!/usr/bin/env python3
"""Read a safetensors file with the standard library alone and summarise it.

Usage: read_safetensors.py FILE [FIRST]

Prints one JSON object: "metadata", the header's __metadata__, and
"tensors", for each tensor its dtype, shape, its FIRST values (default 8)
and the sum of all of them. The export tests compare these with the
model's weights: a reader that shares no code with the writer, so that a
mistake in the writer cannot hide behind the same mistake in the reader.
The tests also read the files with the safetensors package
(read_safetensors_package.py); this reader also checks what the package
may accept, such as gaps between tensors.

Exits with status 1 and a message on stderr when the file breaks the
format: a header length past the end, JSON that is not an object, an
unknown dtype, offsets that do not match the shape or leave gaps or
overlaps, or data beyond the last tensor.
"""

import json
import math
import struct
import sys

# struct's codes of the dtypes, little-endian; "e" is IEEE 754 binary16.
FORMATS = {"F16": ("e", 2), "F32": ("f", 4), "F64": ("d", 8)}


def fail(msg):
    print(f"read_safetensors: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: read_safetensors.py FILE [FIRST]")
    first = int(sys.argv[2]) if len(sys.argv) == 3 else 8
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail(f"header length {n} runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    data = raw[8 + n :]

    metadata = header.pop("__metadata__", {})
    if not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ holds a value that is not a string")

    spans = []
    tensors = {}
    for name, info in header.items():
        dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in FORMATS:
            fail(f"{name}: unknown dtype {dtype}")
        code, width = FORMATS[dtype]
        count = math.prod(shape)
        if end - start != count * width:
            fail(f"{name}: offsets {start}..{end} do not hold {count} values of {dtype}")
        if end > len(data):
            fail(f"{name}: offsets run past the data ({len(data)} bytes)")
        values = struct.unpack(f"<{count}{code}", data[start:end])
        spans.append((start, end, name))
        tensors[name] = {
            "dtype": dtype,
            "shape": shape,
            "first": list(values[:first]),
            "sum": math.fsum(values),
        }

    # The tensors must tile the data: no gap, no overlap, nothing after.
    at = 0
    for start, end, name in sorted(spans):
        if start != at:
            fail(f"{name} starts at {start}, not at {at} where the tensor before it ends")
        at = end
    if at != len(data):
        fail(f"{len(data) - at} bytes of data after the last tensor")

    json.dump({"metadata": metadata, "tensors": tensors}, sys.stdout, allow_nan=False, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
