"""The scale-out bench's pure parts: reading the worker counts, the speed-up over one worker, each worker's
share of the work, and the cluster's per-worker settings and logs, against hand-worked values."""

import argparse
import json

import pytest

from bench.cluster import WORKER, Cluster, worker_role
from bench.combined import scale_rows
from bench.scale import notes, row, shares, speed_ups, worker_counts


def test_worker_counts_are_a_comma_separated_list_of_distinct_positive_numbers() -> None:
    assert worker_counts("1,2,4") == [1, 2, 4]
    assert worker_counts("4, 1") == [4, 1]
    for bad in ("", "0,2", "1,1", "two", "1;2"):
        with pytest.raises(argparse.ArgumentTypeError):
            worker_counts(bad)


def run(workers: int, rate: float | None, folded: list[float], assignments: list[int], exact: bool | None) -> dict:
    per_worker = [{"events_folded": n, "assignments": a} for n, a in zip(folded, assignments)]
    found = {"workers": workers, "pipeline": {"events_per_s": rate, "startup_s": 7.25, "per_worker": per_worker}}
    if exact is not None:
        found["exactness"] = {"exact": exact, "mismatches": 0 if exact else 3}
    return found


def test_speed_up_is_each_rate_over_the_one_worker_rate() -> None:
    runs = [run(1, 10_000.0, [300_000], [1], True), run(2, 8_000.0, [150_000, 150_000], [2, 1], True),
            run(4, 12_500.0, [75_000] * 4, [1] * 4, True)]  # fmt: skip
    assert speed_ups(runs) == {1: 1.0, 2: 0.8, 4: 1.25}
    # Without a one-worker rate there is nothing to compare with.
    assert speed_ups(runs[1:]) == {2: None, 4: None}
    assert speed_ups([run(1, None, [0], [1], None), runs[1]]) == {1: None, 2: None}


def test_each_workers_share_of_the_events_it_folded() -> None:
    per_worker = [{"events_folded": 100.0}, {"events_folded": 300.0}]
    assert shares(per_worker) == "25% / 75%"
    assert shares([{"events_folded": 0.0}]) == "n/a"


def test_a_row_names_rate_speed_up_shares_assignments_and_counts() -> None:
    two = run(2, 8_000.0, [100_000, 300_000], [2, 1], True)
    assert row(two, 0.8) == ["2", "8,000", "0.80x", "7.2 s", "25% / 75%", "2 / 1", "equal"]
    assert row(run(2, 8_000.0, [1, 1], [1, 1], False), None)[2::4] == ["n/a", "3 differences"]
    assert row(run(2, None, [1, 1], [1, 1], None), None)[-1] == "not all counted"


def test_the_notes_say_two_cores_show_overhead_and_name_rebalances() -> None:
    result = {"machine": {"cpu_count": 2}, "parameters": {"workers": [1, 2, 4]},
              "runs": [run(2, 8_000.0, [1, 1], [2, 1], True)]}  # fmt: skip
    overhead, rebalance = notes(result)
    assert "overhead of scaling out, not the speed-up" in overhead
    assert "more than one partition assignment" in rebalance
    result["machine"]["cpu_count"] = 8
    result["runs"] = [run(2, 8_000.0, [1, 1], [1, 1], True)]
    assert notes(result) == ["8 CPUs shared by the broker, the API, this bench and the workers: each worker can "
                             "have a core of its own."]  # fmt: skip


def test_the_combined_table_carries_one_row_per_worker_count() -> None:
    result = {"parameters": {"partitions": 8},
              "runs": [run(1, 10_000.0, [1], [1], True), run(4, 5_000.0, [1] * 4, [1] * 4, True)]}  # fmt: skip
    assert scale_rows(result) == [
        ["scale-out: 1 worker(s), 8 partitions, 1 event/record", "10,000 events/s (x1.00 of one worker)", "", ""],
        ["scale-out: 4 worker(s), 8 partitions, 1 event/record", "5,000 events/s (x0.50 of one worker)", "", ""],
    ]


def test_workers_get_their_own_metrics_port_and_data_directory_and_the_first_keeps_the_single_worker_name() -> None:
    assert [worker_role(i) for i in (1, 2, 4)] == [WORKER, "worker-2", "worker-4"]
    cluster = Cluster("unit", None, {"CXPULSE_KAFKA__PARTITIONS": "8"}, metrics_port=9001)
    try:
        cluster.metrics_ports.update({WORKER: 9001, "worker-2": 9002})
        first, second = cluster.environment(WORKER), cluster.environment("worker-2")
        assert (first["CXPULSE_WORKER__METRICS_PORT"], second["CXPULSE_WORKER__METRICS_PORT"]) == ("9001", "9002")
        assert first["CXPULSE_WORKER__DATA_DIR"] != second["CXPULSE_WORKER__DATA_DIR"]
        assert first["CXPULSE_WORKER__APP_ID"] == second["CXPULSE_WORKER__APP_ID"]  # one consumer group
        assert first["CXPULSE_KAFKA__PARTITIONS"] == second["CXPULSE_KAFKA__PARTITIONS"] == "8"
        # Processes that are not workers get the first worker's settings, as before.
        assert cluster.environment("api")["CXPULSE_WORKER__METRICS_PORT"] == "9001"
    finally:
        cluster.clean_up()


def test_a_workers_assignments_are_counted_from_its_own_log() -> None:
    cluster = Cluster("unit", None)
    try:
        line = {"ts": "2026-03-10T10:00:00Z", "msg": "[^---AIOKafkaConsumerThread]: Executing _on_partitions_assigned"}
        cluster.log_path("worker-2").write_text("\n".join([json.dumps(line), '{"msg": "other"}', json.dumps(line)]) + "\n")
        cluster.log_path(WORKER).write_text(json.dumps(line) + "\n")
        assert (cluster.assignments(WORKER), cluster.assignments("worker-2")) == (1, 2)
    finally:
        cluster.clean_up()
