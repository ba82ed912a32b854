"""Which files are images: the one list of image file suffixes. No torch here."""
from __future__ import annotations

# What PIL reads and the project accepts as an image file (the suffix compared in lower case).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
