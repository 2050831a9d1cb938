"""CI's share of the decoder fuzz campaign: 200 hostile files, fixed seed, no crash/hang/oom.

The full campaign (10,000+ cases, any seed) is benchmarks/fuzz_decoder.py; its record is
benchmarks/results/fuzz.md. Seeds come from the real data when present, else synthetic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_decoder.py"
CI_SEED = 20261130


def test_200_hostile_files_give_no_crash_hang_or_oom():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SCRIPT.parents[1]), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "200", "--seed", str(CI_SEED), "--json", "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.stdout, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    failures = [(f["case"], f["mutator"], f["status"], f.get("detail")) for f in summary["failures"]
                if f["status"] in ("crash", "hang", "oom")]
    assert (summary["crash"], summary["hang"], summary["oom"]) == (0, 0, 0), failures
    assert summary["cases"] == 200 and summary["error"] + summary["decoded"] == 200
    assert summary["error"] > 0 and summary["decoded"] > 0  # both outcomes are reached
    assert run.returncode == 0
