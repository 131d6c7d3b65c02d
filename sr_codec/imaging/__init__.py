"""Pixels: input normalisation, resampling, image files and quality metrics (numpy and Pillow only)."""
