"""The README's results table and docs/results/ are what the committed raw results give: regenerated from
benchmarks/results/ and compared line by line, so no hand-edited number survives."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_and_results_pages_match_the_committed_results():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "results_pages.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, "run `make results`; differences:\n" + result.stdout[-4000:] + result.stderr[-2000:]
