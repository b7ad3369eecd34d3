"""Post-processing: heatmaps + part affinity fields -> people, vectorized in numpy.

The stages, one module each:

- ``maps``: pick the heatmaps and PAF out of the network outputs per the profile; validate them;
- ``peaks``: keypoint candidates at the model's map resolution (smoothing, NMS, sub-pixel
  refinement, score from the unsmoothed map);
- ``paf``: every candidate pair of every limb scored on the PAF in one pass;
- ``group``: greedy assignment per limb, OpenPose-style assembly, the profile's filters;
- ``fragments``: people whose neck is missing (cut by the frame, head hidden) and limbs whose PAF
  failed: fragments joined when they fit one body (``join_slack``).

``PoseDecoder(profile, **overrides).decode(outputs)`` runs them all. Its inverse,
ground-truth maps from known keypoints (training targets, tests, the oracle), is
``edgepose.synth.targets``.
"""
from .decoder import PoseDecoder, people_from_parts  # noqa: F401
from .group import assemble  # noqa: F401
from .maps import MapSet, extract_maps  # noqa: F401
from .paf import LimbCandidates, score_limbs  # noqa: F401
from .peaks import Peaks, find_peaks  # noqa: F401

__all__ = ["PoseDecoder", "Peaks", "LimbCandidates", "MapSet", "find_peaks", "score_limbs", "assemble",
           "extract_maps", "people_from_parts"]
