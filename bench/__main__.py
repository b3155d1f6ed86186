"""`make bench`: infra check of the three stacks against a bare import of the SDKs, in one run."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench.process_tree import measure

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
BARE = [sys.executable, "-c", "import pulumi, pulumi_aws, pulumi_kubernetes, pydantic"]
CHECK = [sys.executable, "-m", "infra", "check"]


def main() -> int:
    measure(CHECK, ROOT)  # warm the OS page cache and moto's zone-table cache once
    bare, check = [], []
    for _ in range(ROUNDS):  # interleaved, so machine noise hits both alike
        bare.append(measure(BARE, ROOT))
        check.append(measure(CHECK, ROOT))
    if any(m.returncode != 0 for m in check):
        print("infra check failed; no figures", file=sys.stderr)
        return 1
    bare_s = statistics.median(m.seconds for m in bare)
    check_s = statistics.median(m.seconds for m in check)
    peak = max(m.peak_tree_rss_bytes for m in check)
    print(f"bare import (median of {ROUNDS}):   {bare_s:.2f} s")
    print(f"infra check, 3 stacks (median):   {check_s:.2f} s")
    print(f"ratio:                            {check_s / bare_s:.2f}  (target <= 5)")
    print(f"peak memory, whole process tree:  {peak / 2**20:.0f} MiB  (target < 1024 MiB)")
    from bench import policy_throughput

    return policy_throughput.main()


if __name__ == "__main__":
    sys.exit(main())
