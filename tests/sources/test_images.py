"""edgepose.sources.images: one suffix list, one lister, one reader for every user of still images."""
import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.sources.images import IMAGE_SUFFIXES, is_image_file, list_images, load_image, read_image

cv2 = pytest.importorskip("cv2")


def test_lister_and_reader(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.tiff"):
        cv2.imwrite(str(tmp_path / name), np.full((4, 6, 3), 50, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert [p.rsplit("/", 1)[1] for p in list_images(str(tmp_path))] == ["a.jpg", "b.PNG", "broken.jpg", "c.tiff"]
    assert load_image(str(tmp_path / "a.jpg")).shape == (4, 6, 3)
    assert load_image(str(tmp_path / "broken.jpg")) is None
    with pytest.raises(InputError, match="broken.jpg: cannot read this image.*remove it"):
        read_image(str(tmp_path / "broken.jpg"), fix="remove it")
    assert is_image_file("X.JPEG") and not is_image_file("clip.mp4") and ".webp" in IMAGE_SUFFIXES
