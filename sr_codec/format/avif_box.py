"""The AVIF container, reduced to what a single still image needs: split it off and put it back.

A libavif file of one opaque still image is an ISOBMFF wrapper (``ftyp``, ``meta`` with
``hdlr``/``pitm``/``iloc``/``iinf``/``iprp``, and the ``mdat`` header) of about 275 bytes
around the AV1 bitstream. Every field of that wrapper is either constant or derivable from
the AV1 sequence header, so the payload stores only the bitstream:

* :func:`split_avif` extracts the primary item's AV1 OBUs (minus the leading temporal
  delimiter, two constant bytes) and the image size;
* :func:`build_avif` rebuilds, from the OBUs alone, the file libavif 1.x writes for them:
  ``ftyp`` brands, ``ispe`` (size), ``pixi`` (bit depth, channels), ``av1C`` (profile,
  level, tier, depth, monochrome, subsampling, chroma position) and ``colr`` ``nclx``
  (CICP and range) all come from the sequence header;
* :func:`parse_sequence_header` reads the image size without any container.

The rebuild is byte-exact for what the libavif bundled with Pillow writes (the codec checks
this at encode time and keeps the full file when it is not). Every parse failure raises
:class:`~sr_codec.errors.PayloadError`; every length field is checked against the data
before it is used, so corrupt input never over-reads, loops or allocates more than its size.
"""

from __future__ import annotations

import struct

from ..errors import PayloadError
from .av1 import TEMPORAL_DELIMITER, SequenceHeader, parse_sequence_header

__all__ = ["TEMPORAL_DELIMITER", "SequenceHeader", "build_avif", "parse_sequence_header", "split_avif"]

# --------------------------------------------------------------------------- ISOBMFF writer


def _box(box_type: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), box_type) + body


def _full_box(box_type: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(box_type, struct.pack(">I", (version << 24) | flags), *parts)


def _av1c(seq: SequenceHeader) -> bytes:
    """AV1CodecConfigurationBox body (version 1, no configOBUs), as libavif fills it."""
    return bytes(
        (
            0x81,  # marker, version 1
            (seq.seq_profile << 5) | seq.seq_level_idx_0,
            (seq.seq_tier_0 << 7)
            | (int(seq.bit_depth > 8) << 6)
            | (int(seq.bit_depth == 12) << 5)
            | (int(seq.monochrome) << 4)
            | (seq.subsampling_x << 3)
            | (seq.subsampling_y << 2)
            | seq.chroma_sample_position,
            0,  # no initial_presentation_delay
        )
    )


def build_avif(av1_bitstream: bytes, width: int | None = None, height: int | None = None) -> bytes:
    """The AVIF file libavif writes for ``av1_bitstream`` (AV1 OBUs without the temporal delimiter).

    Everything but the bitstream is derived from its sequence header. ``width``/``height``, when
    given, must agree with it (a cross-check of the caller's bookkeeping).
    """
    seq = parse_sequence_header(av1_bitstream)
    if (width is not None and width != seq.width) or (height is not None and height != seq.height):
        raise PayloadError(f"AV1 sequence header says {seq.width}x{seq.height}, expected {width}x{height}")
    item_data = TEMPORAL_DELIMITER + bytes(av1_bitstream)

    brands = [b"avif", b"mif1", b"miaf"]
    if seq.bit_depth in (8, 10) and not seq.monochrome:
        if seq.subsampling_x and seq.subsampling_y:
            brands.append(b"MA1B")
        elif not seq.subsampling_x and not seq.subsampling_y:
            brands.append(b"MA1A")
    ftyp = _box(b"ftyp", b"avif", struct.pack(">I", 0), *brands)

    channels = 1 if seq.monochrome else 3
    properties = [
        (_full_box(b"ispe", 0, 0, struct.pack(">II", seq.width, seq.height)), False),
        (_full_box(b"pixi", 0, 0, bytes([channels] + [seq.bit_depth] * channels)), False),
        (_box(b"av1C", _av1c(seq)), True),
        (
            _box(
                b"colr",
                b"nclx",
                struct.pack(">HHHB", seq.color_primaries, seq.transfer_characteristics, seq.matrix_coefficients,
                            0x80 if seq.full_range else 0),
            ),
            False,
        ),
    ]
    ipco = _box(b"ipco", *(prop for prop, _ in properties))
    associations = bytes((0x80 if essential else 0) | (index + 1) for index, (_, essential) in enumerate(properties))
    ipma = _full_box(b"ipma", 0, 0, struct.pack(">IHB", 1, 1, len(associations)), associations)
    iprp = _box(b"iprp", ipco, ipma)

    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"pict", bytes(12), b"\x00")
    pitm = _full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    infe = _full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0), b"av01", b"Color\x00")
    iinf = _full_box(b"iinf", 0, 0, struct.pack(">H", 1), infe)

    def iloc(offset: int) -> bytes:
        # version 0, offset_size 4, length_size 4, base_offset_size 0; one item, one extent.
        return _full_box(b"iloc", 0, 0, bytes((0x44, 0x00)), struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(item_data)))

    meta_len = len(_full_box(b"meta", 0, 0, hdlr, pitm, iloc(0), iinf, iprp))
    item_offset = len(ftyp) + meta_len + 8  # the item payload follows the mdat box header
    meta = _full_box(b"meta", 0, 0, hdlr, pitm, iloc(item_offset), iinf, iprp)
    return ftyp + meta + _box(b"mdat", item_data)


