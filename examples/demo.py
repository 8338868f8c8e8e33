"""`make demo`: build an example inbox from the bundled photos, run one bulk pass over it and
print where its gallery page is."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RUN = ROOT.parent / "demo-run"


def main() -> int:
    inbox = RUN / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "city").mkdir(exist_ok=True)
    (RUN / "outbox").mkdir(exist_ok=True)   # a missing outbox is an error, never created
    shutil.copy(ROOT / "photos" / "tubingen.jpg", inbox / "city" / "tubingen.jpg")
    shutil.copy(ROOT / "photos" / "golden_gate.jpg", inbox / "golden_gate.jpg")
    cmd = [sys.executable, "-m", "deepart_batch.cli", "run", "--once",
           "--config", str(ROOT / "demo" / "config.yaml")]
    print("$", " ".join(cmd), flush=True)
    code = subprocess.run(cmd).returncode
    outbox = RUN / "outbox"
    print(f"\nOutputs (image + JSON loss report each) are in {outbox}:")
    for path in sorted(outbox.rglob("*")):
        rel = path.relative_to(outbox)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            print("  ", rel)
    print(f"Inputs were archived under {RUN / 'state' / 'done'}.")
    print("Drop the photos again and re-run: identical drops are not rendered twice.")
    gallery = outbox / "index.html"
    if gallery.exists():
        print(f"\nGallery (open it in a browser): {gallery}")
    return code


if __name__ == "__main__":
    sys.exit(main())
