"""Under executor kind ray, devices and jobs_per_device do nothing: validate and the start
say so in one line."""

from loguru import logger

from support.boxes import Box


def test_validate_and_start_say_devices_and_jobs_per_device_are_ignored_under_ray(tmp_path):
    box = Box(tmp_path, executor={"kind": "ray"}, devices=["cpu"], jobs_per_device=2)
    res = box.cli("validate", "--config", box.config, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [l for l in res.stderr.splitlines() if "ignored" in l]
    assert len(lines) == 1 and "devices and jobs_per_device" in lines[0], res.stderr

    from deepart_batch.pool.ray_executor import RayExecutor
    from deepart_batch.settings.config import load_config
    said = []
    sink = logger.add(said.append, level="WARNING", format="{message}")
    try:
        RayExecutor.from_config(load_config(box.config))
    finally:
        logger.remove(sink)
    assert len([s for s in said if "ignored under executor kind ray" in s]) == 1, said

    plain = Box(tmp_path / "plain", executor={"kind": "ray"})
    res = plain.cli("validate", "--config", plain.config, timeout=120)
    assert "ignored" not in res.stderr, res.stderr
