"""The sentiment jump rule follows the thresholds file's sentiment_jump (promtool checks what it does:
deploy/prometheus/tests/sentiment.yml), and the API exports the counters it reads."""

from __future__ import annotations

from kpis.buckets import BucketStats
from kpis.thresholds import parse_thresholds
from service.alert_rules import SENTIMENT_RULES_FILE, render, sentiment_rules


def test_margin_volume_baseline_and_hold_come_from_the_file() -> None:
    thresholds = parse_thresholds({"sentiment_jump": {"margin": 0.2, "min_volume": 5, "baseline": "12h", "for": "10m", "team": "cx"}})
    rule, lagging = sentiment_rules(thresholds)["groups"][0]["rules"]
    expression = rule["expr"]
    assert "increase(cxpulse_sentiment_messages_negative_total[12h])" in expression
    assert "/ increase(cxpulse_sentiment_messages_scored_total[12h])" in expression
    assert ") + 0.2\n" in expression and 'cxpulse_window_sentiment_scored_messages{window="15m"} >= 5' in expression
    assert expression.startswith('cxpulse_window_sentiment_negative_ratio{window="15m"}\n')
    assert (rule["for"], rule["labels"]) == ("10m", {"severity": "warning", "team": "cx"})
    assert lagging["expr"].endswith("> 20000") and lagging["for"] == "10m"


def test_the_scorer_lag_limit_comes_from_the_pipeline_section() -> None:
    thresholds = parse_thresholds({"pipeline": {"sentiment_lag_records": 500, "sentiment_lag_for": "3m", "team": "ops"}})
    _, lagging = sentiment_rules(thresholds)["groups"][0]["rules"]
    assert lagging["expr"] == "sum(max by (topic) (cxpulse_sentiment_lag_records)) > 500"
    assert (lagging["for"], lagging["labels"]["team"], lagging["annotations"]["threshold"]) == ("3m", "ops", "500")


def test_the_defaults_render_the_committed_file() -> None:
    rendered = render(parse_thresholds({}))[SENTIMENT_RULES_FILE]
    assert "[24h]" in rendered and ") + 0.15" in rendered and ">= 20" in rendered and "for: 5m" in rendered


def test_the_api_exports_the_counters_the_rule_reads() -> None:
    from tests.unit.test_api_metrics import T0, VOICE, FakeReader, interval, scrape

    reader = FakeReader()
    reader.become_ready()
    reader.book.put(0, interval("sales", T0 - 900), BucketStats(messages_scored=7, sentiment_negative=3, sentiment_score_sum=-0.5))
    reader.book.put(1, interval("sales", T0), BucketStats(messages_scored=2, sentiment_positive=2, sentiment_score_sum=1.2))
    samples = scrape(reader)
    assert samples[("cxpulse_sentiment_messages_scored_total", VOICE)] == 9
    assert samples[("cxpulse_sentiment_messages_negative_total", VOICE)] == 3
