from streams import deadletter


def test_a_value_over_the_limit_is_cut_and_says_how_big_it_was() -> None:
    big = b"x" * (deadletter.MAX_VALUE_BYTES + 5)
    value, headers = deadletter.truncated(big)
    assert value == big[: deadletter.MAX_VALUE_BYTES]
    assert headers == [(deadletter.ORIGINAL_BYTES, str(deadletter.MAX_VALUE_BYTES + 5).encode())]


def test_a_value_within_the_limit_is_kept_whole() -> None:
    small = b"y" * deadletter.MAX_VALUE_BYTES
    assert deadletter.truncated(small) == (small, [])
    assert deadletter.truncated(None) == (None, [])
