"""The planner: from a claimed input and the manifest rule it matches to job rows in the
journal, each with its JobSpec. Facts are decided here once (the photo's size, the look size,
the style hashes) and travel in the spec; nothing here imports torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from loguru import logger

from ...core.states import JobState
from ... import images
from ...core.formats import OUTPUT_FORMATS
from ...core.jobspec import JobSpec, StyleRef, style_key
from ...engine.budget import (effective_look_size, largest_fitting_size, long_side_shape,
                              minimum_need)
from ...core.params import RenderParams
from ...report import RenderReport
from ...settings.config import Config
from ...core.hashing import sha256_file
from ..outcomes import publish
from ...journal import Input, Journal


def job_key(input_sha: str, styles, params: dict, weights_id: str, mask_sha256: str = "",
            regions=()) -> str:
    """One job per (input, style set and hashes, effective params, weights, and the mask
    and its regions when there is one: a changed mask is a new render)."""
    fields = {"input": input_sha, "weights": weights_id, "params": params,
              "styles": sorted((s.sha256, s.weight) for s in styles)}
    if mask_sha256:    # no mask: the key of every render before masks, unchanged
        fields.update(mask=mask_sha256, regions=[r.to_dict() for r in regions])
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def make_spec(config: Config, content: str, relpath: str, styles: list[StyleRef],
              render_params: RenderParams, content_size: tuple[int, int],
              content_sha256: str) -> JobSpec:
    """The spec of one output: the photo (its size probed, its hash), the styles with their
    hashes, the effective params and the look size decided here, once."""
    width, height = content_size
    return JobSpec(content=content, input=relpath, styles=tuple(styles),
                   params=render_params,
                   output_format=OUTPUT_FORMATS[config.output.format.lower()][0],
                   quality=config.output.quality,
                   max_input_pixels=config.limits.max_input_pixels,
                   content_size=(width, height), content_sha256=content_sha256,
                   look_size=effective_look_size(render_params.look_size,
                                                 render_params.size, max(width, height)),
                   style_key=style_key(styles))


def plan(journal: Journal, config: Config, manifest, inp: Input, weights_id: str,
         style_shas: dict[str, str], photo_size: tuple[int, int] | None = None,
         mask=None) -> list[int]:
    """Create the input's jobs; returns ids of jobs that need rendering. `photo_size`
    (width, height): the intake's probe, when it has one; else the photo is probed here,
    once for all of its outputs. `mask`: the photo's checked mask (a MaskEntry: its claimed
    copy and sha256), rendered with the rule's regions."""
    rule = manifest.match(inp.relpath)
    fmt = config.output.format.lower()
    width, height = photo_size or images.probe(inp.work_path,
                                               config.limits.max_input_pixels)[:2]
    queued = []
    for output in rule.outputs:
        # config defaults < per-style params < the output's overrides (merged by the manifest)
        render_params = config.render_params(output.params)
        params = render_params.to_dict()
        styles = []
        # a region's painting that the output does not blend rides along at weight 0
        extra = [] if mask is None else [n for r in rule.regions for n in r.styles
                                         if n not in output.styles]
        weights = {**output.styles, **{name: 0.0 for name in extra}}
        for name, weight in weights.items():
            image = Path(manifest.styles[name].image)
            if str(image) not in style_shas:
                style_shas[str(image)] = sha256_file(image)
            styles.append(StyleRef(name, str(image), weight, style_shas[str(image)]))
        regions = rule.regions if mask is not None else ()
        key = job_key(inp.sha256, styles, params, weights_id,
                      mask.sha256 if mask is not None else "", regions)
        out = publish.output_path(config.outbox, inp.relpath, output.slug, fmt,
                                 config.output.name_template)
        spec = make_spec(config, inp.work_path, inp.relpath, styles, render_params,
                         (width, height), inp.sha256)
        if mask is not None:   # the claimed copy: the team may change the share's file
            spec = replace(spec, mask=mask.copy, mask_sha256=mask.sha256, regions=regions,
                           mask_name=f"masks/{mask.relpath}")
        previous = None if journal.take_forced(key) else journal.find_job(key)  # retry --force
        duplicate = previous is not None and previous.state in (JobState.DONE, JobState.QUEUED,
                                                                JobState.RUNNING)
        if not (duplicate and previous.output_path == str(out)):
            out = free_output_path(journal, out)
        report = publish.report_path(out, config.output.reports == "subfolder")
        args = (inp.id, key, inp.campaign, rule.priority, output.slug, spec,
                str(out), str(report))
        if duplicate and previous.state != JobState.DONE:
            # Its render does not exist yet: wait for it, so this input is neither archived
            # without its outputs nor kept in done/ if that render fails.
            journal.add_job(*args, state=JobState.WAITING, reason="duplicate",
                            error=f"same as job {previous.id}", duplicate_of=previous.id)
            logger.info("{} [{}]: identical to job {} ({}): waiting for its render",
                        inp.relpath, output.slug, previous.id, previous.state)
            continue
        if duplicate and _reuse(previous, out, report):  # else (its files are gone): render again
            journal.add_job(*args, state=JobState.DONE, reason="duplicate",
                            error=f"same as job {previous.id}", duplicate_of=previous.id)
            logger.info("{} [{}]: identical to job {} (done): not rendered again", inp.relpath,
                        output.slug, previous.id)
            continue
        queued.append(journal.add_job(*args, need_bytes=memory_need(spec)))
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
        if original.state == JobState.DONE:
            if _reuse(original, Path(dup.output_path), Path(dup.report_path)):
                journal.settle_waiting(dup.id, JobState.DONE, error=dup.error)
                logger.info("job {}: outputs of job {} copied to {}", dup.id, original.id,
                            dup.output_path)
            else:
                journal.settle_waiting(dup.id, JobState.QUEUED, "copy",
                                       f"outputs of job {original.id} could not be copied")
                logger.warning("job {}: rendering it itself", dup.id)
        elif original.state == JobState.FAILED:
            error = f"same as job {original.id}, which failed: {original.error}"
            journal.settle_waiting(dup.id, JobState.FAILED, original.reason or "error", error)
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
            publish.report_exists(candidate):
        n += 1
        candidate = out.with_name(f"{out.stem}.{n}{out.suffix}")
    if candidate != out:
        logger.warning("{} is taken by an earlier render: writing {} instead", out,
                       candidate.name)
    return candidate


