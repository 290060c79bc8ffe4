from pathlib import Path

import pytest

from exporter import config
from exporter.config import Config, ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    c = Config.defaults()
    assert c.redis_url == "redis://127.0.0.1:6379/0"
    assert c.analytics_redis_url == c.redis_url
    assert c.listen == ("0.0.0.0", 9464)
    assert c.priority_names[0] == "normal" and c.priority_names[1] == "critical"
    assert c.consumer_name  # hostname-pid


def test_values_are_parsed():
    c = Config.from_env({"ANCLORA_QUEUES": "a, b,,c", "ANCLORA_LISTEN_ADDRESS": "127.0.0.1:1234",
                         "ANCLORA_LABEL_LIMITS": "analytics_messages_sent_total=5",
                         "ANCLORA_DLQ_QUEUES": "messages=messages-dlq",
                         "ANCLORA_BULLMQ_EVENTS": "off", "ANCLORA_PRIORITY_NAMES": "0=none,7=bulk"})
    assert c.queues == ("a", "b", "c")
    assert c.listen == ("127.0.0.1", 1234)
    assert c.label_limits == {"analytics_messages_sent_total": 5}
    assert c.dlq_queues == {"messages": "messages-dlq"}
    assert c.bullmq_events is False
    assert c.priority_names == {0: "none", 7: "bulk"}


@pytest.mark.parametrize("env,expected", [
    ({"ANCLORA_MAX_QUEUES": "many"}, "ANCLORA_MAX_QUEUES='many': expected a whole number"),
    ({"ANCLORA_MAX_QUEUES": "0"}, "ANCLORA_MAX_QUEUES='0': expected a number from 1"),
    ({"ANCLORA_REDIS_URL": "http://x"}, "ANCLORA_REDIS_URL='http://x': expected a redis://"),
    ({"ANCLORA_LISTEN_ADDRESS": "9464"}, "ANCLORA_LISTEN_ADDRESS='9464': expected host:port"),
    ({"ANCLORA_BULLMQ_EVENTS": "maybe"}, "ANCLORA_BULLMQ_EVENTS='maybe': expected true or false"),
    ({"ANCLORA_NAMESPACE": "a-b"}, "ANCLORA_NAMESPACE='a-b': expected a Prometheus name"),
    ({"ANCLORA_LOG_LEVEL": "verbose"}, "ANCLORA_LOG_LEVEL='verbose': expected one of fatal"),
    ({"ANCLORA_PRIORITY_NAMES": "x=y"}, "ANCLORA_PRIORITY_NAMES='x=y': expected number=name"),
])
def test_bad_values_name_the_variable(env, expected):
    with pytest.raises(ConfigError) as e:
        Config.from_env(env)
    assert str(e.value).startswith(expected)
    assert "\n" not in str(e.value)


def test_secret_value_is_not_echoed(monkeypatch):
    secret = next(s for s in config.SETTINGS if s.secret)

    def refuse(raw):
        raise ValueError("too short")
    broken = config.Setting(secret.attr, secret.env, "", refuse, secret.doc, secret=True)
    monkeypatch.setattr(config, "SETTINGS", tuple(broken if s is secret else s
                                                  for s in config.SETTINGS))
    with pytest.raises(ConfigError) as e:
        Config.from_env({secret.env: "hunter2"})
    assert "hunter2" not in str(e.value)
    assert str(e.value) == f"{secret.env}=(hidden): too short"


def test_redact_url():
    assert config.redact_url("redis://:s3cret@host:6380/1") == "redis://:***@host:6380/1"
    assert config.redact_url("redis://user:pw@h/0") == "redis://user:***@h/0"
    assert config.redact_url("redis://h:6379/0") == "redis://h:6379/0"


def test_every_setting_is_a_config_field():
    fields = set(Config.__dataclass_fields__)
    assert {s.attr for s in config.SETTINGS} == fields


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    for s in config.SETTINGS:
        assert f"\n{s.env}={s.default}\n" in text, f"{s.env} missing from .env.example"



def test_env_example_lists_every_stack_variable():
    text = (ROOT / ".env.example").read_text()
    head, sep, stack = text.partition("# --- the stack (docker-compose.monitoring.yml) ---")
    assert sep
    for s in config.STACK_SETTINGS:
        assert f"\n{s.env}={s.default}\n" in stack, f"{s.env} missing from .env.example"
    # Secrets are files or empty: no value that could be a password ships.
    secret = [s for s in config.STACK_SETTINGS if s.secret]
    assert [s.env for s in secret] == ["GRAFANA_ADMIN_PASSWORD"] and secret[0].default == ""
