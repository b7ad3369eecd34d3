"""The demo model's training data (tools/demo_data.py): needs only numpy and the synth package."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import demo_data  # noqa: E402


def test_chunk_ids_shard_every_chunk_exactly_once():
    for workers in (1, 2, 3, 15):
        made = [c for w in range(workers) for c in demo_data.chunk_ids(w, workers, 1000, 47)]
        assert sorted(made) == list(range(1000, 1047)), workers


def test_training_seeds_never_reach_validation_or_test_seeds():
    with pytest.raises(ValueError):
        demo_data.make_chunk(demo_data.TRAIN_SEED_LIMIT)
    assert demo_data.TRAIN_SEED_LIMIT <= 900_000_000  # validation 900000000..., held-out tests 950000000... and up


def test_posture_groups():
    assert demo_data.posture_of("fallen") == demo_data.posture_of("lie") == "down"
    assert demo_data.posture_of("sitting") == demo_data.posture_of("sit_floor") == "low"
    assert demo_data.posture_of("walking") == "up"


def test_world_chunk_is_steered_toward_people_down():
    """Frames with someone lying, fallen or falling are drawn 4x more often than others, and the people down
    get the highest priority for person-centred views."""
    down = total = 0
    for seed in range(40):
        chunk = demo_data.make_chunk(123_000 + seed, broad=0.0, per_sequence=3)
        assert chunk["images"].shape[1:] == (288, 384, 3) and chunk["images"].dtype == np.uint8
        assert chunk["keypoints"].shape[1:] == (demo_data.MAX_PEOPLE, 18, 3)
        pri = chunk["priority"]
        assert np.all(pri[chunk["keypoints"][..., 2].max(-1) == 0] == 0)  # padding rows carry no priority
        down += int((pri == demo_data.PRIORITY["down"]).any(-1).sum())
        total += len(pri)
    assert down / total > 0.4, (down, total)
