"""A stop signal may arrive while the main thread is in the middle of a log line. The
handler must not log itself: loguru refuses the re-entry ("deadlock avoided") and prints a
"Logging error" traceback into the journal instead of the line. The loop says it once it
sees the flag."""

from loguru import logger

from deepart_batch.daemon.compose import compose
from deepart_batch.settings.config import load_config
from support.boxes import Box, like_a_process


def test_a_stop_signal_in_the_middle_of_a_log_line_is_taken_quietly(tmp_path, capsys):
    box = Box(tmp_path, canned=True)
    with like_a_process():
        service = compose(load_config(box.config), once=True)

        def sink(message):            # SIGTERM, arriving while this thread writes a line
            service.request_stop()
        sink_id = logger.add(sink)
        try:
            logger.info("a line being written")
        finally:
            logger.remove(sink_id)
        assert service.stopping
        err = capsys.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err, err
        assert service.run() == 0      # stopped before it started: nothing to drain
