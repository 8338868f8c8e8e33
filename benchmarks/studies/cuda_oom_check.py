"""Real CUDA out-of-memory through the pool worker's job loop (on_oom smaller, then fail).

Caps this process's CUDA allocator with set_per_process_memory_fraction so that a 2048 px
render runs out of memory for real (the pre-start estimate does not see the cap), then
checks what the worker does. Needs a GPU:

    python -m benchmarks.studies.cuda_oom_check 0.05     # fraction of the GPU's memory
"""

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace as NS

import torch

from deepart_batch.core.jobspec import JobSpec
from deepart_batch.core.states import EventKind
from deepart_batch.engine import RenderParams
from deepart_batch.pool.events import RenderFailed
from deepart_batch.pool.worker import JobFailed, WorkerState, run_job

fraction = float(sys.argv[1])
torch.cuda.set_per_process_memory_fraction(fraction)
print("allowed GiB", round(fraction * torch.cuda.get_device_properties(0).total_memory / 2**30, 2))
spec = NS(torch_device="cuda:0", id="cuda:0#0", device="cuda:0", node="gpu-box", executor="local")
for policy in ("smaller", "fail"):
    t0 = time.time()
    state = WorkerState(spec, "bundled", policy)
    params = RenderParams(size=2048, steps=12, scale_steps=(4, 4, 4)).to_dict()
    job = NS(job_id=1, attempt=1, style_key="k", spec=JobSpec.from_dict({
        "content": "examples/photos/tubingen.jpg", "params": params,
        "max_input_pixels": 50_000_000, "output_format": "JPEG", "quality": 90,
        "styles": [{"path": "examples/styles/starry_night.jpg", "weight": 1.0, "name": "s"}]}))
    sent = []
    try:
        run_job(state, job, sent.append, None)
    except JobFailed as exc:
        sent.append(RenderFailed(spec.id, None, str(exc), exc.reason))
    for m in sent:
        if m.kind is EventKind.EVENT:
            print(policy, "event", json.dumps(m.report_entry()))
        elif m.kind is EventKind.DONE:
            r = m.report.to_dict()
            print(policy, "done: output", r["output"], "final size", r["final"]["size"],
                  "events", len(r["events"]), "precision", r.get("precision"), "memory", r.get("memory"))
        elif m.kind is EventKind.FAILED:
            print(policy, "failed:", m.reason, m.error)
    print(policy, "seconds", round(time.time() - t0, 1), "allocated now GiB",
          round(torch.cuda.memory_allocated() / 2**30, 2))
