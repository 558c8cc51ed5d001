"""Parameter anchors from the paper (STUDY.md), with no training and no torch."""
import pytest

import dvnlib
from dvnlib import accounting


def _outputs(info):
    return {(o["task"], o["level"]): o for o in info["outputs"]}


def test_J1_anchors():
    out = _outputs(dvnlib.summary("J1"))
    assert out[(1, 2)]["params"] == pytest.approx(7.40e6, rel=0.01)  # Table 1: 7.4M
    assert 1.80e6 <= out[(1, 1)]["params"] <= 1.95e6  # a stand-alone unit: 1.9M


def test_wrn_sizes():
    assert _outputs(dvnlib.summary("H1", width=2))[(2, 2)]["params"] == pytest.approx(1.86e6, rel=0.01)
    assert _outputs(dvnlib.summary("S2"))[(1, 2)]["params"] == pytest.approx(29.6e6, rel=0.01)


def test_J2_anchors():
    out = _outputs(dvnlib.summary("J2"))
    assert out[(1, 4)]["params"] == pytest.approx(29.8e6, rel=0.03)  # Table 2
    for level, paper in zip((1, 2, 3, 4), (6.4, 25.2, 56.4, 100.0)):
        for task in (1, 2, 3, 4):
            assert abs(100 * out[(task, level)]["density"] - paper) <= 0.6


def test_resnet42_block_choice_is_the_closest():
    best, _ = accounting.search_resnet42()[0]
    from dvnlib.backbones import RESNET_BLOCKS
    assert RESNET_BLOCKS[42] == best and sum(best) == 20


def test_J2_has_16_outputs_with_paper_unit_orders():
    info = dvnlib.summary("J2")
    assert len(info["outputs"]) == 16
    assert [o["units"] for o in info["outputs"] if o["level"] == 4] == [[1, 2, 3, 4], [2, 1, 3, 4], [3, 2, 1, 4], [4, 3, 2, 1]]


def test_J3_unequal_units_give_task1_the_paper_ratios():
    out = _outputs(dvnlib.summary("J3"))
    for level, ratio in zip((1, 2, 3), (4 / 16, 9 / 16, 1.0)):
        assert out[(1, level)]["density"] == pytest.approx(ratio, abs=0.006)


def test_total_counts_every_bn_and_head_once():
    info = dvnlib.summary("J1")
    shared = dvnlib.summary("J1", bn="shared")
    # per-output BN stores one BN per (task, level) per convolution: more than one shared BN
    assert info["total_params"] > shared["total_params"]
    assert info["total_params"] > max(o["params"] for o in info["outputs"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(scenario="nope"), "valid scenarios are J1, J2"),
    (dict(scenario="J2", units=3), "units must be 4"),
    (dict(scenario="J2", rule="random"), "valid rules are dvn, prefix"),
    (dict(scenario="J1", depth=30), "6n\\+2"),
    (dict(scenario="J2", depth=50), "must be one of"),
    (dict(scenario="J2", width=2), "empty"),
])
def test_bad_input_names_valid_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dvnlib.summary(**kwargs)
