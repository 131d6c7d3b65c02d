"""sr_codec: photos in a few kilobytes (downsample + classical codec + learned super-resolution)."""
