import dataclasses
from pathlib import Path

import pytest

from exporter import config
from tools import stack
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


def test_every_setting_is_a_config_field_typed_by_its_parser():
    fields = dataclasses.fields(Config)
    assert [f.name for f in fields] == [s.attr for s in config.SETTINGS]
    types = {f.name: f.type for f in fields}
    assert types["listen"] == "tuple[str, int]" and types["redis_timeout"] == "float"
    assert types["priority_names"] == "dict[int, str]" and types["bullmq_events"] == "bool"


def test_a_setting_has_one_default_the_one_in_settings():
    # Config has no defaults of its own: every default comes from parsing SETTINGS.
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(Config))
    c = Config.defaults()
    assert c.max_body_bytes == 1 << 20 and c.health_rss_degraded == 256 << 20
    assert c.health_heap_degraded == 768 << 20 and c.gauge_ttl == 300.0
    assert Config.defaults(max_queues=7).max_queues == 7


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config.defaults().namespace = "other"


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    for s in config.SETTINGS:
        assert f"\n{s.env}={s.default}\n" in text, f"{s.env} missing from .env.example"



def test_env_example_lists_every_stack_variable():
    text = (ROOT / ".env.example").read_text()
    head, sep, stack_part = text.partition("# --- the stack (docker-compose.monitoring.yml) ---")
    assert sep
    for s in stack.STACK_SETTINGS:
        assert f"\n{s.env}={s.default}\n" in stack_part, f"{s.env} missing from .env.example"
    # Secrets are files or empty: no value that could be a password ships.
    secret = [s for s in stack.STACK_SETTINGS if s.secret]
    assert [s.env for s in secret] == ["GRAFANA_ADMIN_PASSWORD"] and secret[0].default == ""


FLOAT_SETTINGS = [s for s in config.SETTINGS if isinstance(s.parse(s.default), float)]


@pytest.mark.parametrize("setting", FLOAT_SETTINGS, ids=lambda s: s.env)
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_every_float_refuses_nan_and_infinity(setting, raw):
    # NaN passed every range check (all its comparisons are false) and crashed later.
    with pytest.raises(ConfigError) as e:
        Config.from_env({setting.env: raw})
    assert str(e.value) == f"{setting.env}={raw!r}: expected a finite number"


def test_float_settings_are_found():
    assert {"ANCLORA_REDIS_TIMEOUT_SECONDS", "ANCLORA_GAUGE_TTL_SECONDS",
            "ANCLORA_HEALTH_DISK_DEGRADED_RATIO"} <= {s.env for s in FLOAT_SETTINGS}


@pytest.mark.parametrize("url,error", [
    ("redis://127.0.0.1:notaport/0", "expected a port from 1 to 65535"),
    ("redis://127.0.0.1:65536/0", "expected a port from 1 to 65535"),
    ("redis://127.0.0.1:0/0", "expected a port from 1 to 65535"),  # redis-py: 6379
    ("redis://127.0.0.1:6379/abc", "expected a database number"),  # redis-py: db 0
    ("redis://127.0.0.1:6379/-1", "expected a database number"),
    ("rediss://h/0?db=two", "expected a database number"),
    ("unix:///run/redis.sock?db=x", "expected a database number"),
])
def test_redis_url_that_redis_py_would_misread_is_refused(url, error):
    for env in ("ANCLORA_REDIS_URL", "ANCLORA_ANALYTICS_REDIS_URL"):
        with pytest.raises(ConfigError) as e:
            Config.from_env({env: url})
        assert str(e.value) == f"{env}={url!r}: {error}" + (
            ", e.g. redis://host:6379/0" if "database" in error else " after the host")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis://h", "redis://h/",
                                 "rediss://:pw@h:6380/15", "redis://h/3?db=3",
                                 "unix:///run/redis.sock", "unix:///run/redis.sock?db=2"])
def test_good_redis_urls_are_kept(url):
    assert Config.from_env({"ANCLORA_REDIS_URL": url}).redis_url == url