def _copy_outputs(src: Path, src_report: Path, dst: Path, dst_report: Path) -> bool:
    """A re-drop under another name or campaign still gets its files where people look."""
    try:
        report = RenderReport.from_dict(json.loads(src_report.read_text()))
        report.copied(str(src), str(dst))
        publish.publish(dst, src.read_bytes(), report.to_dict(), dst_report)
        return True
    except (OSError, ValueError) as exc:
        logger.warning("could not copy {} to {}: {}", src, dst, exc)
        return False


def _need_args(spec: JobSpec) -> dict:
    p = spec.params
    return dict(layers=list(p.content_layers) + list(p.style_layers), precision="fp32",
                optimizer=p.optimizer, history=p.lbfgs_history, style_layers=p.style_layers)


def memory_need(spec: JobSpec | dict) -> int | None:
    """Device memory a job needs at least (fp32, whole, checkpointed or tiled: see
    engine/budget.py), stored with the job so dispatch chooses by it; None: unknown."""
    spec = JobSpec.of(spec)
    if spec.content_size is None:
        return None
    width, height = spec.content_size
    h, w = long_side_shape(height, width, spec.params.size)
    return minimum_need(h, w, **_need_args(spec))


def too_large(spec: JobSpec | dict, capacity_bytes: int) -> str | None:
    """Why a job cannot fit on any device of this pool, or None (estimated at fp32, high)."""
    spec = JobSpec.of(spec)
    if capacity_bytes <= 0 or spec.content_size is None:
        return None
    p = spec.params
    width, height = spec.content_size
    kw = _need_args(spec)
    need = memory_need(spec)
    if need <= capacity_bytes:
        return None
    fit = largest_fitting_size(height, width, capacity_bytes, **kw)
    return (f"size {p.size} needs about {need / 2**30:.1f} GiB but the largest device has "
            f"{capacity_bytes / 2**30:.1f} GiB; size {fit} would fit - lower it in the manifest")
