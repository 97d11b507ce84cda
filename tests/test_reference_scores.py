"""D4RL constants by family, and dataset metadata winning when it holds both references."""

import pytest

from cnfrl.envs.reference_scores import d4rl_family, reference_scores


@pytest.mark.parametrize(
    "name, family",
    [
        ("hopper-medium-v2", "hopper"),
        ("Hopper-v5", "hopper"),
        ("halfcheetah_medium_expert-v2.hdf5", "halfcheetah"),
        ("cnfrl/walker2d/medium-v0", "walker2d"),
        ("mujoco/ant/expert-v0", "ant"),
        ("antmaze-umaze-v0", "antmaze"),
        ("maze2d-umaze-v1", "maze2d-umaze"),
        ("maze2d-large-dense-v1", "maze2d-large-dense"),
        ("pendulum", None),
        ("constant-v0", None),
    ],
)
def test_family_matching(name, family):
    assert d4rl_family(name) == family


def test_d4rl_constants_and_normalisation():
    refs = reference_scores("hopper-medium-v2")
    assert (refs.random_return, refs.expert_return) == (-20.272305, 3234.3)
    assert refs.score(3234.3) == pytest.approx(100.0)
    assert refs.score(-20.272305) == pytest.approx(0.0)


def test_metadata_wins_only_with_both_values():
    refs = reference_scores("hopper-medium-v2", {"ref_min_score": 17.5, "ref_max_score": 3500.0})
    assert (refs.random_return, refs.expert_return, refs.origin) == (17.5, 3500.0, "dataset metadata")
    assert reference_scores("hopper-medium-v2", {"ref_min_score": 17.5}).origin == "D4RL (hopper)"
    assert reference_scores("my-data", {"env_id": "Walker2d-v5"}).expert_return == 4592.3
    assert reference_scores("my-data") is None
