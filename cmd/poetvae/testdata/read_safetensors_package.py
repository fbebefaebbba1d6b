#!/usr/bin/env python3
"""Read a safetensors file with Python's safetensors package and summarise it.

Usage: read_safetensors_package.py FILE [FIRST]

Prints what read_safetensors.py prints, one JSON object: "metadata", the
header's __metadata__, and "tensors", for each tensor its dtype, shape,
its FIRST values (default 8) and the sum of all of them; but read by
safetensors.safe_open, as a user of the exported file would read it, where
read_safetensors.py reads the format with the standard library alone.
"""

import json
import math
import sys

import numpy as np
from safetensors import safe_open

DTYPES = {np.dtype("float16"): "F16", np.dtype("float32"): "F32", np.dtype("float64"): "F64"}


def main():
    if len(sys.argv) not in (2, 3):
        print("usage: read_safetensors_package.py FILE [FIRST]", file=sys.stderr)
        sys.exit(1)
    first = int(sys.argv[2]) if len(sys.argv) == 3 else 8
    tensors = {}
    with safe_open(sys.argv[1], framework="numpy") as f:
        metadata = f.metadata() or {}
        for name in f.keys():
            x = f.get_tensor(name)
            flat = x.astype(np.float64).ravel()
            tensors[name] = {
                "dtype": DTYPES[x.dtype],
                "shape": list(x.shape),
                "first": flat[:first].tolist(),
                "sum": math.fsum(flat.tolist()),
            }
    json.dump({"metadata": metadata, "tensors": tensors}, sys.stdout, allow_nan=False, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
