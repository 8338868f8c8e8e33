"""Log records about a photo carry its job id, campaign and name; no internal work names."""

import json
import re

from support.boxes import Box

WORK_NAME = re.compile(r"\d{15,}-")        # state/work/<time_ns>-<name>


def test_json_log_records_name_job_campaign_and_photo(tmp_path):
    log = tmp_path / "log.jsonl"
    box = Box(tmp_path, logging={"json_file": str(log)}, canned=True)
    box.drop("tubingen.jpg", "city/tubingen.jpg")
    (box.inbox / "city" / "notes.jpg").write_text("not an image")
    res = box.run_once()
    assert res.returncode == 1, res.stderr                    # notes.jpg is refused
    records = [json.loads(line)["record"] for line in log.read_text().splitlines()]
    about_jobs = [r for r in records if re.search(r"\bjob \d+", r["message"])]
    assert len(about_jobs) >= 4                               # 2 jobs: dispatched + done
    for r in about_jobs:
        extra = r["extra"]
        assert extra.get("photo") == "city/tubingen.jpg", r["message"]
        assert extra.get("campaign") == "city" and isinstance(extra.get("job"), int)
        assert f"job {extra['job']}" in r["message"]
    refused = [r for r in records if "notes.jpg" in r["message"]]
    assert refused and all(r["extra"].get("photo") == "city/notes.jpg" for r in refused)
    archived = [r for r in records if "archived to" in r["message"]]
    assert archived and archived[0]["extra"]["photo"] == "city/tubingen.jpg"
    for r in records:
        if r["level"]["name"] != "DEBUG":
            assert not WORK_NAME.search(r["message"].split("archived to")[0]), r["message"]
    # the text log (stderr) names the photo on job lines too
    dispatched = [l for l in res.stderr.splitlines() if " -> " in l and "job " in l]
    assert dispatched and all("city/tubingen.jpg" in l for l in dispatched), dispatched
    done = [l for l in res.stderr.splitlines() if re.search(r"job \d+ done:", l)]
    assert done and all("[city/tubingen.jpg] job" in l for l in done), done
    assert "city/notes.jpg" in res.stderr.strip().splitlines()[-1] or \
        any("! city/notes.jpg" in l for l in res.stderr.splitlines())
