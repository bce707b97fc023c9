"""The data of W4 and W12: db-benchmark's group-by table (its G1 layout),
written as one Parquet file, row groups of 1,000,000 rows.

N rows, K groups; every column uniform over its range:
  id1, id2  strings "id001".."id100" for K = 100 (zero-padded to 3 digits)
  id3       strings "id0000000001".. (N/K values, zero-padded to 10 digits)
  id4, id5  int64 in 1..K          id6  int64 in 1..N/K
  v1        int64 in 1..5          v2   int64 in 1..15
  v3        float64 in [0, 100), rounded to 6 decimals
Seeded: the same N and K give the same file.
usage: gen_groupby.py N K OUT.parquet   (N may be written 1e7)
"""
import os
import sys

from common import fail

SEED = 20261129
ROW_GROUP = 1_000_000


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    n, k, out = int(float(sys.argv[1])), int(float(sys.argv[2])), sys.argv[3]
    per_group = max(n // k, 1)
    rng = np.random.default_rng(SEED)

    def uniform(hi):
        return rng.integers(1, hi + 1, size=n, dtype=np.int64)

    def labels(hi, width):
        # Strings through a dictionary of the hi distinct labels: cheap for
        # 1e7 rows, and Parquet keeps them dictionary-encoded.
        names = pa.array([f"id{i:0{width}d}" for i in range(1, hi + 1)])
        codes = pa.array((uniform(hi) - 1).astype(np.int32))
        return pa.DictionaryArray.from_arrays(codes, names).cast(pa.string())

    table = pa.table({
        "id1": labels(k, 3), "id2": labels(k, 3), "id3": labels(per_group, 10),
        "id4": uniform(k), "id5": uniform(k), "id6": uniform(per_group),
        "v1": uniform(5), "v2": uniform(15),
        "v3": np.round(rng.random(n) * 100.0, 6),
    })
    tmp = out + ".part"
    pq.write_table(table, tmp, row_group_size=ROW_GROUP)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
