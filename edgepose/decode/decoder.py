"""``PoseDecoder``: network outputs -> people, for any model a profile describes."""
from typing import List

import numpy as np

from ..errors import ConfigError
from ..topology import NUM_KEYPOINTS
from ..types import Person
from .group import assemble
from .maps import batch_size, extract_maps
from .paf import LimbScorer
from .peaks import find_peaks


class PoseDecoder:
    """Decode heatmaps + PAFs into people.

    ``profile``: a ``Profile`` or a profile name/path. ``overrides``: any field of the profile's
    ``decode`` section (``DecodeParams``), e.g. ``PoseDecoder("tao-bpnet", peak_threshold=0.2)``.

    ``decode(outputs)`` takes the backend's dict of output name -> array for one image (a leading
    batch dimension of 1 is accepted) and returns a list of ``Person`` with keypoints in
    network-input pixels, by descending score. ``decode_batch(outputs)`` does the same for N images.
    Bad maps (missing names, wrong shapes or strides, NaN/Inf) raise ``InputError``.
    """

    def __init__(self, profile, **overrides):
        from ..profiles import DecodeParams, load_profile      # pydantic: imported here, see ``trusted``
        from ..validation import validate

        self.profile = load_profile(profile)
        fields = DecodeParams.model_fields
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ConfigError("PoseDecoder: unknown decode parameter(s) %s (known: %s)"
                              % (", ".join(unknown), ", ".join(fields)))
        data = self.profile.decode.model_dump()
        data.update(overrides)
        self.params = validate(DecodeParams, data, "PoseDecoder(%s) decode parameters" % self.profile.name)
        n_limbs = len(self.profile.limbs)
        for k in self.params.seedless_limbs:
            if not 0 <= k < n_limbs:
                raise ConfigError("PoseDecoder: seedless_limbs: limb %d does not exist (0..%d)" % (k, n_limbs - 1))
        self._setup()

    @classmethod
    def trusted(cls, profile, params):
        """A decoder from an already-validated profile view and decode parameters (attribute objects, e.g.
        from a ``Profile``'s dump): no pydantic needed, as on a device running the self-test with JetPack's
        packages only (``edgepose.selftest.golden``)."""
        self = cls.__new__(cls)
        self.profile, self.params = profile, params
        self._setup()
        return self

    def _setup(self):
        self.limb_parts = self.profile.limb_parts
        self.limb_channels = self.profile.limb_channels
        seedless = set(self.params.seedless_limbs)
        self.seedless = [k in seedless for k in range(len(self.profile.limbs))]
        self.scorer = LimbScorer(self.limb_parts, self.limb_channels, self.params)

    def __repr__(self):
        return "PoseDecoder(%r, %s)" % (self.profile.name, self.params)

    def decode(self, outputs) -> List[Person]:
        """People in one image's outputs (keypoints in network-input pixels)."""
        return self._decode(extract_maps(outputs, self.profile))

    def decode_batch(self, outputs) -> List[List[Person]]:
        """People in each image of a batch of outputs (``(N, ...)`` arrays)."""
        n = batch_size(outputs, self.profile)
        if n == 1 and np.ndim(outputs[self.profile.outputs.heatmap.name]) == 3:
            return [self.decode(outputs)]
        return [self._decode(extract_maps(outputs, self.profile, index=i)) for i in range(n)]

    def find_peaks(self, outputs):
        """The keypoint candidates (``Peaks``) of one image: for inspection and tuning."""
        return self._peaks(extract_maps(outputs, self.profile))

    def _peaks(self, maps):
        p = self.params
        return find_peaks(maps.heat, maps.heat_stride, p.peak_threshold, p.smooth_sigma, p.nms_window, p.max_peaks)

    def _decode(self, maps):
        p = self.params
        peaks = self._peaks(maps)
        cands = self.scorer.score(peaks, maps)
        found = assemble(peaks, cands, self.limb_parts, self.seedless, p.min_parts, p.min_person_score,
                         p.join_slack or None, maps.input_size)
        return people_from_parts(peaks, found)


def people_from_parts(peaks, found):
    """``Person`` objects from ``assemble``'s ``[(parts, score)]``."""
    if not found:
        return []
    ids = np.array([parts for parts, _ in found], dtype=np.int64)  # (P, 18)
    have = ids >= 0
    kps = np.zeros((len(found), NUM_KEYPOINTS, 3), dtype=np.float32)
    kps[:, :, :2] = np.nan
    sel = ids[have]
    kps[have, 0:2] = peaks.xy[sel]
    kps[have, 2] = peaks.score[sel]
    return [Person(kps[i], score) for i, (_, score) in enumerate(found)]
