"""The log filter installed by the web app and the workers masks personal data, tracebacks included."""

import io
import logging

from logistics.text import PiiMaskingFilter, install_log_masking


def _logger(stream):
    logger = logging.getLogger("dossierpost.test.masking")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    install_log_masking(logger)
    install_log_masking(logger)  # idempotent: one filter per handler
    assert sum(isinstance(f, PiiMaskingFilter) for f in handler.filters) == 1
    return logger


def test_messages_arguments_and_tracebacks_are_masked():
    stream = io.StringIO()
    log = _logger(stream)
    log.warning("SMS to %s refused", "0912345678")
    log.info("citizen nhung@example.vn, CCCD 096123456789")
    def gateway():
        raise RuntimeError("gateway said: number +84 912 345 678 is blocked")

    try:
        gateway()
    except RuntimeError:
        log.exception("job failed for %s", "0987654321")
    out = stream.getvalue()
    for secret in ("0912345678", "096123456789", "nhung@", "912 345 678", "0987654321"):
        assert secret not in out, secret
    assert "678" in out and "Traceback" in out and "RuntimeError" in out
    assert "n***@example.vn" in out


def test_text_without_personal_data_is_left_alone():
    stream = io.StringIO()
    _logger(stream).warning("outbox message %s failed after %d attempts", "label:42", 3)
    assert stream.getvalue().strip() == "WARNING outbox message label:42 failed after 3 attempts"
