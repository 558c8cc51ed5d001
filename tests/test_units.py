"""The configuration rule (eq. 3), S(i, j) and unit boundaries."""
import pytest

from dvnlib import units as U


def test_rule_k3_matches_eq3():
    # Section 3.2: task 1: 1 / 1,2 / 1,2,3; task 2: 2 / 2,1 / 2,1,3; task 3: 3 / 3,2 / 3,2,1.
    assert U.dvn_configuration(3) == ((1, 2, 3), (2, 1, 3), (3, 2, 1))


def test_rule_k4_orders():
    assert U.dvn_configuration(4) == ((1, 2, 3, 4), (2, 1, 3, 4), (3, 2, 1, 4), (4, 3, 2, 1))


@pytest.mark.parametrize("k", range(1, 9))
def test_every_level_is_contiguous_and_nested(k):
    config = U.dvn_configuration(k)
    for t in range(1, k + 1):
        assert config[t - 1][0] == t  # rule (i): unit t is task t's lowest level
        assert sorted(config[t - 1]) == list(range(1, k + 1))
        for l in range(1, k + 1):
            lo, hi = U.unit_range(config, t, l)
            assert hi - lo + 1 == l


def test_S_is_the_level_a_unit_joins():
    config = U.dvn_configuration(3)
    assert [U.S(config, i, 2) for i in (1, 2, 3)] == [2, 1, 3]
    assert [U.S(config, i, 3) for i in (1, 2, 3)] == [3, 2, 1]


def test_boundaries_equal_and_unequal():
    assert U.boundaries(64, (1, 1, 1, 1)) == (0, 16, 32, 48, 64)
    assert U.boundaries(64, (2, 1, 1)) == (0, 32, 48, 64)
    assert U.channel_slice(64, (2, 1, 1), 2, 3) == (32, 64)
    with pytest.raises(ValueError, match="empty"):
        U.boundaries(2, (1, 1, 1))


def test_out_of_range_names_valid_values():
    config = U.dvn_configuration(2)
    with pytest.raises(ValueError, match=r"valid tasks are 1\.\.2"):
        U.check_output(config, 3, 1)
    with pytest.raises(ValueError, match=r"valid levels are 1\.\.2"):
        U.check_output(config, 1, 0)
