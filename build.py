#!/usr/bin/env python3
"""Build the default map `xinjiang` from the snapshots in sources/ into maps/xinjiang/ (offline).

A thin wrapper over `facilitymap build`: `python build.py [MAP] [--basemap none]`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from facilitymap.cli import main  # noqa: E402

if __name__ == "__main__":
    import os

    os.chdir(Path(__file__).resolve().parent)  # sources/ and maps/ are beside this file
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        args = ["xinjiang", *args]  # the repository's default map
    main(["build", *args], prog_name="build.py")
