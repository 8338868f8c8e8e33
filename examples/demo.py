"""Restyle the example photos with two paintings through the `render` command."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT.parent / "demo-run"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    jobs = [("tubingen.jpg", "starry_night.jpg"), ("golden_gate.jpg", "the_scream.jpg")]
    for photo, style in jobs:
        out = OUT / f"{Path(photo).stem}.{Path(style).stem}.jpg"
        cmd = [sys.executable, "-m", "deepart_batch.cli", "render",
               str(ROOT / "photos" / photo), str(ROOT / "styles" / style),
               "-o", str(out), "--size", "256", "--steps", "120"]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    print(f"\nOutputs and JSON reports are in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
