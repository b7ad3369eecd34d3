"""Zones: polygons in source-image pixels with a role. ``exclude``: no falls are raised for a person
whose body centre is inside (a bed, a sofa); ``only``: when any only-zone applies to a source, falls
are raised only inside one. A polygon whose coordinates are all within [0, 1] is read as fractions of
the frame width and height.
"""


def point_in_polygon(x, y, poly):
    """Even-odd ray casting; poly is a sequence of (x, y)."""
    inside = False
    n = len(poly)
    j = n - 1
    for i in range(n):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y):
            xc = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < xc:
                inside = not inside
        j = i
    return inside


class Zones(object):
    """The zones that apply to one source."""

    def __init__(self, zones, source):
        self.zones = [z for z in zones if not z.sources or source in z.sources]
        self.has_only = any(z.role == "only" for z in self.zones)

    def _poly(self, z, frame_size):
        pts = [tuple(p) for p in z.polygon]
        if frame_size is not None and all(0.0 <= v <= 1.0 for p in pts for v in p):
            h, w = frame_size
            pts = [(x * w, y * h) for x, y in pts]
        return pts

    def inside(self, point, frame_size=None):
        """Names of the zones containing ``point`` (x, y)."""
        if point is None:
            return []
        return [z.name for z in self.zones if point_in_polygon(point[0], point[1], self._poly(z, frame_size))]

    def falls_allowed(self, point, frame_size=None):
        """(allowed, zone names containing the point)."""
        names = self.inside(point, frame_size)
        roles = {z.name: z.role for z in self.zones}
        if any(roles[n] == "exclude" for n in names):
            return False, names
        if self.has_only and not any(roles[n] == "only" for n in names):
            return False, names
        return True, names
