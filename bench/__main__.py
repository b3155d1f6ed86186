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
CHECK_NO_POLICY = [*CHECK, "--no-policy"]
# What the program itself imports (pulumi_aws.ec2, eks, ... load lazily and cost more than the bare
# import above): a floor no offline run of the real program can go under, measured with the cyclic GC
# off as the `infra` command runs. Reported, not targeted.
PROGRAM_IMPORTS = [
    sys.executable,
    "-c",
    "import gc; gc.disable(); from pathlib import Path; from infra.project import load_project; "
    "from infra.engine import warm_program_imports; "
    "warm_program_imports(load_project(Path('.').resolve()))",
]


def main() -> int:
    # Warms the OS page cache and moto's zone-table cache; also the one run whose memory is sampled.
    sampled = measure(CHECK, ROOT, sample_memory=True)
    bare, check, no_policy, imports = [], [], [], []
    for _ in range(ROUNDS):  # interleaved, so machine noise hits all alike
        bare.append(measure(BARE, ROOT))
        check.append(measure(CHECK, ROOT))
        no_policy.append(measure(CHECK_NO_POLICY, ROOT))
        imports.append(measure(PROGRAM_IMPORTS, ROOT))
    if any(m.returncode != 0 for m in check):
        print("infra check failed; no figures", file=sys.stderr)
        return 1
    bare_s = statistics.median(m.seconds for m in bare)
    check_s = statistics.median(m.seconds for m in check)
    peak = sampled.peak_tree_rss_bytes
    print(f"bare import (median of {ROUNDS}):   {bare_s:.2f} s")
    print(f"infra check, 3 stacks (median):   {check_s:.2f} s")
    print(f"ratio:                            {check_s / bare_s:.2f}  (target <= 5)")
    no_policy_s = statistics.median(m.seconds for m in no_policy)
    imports_s = statistics.median(m.seconds for m in imports)
    print(f"infra check --no-policy (median): {no_policy_s:.2f} s  (ratio {no_policy_s / bare_s:.2f})")
    print(f"the program's imports alone:      {imports_s:.2f} s  (check / this: {check_s / imports_s:.2f})")
    print(f"peak memory, whole process tree:  {peak / 2**20:.0f} MiB  (target < 1024 MiB)")
    from bench import policy_throughput

    return policy_throughput.main()


if __name__ == "__main__":
    sys.exit(main())