# --------------------------------------------------------------------------- ISOBMFF reader


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes in ``data[start:end]``: a list of (type, body_start, body_end), lengths checked."""
    boxes = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise PayloadError("AVIF box header is truncated")
        size, box_type = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise PayloadError("AVIF large box header is truncated")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or size > end - pos:
            raise PayloadError(f"AVIF box {box_type!r} declares {size} bytes, {end - pos} available")
        boxes.append((box_type, pos + header, pos + size))
        pos += size
    return boxes


def _only(boxes: list[tuple[bytes, int, int]], box_type: bytes) -> tuple[int, int]:
    found = [(s, e) for t, s, e in boxes if t == box_type]
    if len(found) != 1:
        raise PayloadError(f"AVIF file has {len(found)} {box_type.decode('latin-1')!r} boxes, expected 1")
    return found[0]


def _uint(data: bytes, pos: int, size: int, end: int) -> int:
    if size == 0:
        return 0
    if pos + size > end:
        raise PayloadError("AVIF box is truncated")
    return int.from_bytes(data[pos : pos + size], "big")


def _primary_item_extents(data: bytes, meta_start: int, meta_end: int) -> tuple[int, list[tuple[int, int]], dict]:
    """(primary item id, [(offset, length)...], {box type: (start, end)}) from the meta box."""
    if meta_end - meta_start < 4:
        raise PayloadError("AVIF meta box is truncated")
    children = _boxes(data, meta_start + 4, meta_end)
    kinds = {t for t, _, _ in children}
    if b"iref" in kinds or b"grpl" in kinds:
        raise PayloadError("AVIF file has derived or auxiliary items; only a single still image is supported")
    pitm_start, pitm_end = _only(children, b"pitm")
    version = _uint(data, pitm_start, 1, pitm_end)
    primary = _uint(data, pitm_start + 4, 2 if version == 0 else 4, pitm_end)

    iloc_start, iloc_end = _only(children, b"iloc")
    pos = iloc_start
    version = _uint(data, pos, 1, iloc_end)
    if version > 2:
        raise PayloadError(f"AVIF iloc version {version} is unknown")
    sizes = _uint(data, pos + 4, 2, iloc_end)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 0xF
    base_offset_size, index_size = (sizes >> 4) & 0xF, (sizes & 0xF) if version in (1, 2) else 0
    for field in (offset_size, length_size, base_offset_size, index_size):
        if field not in (0, 4, 8):
            raise PayloadError(f"AVIF iloc field size {field} is invalid")
    pos += 6
    id_size = 2 if version < 2 else 4
    item_count = _uint(data, pos, id_size, iloc_end)
    pos += id_size
    extents: list[tuple[int, int]] | None = None
    for _ in range(item_count):  # every item needs >= 1 byte, so the loop is bounded by the box size
        item_id = _uint(data, pos, id_size, iloc_end)
        pos += id_size
        construction_method = 0
        if version in (1, 2):
            construction_method = _uint(data, pos, 2, iloc_end) & 0xF
            pos += 2
        pos += 2  # data_reference_index
        base_offset = _uint(data, pos, base_offset_size, iloc_end)
        pos += base_offset_size
        extent_count = _uint(data, pos, 2, iloc_end)
        pos += 2
        entry_size = index_size + offset_size + length_size
        if pos + extent_count * entry_size > iloc_end:
            raise PayloadError("AVIF iloc extents run past the box")
        item_extents = []
        for _ in range(extent_count):
            pos += index_size
            offset = _uint(data, pos, offset_size, iloc_end)
            length = _uint(data, pos + offset_size, length_size, iloc_end)
            pos += offset_size + length_size
            item_extents.append((base_offset + offset, length))
        if item_id == primary:
            if construction_method != 0:
                raise PayloadError("AVIF primary item is not stored by file offset")
            extents = item_extents
    if not extents:
        raise PayloadError("AVIF primary item has no data")
    return primary, extents, {t: (s, e) for t, s, e in children}


def _primary_item_size(data: bytes, iprp: tuple[int, int], primary: int) -> tuple[int, int]:
    """(width, height) of the primary item's ``ispe`` property."""
    children = _boxes(data, *iprp)
    ipco_start, ipco_end = _only(children, b"ipco")
    properties = _boxes(data, ipco_start, ipco_end)
    ipma_start, ipma_end = _only(children, b"ipma")
    version = _uint(data, ipma_start, 1, ipma_end)
    flags = _uint(data, ipma_start + 1, 3, ipma_end)
    pos = ipma_start + 4
    entry_count = _uint(data, pos, 4, ipma_end)
    pos += 4
    id_size, index_size = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    for _ in range(entry_count):
        item_id = _uint(data, pos, id_size, ipma_end)
        count = _uint(data, pos + id_size, 1, ipma_end)
        pos += id_size + 1
        indices = []
        for _ in range(count):
            value = _uint(data, pos, index_size, ipma_end)
            pos += index_size
            indices.append(value & (0x7FFF if index_size == 2 else 0x7F))
        if item_id != primary:
            continue
        for index in indices:
            if 1 <= index <= len(properties) and properties[index - 1][0] == b"ispe":
                _, start, end = properties[index - 1]
                return _uint(data, start + 4, 4, end), _uint(data, start + 8, 4, end)
    raise PayloadError("AVIF primary item has no ispe (size) property")


def split_avif(data: bytes) -> tuple[bytes, int, int]:
    """(AV1 OBUs without the leading temporal delimiter, width, height) of a single-image AVIF file."""
    data = bytes(data)
    top = _boxes(data, 0, len(data))
    if not top or top[0][0] != b"ftyp":
        raise PayloadError("not an AVIF file: it does not start with an ftyp box")
    primary, extents, meta_children = _primary_item_extents(data, *_only(top, b"meta"))
    if b"iprp" not in meta_children:
        raise PayloadError("AVIF file has no iprp box")
    width, height = _primary_item_size(data, meta_children[b"iprp"], primary)
    parts = []
    for offset, length in extents:
        if length == 0 or offset + length > len(data):
            raise PayloadError("AVIF item extent lies outside the file")
        parts.append(data[offset : offset + length])
    bitstream = b"".join(parts)
    if bitstream.startswith(TEMPORAL_DELIMITER):
        bitstream = bitstream[len(TEMPORAL_DELIMITER) :]
    return bitstream, width, height