def test_label_limit_for_an_unknown_metric_is_refused():
    with pytest.raises(ConfigError) as e:
        Config.from_env({"ANCLORA_LABEL_LIMITS": "analytics_messages_sent_total=5, nope=3"})
    assert str(e.value) == ("ANCLORA_LABEL_LIMITS='analytics_messages_sent_total=5, nope=3': "
                            "unknown metric nope; see `python -m exporter catalog`")
    with pytest.raises(ConfigError, match="names are without the namespace"):
        Config.from_env({"ANCLORA_LABEL_LIMITS": "anclora_analytics_messages_sent_total=5"})


def test_log_dir_is_created_and_checked(tmp_path):
    assert Config.from_env({"ANCLORA_LOG_DIR": str(tmp_path / "a" / "b")}).log_dir
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError) as e:
        Config.from_env({"ANCLORA_LOG_DIR": str(tmp_path / "f")})
    assert str(e.value).startswith(f"ANCLORA_LOG_DIR={str(tmp_path / 'f')!r}: cannot write "
                                   "log files there (")


def test_a_secret_is_read_from_its_file(tmp_path):
    """Container secrets: ANCLORA_X_FILE names a file holding X (final line break cut)."""
    (tmp_path / "app_secret").write_text("s3cret-from-file\n")
    c = Config.from_env({"ANCLORA_META_APP_SECRET_FILE": str(tmp_path / "app_secret")})
    assert c.meta_app_secret == "s3cret-from-file"
    with pytest.raises(ConfigError) as e:
        Config.from_env({"ANCLORA_META_APP_SECRET_FILE": str(tmp_path / "app_secret"),
                         "ANCLORA_META_APP_SECRET": "inline"})
    assert str(e.value) == ("ANCLORA_META_APP_SECRET and ANCLORA_META_APP_SECRET_FILE are "
                            "both set: keep one")
    with pytest.raises(ConfigError) as e:
        Config.from_env({"ANCLORA_EVOLUTION_WEBHOOK_TOKEN_FILE": str(tmp_path / "nope")})
    assert str(e.value).startswith("ANCLORA_EVOLUTION_WEBHOOK_TOKEN_FILE=")
    assert "cannot read it (No such file or directory)" in str(e.value)
    # only secrets have a _FILE variable
    assert Config.from_env({"ANCLORA_META_RATES_FILE": "/x"}).meta_rates == {}


def test_webhook_settings_are_parsed():
    c = Config.from_env({"ANCLORA_META_RATES": "marketing=0.0509, utility=0.0166",
                         "ANCLORA_META_FORWARD_URL": "http://app:3000/whatsapp/",
                         "ANCLORA_META_PHONE_NUMBER_IDS": "106540352242922"})
    assert c.meta_rates == {"marketing": 0.0509, "utility": 0.0166}
    assert c.meta_forward_url == "http://app:3000/whatsapp"
    assert c.meta_phone_number_ids == ("106540352242922",)
    assert c.webhook_dedup_seconds == 7 * 86400 and c.webhook_response_time is True
    assert Config.defaults().meta_rates == {} and Config.defaults().meta_forward_url == ""


@pytest.mark.parametrize("env,expected", [
    ({"ANCLORA_META_RATES": "marketting=0.05"}, "expected category=EUR pairs"),
    ({"ANCLORA_META_RATES": "marketing=cheap"}, "expected a number"),
    ({"ANCLORA_META_RATES": "marketing=-1"}, "expected a number from 0 to 100"),
    ({"ANCLORA_META_FORWARD_URL": "app:3000"}, "expected an http:// or https:// URL"),
    ({"ANCLORA_META_GRAPH_URL": "ftp://x"}, "expected an http:// or https:// URL"),
    ({"ANCLORA_META_PHONE_NUMBER_IDS": "+34600"}, "expected Meta phone number ids"),
    ({"ANCLORA_WEBHOOK_DEDUP_SECONDS": "5"}, "expected a number from 60"),
])
def test_bad_webhook_settings_name_the_variable(env, expected):
    with pytest.raises(ConfigError) as e:
        Config.from_env(env)
    assert expected in str(e.value) and str(e.value).startswith(next(iter(env)))
