"""The package knows no dataset and no place (issue 8): every fact about Xinjiang and its sources lives in
`sources/` and `maps/xinjiang.yaml`, none in `facilitymap/` (code, templates, static files, package data, schemas,
vendored files)."""
from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "facilitymap"


def test_grep_finds_no_dataset_or_place_in_the_package():
    # the project's own check, as written in CONTEXT/README; compiled bytecode is not source and is skipped
    res = subprocess.run(["grep", "-riE", "aspi|buzzfeed|xinjiang|uyghur|uighur", "--exclude-dir=__pycache__",
                          str(PACKAGE)], capture_output=True, text=True, errors="replace")
    assert res.returncode == 1, "grep failed or found:\n" + res.stdout[:4000] + res.stderr
    assert res.stdout == ""
    assert any(PACKAGE.rglob("*.js")) and any(PACKAGE.rglob("*.json"))  # the search did look at files
