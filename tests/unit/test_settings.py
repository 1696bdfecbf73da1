from pathlib import Path

import pytest

from kpis.rules import Weekday
from service.settings import ConfigError, load_settings


def test_defaults_use_the_embedded_broker() -> None:
    settings = load_settings(environ={})
    assert settings.embedded and settings.bootstrap == "127.0.0.1:19092"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text("kafka:\n  partitions: 8\napi:\n  port: 9000\n")
    settings = load_settings(config, environ={"CXPULSE_API__PORT": "9100", "CXPULSE_BROKER": "kafka-1:9092"})
    assert settings.kafka.partitions == 8
    assert settings.api.port == 9100
    assert settings.bootstrap == "kafka-1:9092" and not settings.embedded


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text("worker:\n  app_id: wallboards\n")
    assert load_settings(environ={"CXPULSE_CONFIG": str(config)}).worker.app_id == "wallboards"


def test_invalid_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.partitions: .*greater than or equal to 1"):
        load_settings(environ={"CXPULSE_KAFKA__PARTITIONS": "0"})


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text("api:\n  prot: 9000\n")
    with pytest.raises(ConfigError, match=r"api\.prot: Extra inputs are not permitted"):
        load_settings(config, environ={})


def test_missing_file_and_bad_yaml_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "absent.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})


def test_the_example_settings_file_is_valid_and_complete() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "cxpulse.example.yaml"
    settings = load_settings(example, environ={})
    assert settings.rules("support-de").timezone == "Europe/Berlin"
    assert settings.rules("billing").service_level_seconds == 30
    assert settings.rules("anything-else").day_start == "00:00"
    assert settings.rules("billing").week_start is Weekday.SUNDAY
    assert settings.rules("support-de").week_start is Weekday.MONDAY
    assert (settings.rules("billing").hourly_cost, settings.rules("billing").fixed_cost_per_day) == (32.5, 400)
    assert settings.rules("support-de").hourly_cost == 0  # not configured: cost per contact null
    assert (settings.accounts.currency, settings.accounts.lifespan_years, settings.tickets.horizon_days) == ("EUR", None, 90)


def test_queue_rules_are_validated_by_name(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text("queues:\n  billing:\n    timezone: Mars/Olympus\n    service_level_formula: fastest\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert "queues.billing.timezone: Value error, unknown IANA time zone 'Mars/Olympus'" in str(caught.value)
    assert "queues.billing.service_level_formula" in str(caught.value)


def test_week_start_is_a_weekday_name_in_defaults_or_per_queue(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.yaml"
    config.write_text("defaults:\n  week_start: sunday\nqueues:\n  billing:\n    week_start: saturday\n  sales: {}\n")
    settings = load_settings(config, environ={})
    assert settings.rules("billing").week_start is Weekday.SATURDAY
    assert settings.rules("sales").week_start is Weekday.SUNDAY
    assert Weekday.MONDAY.number == 0 and Weekday.SATURDAY.number == 5 and Weekday.SUNDAY.number == 6
    config.write_text("queues:\n  billing:\n    week_start: Mon\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert (
        "queues.billing.week_start: Input should be 'monday', 'tuesday', 'wednesday', 'thursday', 'friday',"
        " 'saturday' or 'sunday'"
    ) in str(caught.value)


def test_bootstrap_in_faust_url_form_is_read_as_host_port() -> None:
    assert load_settings(environ={"CXPULSE_BROKER": "kafka://kafka-1:9092"}).bootstrap == "kafka-1:9092"


def test_bootstrap_that_is_no_kafka_address_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap: .*'https://kafka-1' is not a Kafka address"):
        load_settings(environ={"CXPULSE_BROKER": "https://kafka-1"})


def test_day_start_off_the_quarter_hour_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"defaults\.day_start: .*quarter hour.*'06:07'"):
        load_settings(environ={"CXPULSE_DEFAULTS__DAY_START": "06:07"})
    assert load_settings(environ={"CXPULSE_DEFAULTS__DAY_START": "06:45"}).defaults.day_start == "06:45"


def test_nested_sections_are_reachable_from_the_environment() -> None:
    settings = load_settings(
        environ={"CXPULSE_API__INGEST__TWILIO__AUTH_TOKEN": "s3cret", "CXPULSE_API__INGEST__MAX_BATCH": "50", "CXPULSE_API__PORT": "9000"}
    )
    assert settings.api.ingest.twilio.auth_token is not None
    assert settings.api.ingest.twilio.auth_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings), "the secret stays out of logs and reprs"
    assert (settings.api.ingest.max_batch, settings.api.port) == (50, 9000)
    with pytest.raises(ConfigError, match="api.ingest.twilio.public_base_url"):
        load_settings(environ={"CXPULSE_API__INGEST__TWILIO__PUBLIC_BASE_URL": "cx.example.com"})
