"""Where ms-swift's start-up goes: wall time of the imports each ``swift sft`` process does, and the slowest packages.

``swift sft`` costs two Python start-ups before any work: the ``swift`` script imports ``swift.cli.main`` (which
pulls in modelscope and torch) only to start ``python swift/cli/sft.py`` in a subprocess, and that child imports
ms-swift's whole training stack. This times both import sets in fresh interpreters, twice each (the second run
finds the byte-code caches warm), and lists the packages with the most import time (``python -X importtime``,
self time summed per top-level package).

    python3 bench/import_profile.py            # prints a Markdown table
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time

SETS = {
    "swift script (`swift.cli.main`)": "from swift.cli.main import cli_main",
    "sft child (`swift/cli/sft.py`)": (
        "from swift.cli.utils import try_use_single_device_mode; from swift.ray_utils import try_init_ray; "
        "from swift.pipelines import sft_main"
    ),
    "torch alone": "import torch",
}


def timed(code: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.monotonic() - start


def by_package(code: str, top: int = 12) -> list[tuple[str, float]]:
    argv = [sys.executable, "-X", "importtime", "-c", code]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    totals: collections.Counter[str] = collections.Counter()
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or "self [us]" in line:
            continue
        self_us = int(parts[0].split(":")[1])
        totals[parts[2].strip().split(".")[0]] += self_us
    return [(name, us / 1e6) for name, us in totals.most_common(top)]


def main() -> None:
    print("| imports | first run s | second run s |\n|---|---|---|")
    for label, code in SETS.items():
        print(f"| {label} | {timed(code):.1f} | {timed(code):.1f} |", flush=True)
    print("\nSlowest packages in the sft child (self time, s):\n")
    print("| package | s |\n|---|---|")
    for name, seconds in by_package(SETS["sft child (`swift/cli/sft.py`)"]):
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
