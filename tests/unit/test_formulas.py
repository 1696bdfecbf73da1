from kpis import formulas


def test_abandon_rate_is_over_contacts_that_left_the_queue() -> None:
    assert formulas.abandon_rate(abandoned=1, answered=3) == 0.25


def test_empty_denominators_are_none_not_zero() -> None:
    assert formulas.abandon_rate(0, 0) is None
    assert formulas.asa_seconds(0.0, 0) is None
    assert formulas.ratio(5, 0) is None
    assert formulas.mean(0.0, 0) is None


def test_asa_is_mean_wait_of_answered_with_known_wait() -> None:
    assert formulas.asa_seconds(answered_wait_sum_s=30.0, answered_with_wait=4) == 7.5
