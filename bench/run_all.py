"""Print every speed/memory figure gandemo tracks (run by hand or `make bench`; never asserted)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
steps = [[sys.executable, "-m", "gandemo", "bench", "--json"]]
steps += [[sys.executable, str(p)] for p in sorted(HERE.glob("*.py")) if p.name != "run_all.py"]
for cmd in steps:
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=False, cwd=HERE.parent)
