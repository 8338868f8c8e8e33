"""From a claimed input and the manifest rule it matches to job rows in the journal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from loguru import logger

from .. import images
from ..settings.config import Config
from ..engine.fit import largest_fitting_size, minimum_need
from ..engine.memory import long_side_shape
from ..weights import sha256_file
from . import outbox
from .journal import Input, Journal

_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


def job_key(input_sha: str, styles: list[dict], params: dict, weights_id: str) -> str:
    """One job per (input, style set and hashes, effective params, weights)."""
    blob = json.dumps({"input": input_sha, "weights": weights_id, "params": params,
                       "styles": sorted((s["sha256"], s["weight"]) for s in styles)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def effective_params(config: Config, output) -> dict:
    """config defaults < per-style params < the output's overrides (merged by the manifest)."""
    return config.render_params(output.params).to_dict()


def plan(journal: Journal, config: Config, manifest, inp: Input, weights_id: str,
         style_shas: dict[str, str]) -> list[int]:
    """Create the input's jobs; returns ids of jobs that need rendering."""
    rule = manifest.match(inp.relpath)
    fmt = config.output.format.lower()
    width, height, _ = images.probe(inp.work_path, config.limits.max_input_pixels)
    queued = []
    for output in rule.outputs:
        params = effective_params(config, output)
        styles = []
        for name, weight in output.styles.items():
            image = Path(manifest.styles[name].image)
            if str(image) not in style_shas:
                style_shas[str(image)] = sha256_file(image)
            styles.append({"name": name, "path": str(image), "weight": weight,
                           "sha256": style_shas[str(image)]})
        key = job_key(inp.sha256, styles, params, weights_id)
        out = outbox.output_path(config.outbox, inp.relpath, output.slug, fmt,
                                 config.output.name_template)
        spec = {"content": inp.work_path, "input": inp.relpath,  # the name people gave it
                "styles": styles, "params": params,
                "output_format": _FORMATS[fmt], "quality": config.output.quality,
                "max_input_pixels": config.limits.max_input_pixels,
                "content_size": [width, height],
                "style_key": "|".join(sorted(s["sha256"][:16] for s in styles))}
        previous = None if journal.take_forced(key) else journal.find_job(key)  # retry --force
        duplicate = previous is not None and previous.state in ("done", "queued", "running")
        if not (duplicate and previous.output_path == str(out)):
            out = free_output_path(journal, out)
        report = outbox.report_path(out, config.output.reports == "subfolder")
        args = (inp.id, key, inp.campaign, rule.priority, output.slug, spec, str(out),
                str(report))
        if duplicate and previous.state != "done":
            # Its render does not exist yet: wait for it, so this input is neither archived
            # without its outputs nor kept in done/ if that render fails.
            journal.add_job(*args, state="waiting", reason="duplicate",
                            error=f"same as job {previous.id}", duplicate_of=previous.id)
            logger.info("{} [{}]: identical to job {} ({}): waiting for its render",
                        inp.relpath, output.slug, previous.id, previous.state)
            continue
        if duplicate and _reuse(previous, out, report):  # else (its files are gone): render again
            journal.add_job(*args, state="done", reason="duplicate",
                            error=f"same as job {previous.id}", duplicate_of=previous.id)
            logger.info("{} [{}]: identical to job {} (done): not rendered again", inp.relpath,
                        output.slug, previous.id)
            continue
        queued.append(journal.add_job(*args))
    return queued


def settle_duplicates(journal: Journal, original_id: int | None = None) -> list[int]:
    """Give duplicates waiting on a finished job (on any finished job when None, as at
    start-up) that job's outcome; returns their input ids, for the caller to archive.

    done: its files are copied under the duplicate's own name (if that copy fails, the
    duplicate is queued to render itself, its input still being in work/); failed: the
    duplicate fails too, naming the original, so its input goes to failed/."""
    inputs = []
    for dup in journal.waiting_on(original_id):
        original = journal.job(dup.duplicate_of)
        if original.state == "done":
            if _reuse(original, Path(dup.output_path), Path(dup.report_path)):
                journal.settle_waiting(dup.id, "done", error=dup.error)
                logger.info("job {}: outputs of job {} copied to {}", dup.id, original.id,
                            dup.output_path)
            else:
                journal.settle_waiting(dup.id, "queued", "copy",
                                       f"outputs of job {original.id} could not be copied")
                logger.warning("job {}: rendering it itself", dup.id)
        elif original.state == "failed":
            error = f"same as job {original.id}, which failed: {original.error}"
            journal.settle_waiting(dup.id, "failed", original.reason or "error", error)
            logger.error("job {} failed: {}", dup.id, error)
        else:
            continue  # still queued or running: keeps waiting
        inputs.append(dup.input_id)
    return inputs


def _reuse(original, out: Path, report: Path) -> bool:
    """Whether `out` holds `original`'s render, copying it there when it is another name."""
    return original.output_path == str(out) or _copy_outputs(
        Path(original.output_path), Path(original.report_path), out, report)


def free_output_path(journal: Journal, out: Path) -> Path:
    """`out`, or `stem.2.ext`, `stem.3.ext`, ... when another job already writes there or a
    file is already there: photo.jpg and photo.png in one folder, or a changed photo
    dropped again under its old name, must not overwrite a render someone may have used."""
    candidate, n = out, 1
    while journal.output_claimed(str(candidate)) or candidate.exists() or \
            outbox.report_exists(candidate):
        n += 1
        candidate = out.with_name(f"{out.stem}.{n}{out.suffix}")
    if candidate != out:
        logger.warning("{} is taken by an earlier render: writing {} instead", out,
                       candidate.name)
    return candidate


def _copy_outputs(src: Path, src_report: Path, dst: Path, dst_report: Path) -> bool:
    """A re-drop under another name or campaign still gets its files where people look."""
    try:
        report = json.loads(src_report.read_text())
        report.setdefault("job", {})["copied_from"] = str(src)
        report["output"] = {**(report.get("output") or {}), "path": str(dst)}
        outbox.publish(dst, src.read_bytes(), report, dst_report)
        return True
    except (OSError, ValueError) as exc:
        logger.warning("could not copy {} to {}: {}", src, dst, exc)
        return False


def too_large(spec: dict, capacity_bytes: int) -> str | None:
    """Why a job cannot fit on any device of this pool, or None (estimated at fp32, high)."""
    if capacity_bytes <= 0 or "content_size" not in spec:
        return None
    p = spec["params"]
    width, height = spec["content_size"]
    h, w = long_side_shape(height, width, p["size"])
    kw = dict(layers=list(p["content_layers"]) + list(p["style_layers"]), precision="fp32",
              optimizer=p["optimizer"], history=p.get("lbfgs_history", 100),
              style_layers=p["style_layers"])
    need = minimum_need(h, w, **kw)  # whole, checkpointed or tiled (engine/fit.py)
    if need <= capacity_bytes:
        return None
    fit = largest_fitting_size(height, width, capacity_bytes, **kw)
    return (f"size {p['size']} needs about {need / 2**30:.1f} GiB but the largest device has "
            f"{capacity_bytes / 2**30:.1f} GiB; size {fit} would fit - lower it in the manifest")
