"""The per-stage landing profile runs on a tiny day and accounts for the landing's CPU."""

import json
import subprocess
import sys
from pathlib import Path

from bench.stages import STAGES

REPO = Path(__file__).resolve().parents[2]
PROFILE = [sys.executable, "-m", "bench.stages", "--rows", "3000", "--shape", "zipf", "single"]
EXPECTED = ("inflate", "line cutting", "parse", "validation", "pseudonyms", "sort", "encode", "commit")


def test_stage_profile_charges_the_landing_cpu_to_its_stages(tmp_path):
    out = tmp_path / "stages.json"
    done = subprocess.run(
        [*PROFILE, "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    profiles = json.loads(out.read_text())
    assert set(profiles) == {"3k zipf", "3k single"}
    for profile in profiles.values():
        stages = profile["stages"]
        assert set(stages) <= set(STAGES)
        for stage in EXPECTED:
            assert stages.get(stage, 0) > 0, (stage, stages)
        assert sum(stages.values()) <= (profile["user"] + profile["sys"]) * 1.05 + 0.05  # nothing twice
        assert profile["rows"] > 1000
        assert 0 < profile["hmacs"] <= profile["rows"]  # one per distinct user id per part, counted
    assert "| **total (user + sys)** |" in done.stdout
    assert "| HMACs (ids hashed into pseudonyms) |" in done.stdout
