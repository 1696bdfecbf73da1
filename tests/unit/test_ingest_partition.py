"""The API's cached partition choice equals the producer's default partitioner, which contract v1
requires of every event in a batched record."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from api.ingest import _partition


def test_the_cached_choice_is_the_default_partitioners() -> None:
    partitioner = DefaultPartitioner()
    keys = [b"", b"cust-000001", b"c" * 200, "kund-\u00e9".encode(), *(f"cust-{n}".encode() for n in range(500))]
    for count in (1, 2, 4, 7, 12):
        every = list(range(count))
        assert [_partition(key, count) for key in keys] == [partitioner(key, every, every) for key in keys]
    assert len({_partition(f"cust-{n}".encode(), 4) for n in range(500)}) == 4
