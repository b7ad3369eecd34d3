"""A pinhole camera above the floor, pitched down: world metres -> image pixels.

World frame: X right, Y up, Z towards the camera (the scene lies at Z < 0). The camera sits at
``(x, height, 0)`` looking along -Z, tilted down by ``pitch``. Image coordinates follow OpenCV
(pixel centres at integers, y down).
"""
import numpy as np

NEAR = 0.15  # metres: polygons are clipped to camera depth >= NEAR


class Camera:
    def __init__(self, size, focal, height, pitch, x=0.0, cx=None, cy=None):
        self.size = (int(size[0]), int(size[1]))
        self.focal = float(focal)
        self.height = float(height)
        self.pitch = float(pitch)
        self.x = float(x)
        H, W = self.size
        self.cx = (W - 1) / 2.0 if cx is None else float(cx)
        self.cy = (H - 1) / 2.0 if cy is None else float(cy)
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        # rows: camera x (right), y (image down), z (view direction) in world coordinates
        self.R = np.array([[1.0, 0.0, 0.0], [0.0, -c, s], [0.0, -s, -c]])
        self.C = np.array([self.x, self.height, 0.0])

    def to_camera(self, pts):
        """(..., 3) world -> (..., 3) camera coordinates (x right, y down, z depth)."""
        return (np.asarray(pts, dtype=np.float64) - self.C) @ self.R.T

    def project_camera(self, pc):
        """(..., 3) camera coordinates -> (..., 2) pixels (depth clamped to NEAR)."""
        z = np.maximum(pc[..., 2], NEAR)
        return np.stack([self.cx + self.focal * pc[..., 0] / z, self.cy + self.focal * pc[..., 1] / z], axis=-1)

    def project(self, pts):
        """(..., 3) world -> ((..., 2) pixels, (...) depth)."""
        pc = self.to_camera(pts)
        return self.project_camera(pc), pc[..., 2]

    def scale_at(self, depth):
        """Pixels per metre at a camera depth."""
        return self.focal / max(float(depth), NEAR)

    def project_polygon(self, pts):
        """Project a planar world polygon clipped at the near plane; None when nothing is in front."""
        pc = self.to_camera(pts)
        inside = pc[:, 2] >= NEAR
        if inside.all():
            return self.project_camera(pc)
        if not inside.any():
            return None
        out = []
        n = len(pc)
        for i in range(n):  # Sutherland-Hodgman against z = NEAR
            a, b = pc[i], pc[(i + 1) % n]
            ina, inb = a[2] >= NEAR, b[2] >= NEAR
            if ina:
                out.append(a)
            if ina != inb:
                t = (NEAR - a[2]) / (b[2] - a[2])
                out.append(a + t * (b - a))
        return self.project_camera(np.array(out)) if len(out) >= 3 else None

    def floor_point(self, u, v, y=0.0):
        """World point on the plane Y = y seen at pixel (u, v), or None above the horizon."""
        ray_c = np.array([(u - self.cx) / self.focal, (v - self.cy) / self.focal, 1.0])
        ray_w = self.R.T @ ray_c
        if ray_w[1] >= -1e-6 and self.height > y:
            return None
        t = (y - self.height) / ray_w[1]
        return self.C + t * ray_w if t > 0 else None
