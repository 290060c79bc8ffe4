import io
import json
import logging

import pytest

from exporter import logs


def capture(level="trace"):
    buf = io.StringIO()
    logs.setup(level, "bot-test", stream=buf)
    return buf


def lines(buf):
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize("text,expected", [
    ("send to +34 600 123 456 now", "send to ***3456 now"),
    ("jid 34600123456@s.whatsapp.net", "jid ***3456@s.whatsapp.net"),
    ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer ***"),
    ("url?access_token=EAAG123&x=1", "url?access_token=***&x=1"),
    ("password=hunter2 user=bob", "password=*** user=bob"),
    ("queue size 1234 ok", "queue size 1234 ok"),
])
def test_mask(text, expected):
    assert logs.mask(text) == expected


def test_mask_nested_fields():
    assert logs.mask({"phone": "+34600123456", "token": "abc", "n": [{"to": "600123456"}]}) == {
        "phone": "***3456", "token": "***", "n": [{"to": "***3456"}]}


def test_json_line_has_level_component_and_masks_fields():
    buf = capture()
    logs.get_logger("whatsapp").warning("failed to reach +34600123456",
                                        extra={"to": "+34 600 123 456", "api_key": "k"})
    (rec,) = lines(buf)
    assert rec["level"] == "warn" and rec["severity"] == 2
    assert rec["component"] == "whatsapp" and rec["service"] == "bot-test"
    assert rec["msg"] == "failed to reach ***3456"
    assert rec["to"] == "***3456" and rec["api_key"] == "***"
    assert rec["time"].endswith("Z")


def test_seven_levels_filter():
    buf = capture("http")
    lg = logs.get_logger("api")
    for name, (_, py) in logs.LEVELS.items():
        lg.log(py, name)
    assert [r["level"] for r in lines(buf)] == ["fatal", "error", "warn", "info", "http"]
    assert [r["severity"] for r in lines(buf)] == [0, 1, 2, 3, 4]


def test_rotating_files_split_by_level(tmp_path):
    logs.setup("trace", "svc", str(tmp_path), stream=io.StringIO())
    lg = logs.get_logger("queue")
    lg.error("boom")
    lg.log(logs.HTTP, "GET /x")
    lg.info("hello")
    for h in logging.getLogger(logs.ROOT).handlers:
        h.flush()
    read = lambda n: [json.loads(x)["msg"] for x in (tmp_path / n).read_text().splitlines()]
    assert read("all.log") == ["boom", "GET /x", "hello"]
    assert read("error.log") == ["boom"]
    assert read("http.log") == ["GET /x"]
    backups = {h.baseFilename.rsplit("/", 1)[1]: h.backupCount
               for h in logging.getLogger(logs.ROOT).handlers if hasattr(h, "backupCount")}
    assert backups == {"all.log": 14, "error.log": 30, "http.log": 7}


def test_rate_limited_log_holds_back_repeats():
    buf = capture()
    rl = logs.RateLimitedLog(logs.get_logger("ingest"), interval=3600)
    assert rl.warning("bad_json", "rejected event") is True
    assert rl.warning("bad_json", "rejected event") is False
    assert rl.warning("too_big", "rejected event") is True
    assert len(lines(buf)) == 2 and rl.suppressed == {"bad_json": 1}
