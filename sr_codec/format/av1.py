"""AV1 bitstream reading for the AVIF container: OBUs and the sequence header (image size, colour fields).

Every length field is checked against the data before it is used; every failure is a
:class:`~sr_codec.errors.PayloadError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PayloadError

#: The temporal-delimiter OBU (type 2, size field 0) libavif puts before the sequence header.
TEMPORAL_DELIMITER = b"\x12\x00"

OBU_SEQUENCE_HEADER = 1
OBU_TEMPORAL_DELIMITER = 2
OBU_PADDING = 15
#: A sequence header is at most a few hundred bytes (32 operating points with decoder models);
#: reading only this much keeps a corrupt, huge "sequence header" OBU cheap to parse.
_MAX_SEQUENCE_HEADER_BYTES = 1024


@dataclass(frozen=True)
class SequenceHeader:
    """The fields of an AV1 sequence header that the AVIF container repeats."""

    width: int
    height: int
    seq_profile: int
    seq_level_idx_0: int
    seq_tier_0: int
    bit_depth: int
    monochrome: bool
    subsampling_x: int
    subsampling_y: int
    chroma_sample_position: int
    color_primaries: int
    transfer_characteristics: int
    matrix_coefficients: int
    full_range: bool


class _BitReader:
    """MSB-first bit reader over a bytes object; reading past the end raises PayloadError."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._nbits = 8 * len(data)
        self._pos = 0

    def f(self, n: int) -> int:
        if self._pos + n > self._nbits:
            raise PayloadError("AV1 sequence header is truncated")
        self._pos += n
        return (self._value >> (self._nbits - self._pos)) & ((1 << n) - 1)

    def uvlc(self) -> int:
        leading_zeros = 0
        while self.f(1) == 0:
            leading_zeros += 1
            if leading_zeros >= 32:
                return (1 << 32) - 1
        return self.f(leading_zeros) + (1 << leading_zeros) - 1


def _read_leb128(data: bytes, pos: int) -> tuple[int, int]:
    """(value, new position) of the leb128 at ``pos``; at most 8 bytes as the AV1 spec allows."""
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise PayloadError("AV1 OBU size field is truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise PayloadError("AV1 OBU size field is longer than 8 bytes")


def iter_obus(data: bytes) -> list[tuple[int, int, int]]:
    """Split AV1 low-overhead-format OBUs: a list of (obu_type, payload_start, payload_end).

    An OBU without a size field extends to the end of the data (allowed for the last one).
    """
    obus = []
    pos = 0
    while pos < len(data):
        header = data[pos]
        if header & 0x80:
            raise PayloadError("AV1 OBU forbidden bit is set")
        obu_type = (header >> 3) & 0x0F
        has_extension = (header >> 2) & 1
        has_size = (header >> 1) & 1
        pos += 1 + has_extension
        if pos > len(data):
            raise PayloadError("AV1 OBU header is truncated")
        if has_size:
            size, pos = _read_leb128(data, pos)
            if size > len(data) - pos:
                raise PayloadError(f"AV1 OBU declares {size} bytes but only {len(data) - pos} remain")
        else:
            size = len(data) - pos
        obus.append((obu_type, pos, pos + size))
        pos += size
    return obus


def parse_sequence_header(obus: bytes) -> SequenceHeader:
    """Parse the sequence header OBU that starts ``obus`` (a leading temporal delimiter is skipped).

    Follows section 5.5 of the AV1 specification; the frame size is ``max_frame_*_minus_1 + 1``,
    which is the image size for the still pictures libavif writes.
    """
    data = bytes(obus)
    for obu_type, start, end in iter_obus(data):
        if obu_type in (OBU_TEMPORAL_DELIMITER, OBU_PADDING):
            continue
        if obu_type != OBU_SEQUENCE_HEADER:
            raise PayloadError(f"AV1 bitstream does not start with a sequence header (OBU type {obu_type})")
        return _parse_sequence_header_payload(data[start : min(end, start + _MAX_SEQUENCE_HEADER_BYTES)])
    raise PayloadError("AV1 bitstream has no sequence header")


def _parse_sequence_header_payload(payload: bytes) -> SequenceHeader:
    r = _BitReader(payload)
    seq_profile = r.f(3)
    if seq_profile > 2:
        raise PayloadError(f"AV1 seq_profile {seq_profile} is reserved")
    r.f(1)  # still_picture
    reduced_still_picture_header = r.f(1)
    seq_tier_0 = 0
    if reduced_still_picture_header:
        seq_level_idx_0 = r.f(5)
    else:
        timing_info_present = r.f(1)
        decoder_model_info_present = 0
        buffer_delay_length = 0
        if timing_info_present:
            r.f(32)  # num_units_in_display_tick
            r.f(32)  # time_scale
            if r.f(1):  # equal_picture_interval
                r.uvlc()  # num_ticks_per_picture_minus_1
            decoder_model_info_present = r.f(1)
            if decoder_model_info_present:
                buffer_delay_length = r.f(5) + 1
                r.f(32)  # num_units_in_decoding_tick
                r.f(5)  # buffer_removal_time_length_minus_1
                r.f(5)  # frame_presentation_time_length_minus_1
        initial_display_delay_present = r.f(1)
        operating_points = r.f(5) + 1
        seq_level_idx_0 = -1
        for i in range(operating_points):
            r.f(12)  # operating_point_idc
            level = r.f(5)
            tier = r.f(1) if level > 7 else 0
            if i == 0:
                seq_level_idx_0, seq_tier_0 = level, tier
            if decoder_model_info_present and r.f(1):  # decoder_model_present_for_this_op
                r.f(buffer_delay_length)  # decoder_buffer_delay
                r.f(buffer_delay_length)  # encoder_buffer_delay
                r.f(1)  # low_delay_mode_flag
            if initial_display_delay_present and r.f(1):
                r.f(4)  # initial_display_delay_minus_1
    width_bits = r.f(4) + 1
    height_bits = r.f(4) + 1
    width = r.f(width_bits) + 1
    height = r.f(height_bits) + 1
    frame_id_numbers_present = 0 if reduced_still_picture_header else r.f(1)
    if frame_id_numbers_present:
        r.f(4)  # delta_frame_id_length_minus_2
        r.f(3)  # additional_frame_id_length_minus_1
    r.f(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if not reduced_still_picture_header:
        r.f(4)  # interintra_compound, masked_compound, warped_motion, dual_filter
        enable_order_hint = r.f(1)
        if enable_order_hint:
            r.f(2)  # enable_jnt_comp, enable_ref_frame_mvs
        seq_force_screen_content_tools = 2 if r.f(1) else r.f(1)  # seq_choose_screen_content_tools
        if seq_force_screen_content_tools > 0 and not r.f(1):  # seq_choose_integer_mv
            r.f(1)  # seq_force_integer_mv
        if enable_order_hint:
            r.f(3)  # order_hint_bits_minus_1
    r.f(3)  # enable_superres, enable_cdef, enable_restoration

    # color_config()
    high_bitdepth = r.f(1)
    if seq_profile == 2 and high_bitdepth:
        bit_depth = 12 if r.f(1) else 10
    else:
        bit_depth = 10 if high_bitdepth else 8
    monochrome = False if seq_profile == 1 else bool(r.f(1))
    if r.f(1):  # color_description_present_flag
        primaries, transfer, matrix = r.f(8), r.f(8), r.f(8)
    else:
        primaries = transfer = matrix = 2  # unspecified
    chroma_sample_position = 0
    if monochrome:
        full_range = bool(r.f(1))
        subsampling_x = subsampling_y = 1
    elif primaries == 1 and transfer == 13 and matrix == 0:  # sRGB, identity matrix
        full_range = True
        subsampling_x = subsampling_y = 0
    else:
        full_range = bool(r.f(1))
        if seq_profile == 0:
            subsampling_x = subsampling_y = 1
        elif seq_profile == 1:
            subsampling_x = subsampling_y = 0
        elif bit_depth == 12:
            subsampling_x = r.f(1)
            subsampling_y = r.f(1) if subsampling_x else 0
        else:
            subsampling_x, subsampling_y = 1, 0
        if subsampling_x and subsampling_y:
            chroma_sample_position = r.f(2)
    return SequenceHeader(
        width=width,
        height=height,
        seq_profile=seq_profile,
        seq_level_idx_0=seq_level_idx_0,
        seq_tier_0=seq_tier_0,
        bit_depth=bit_depth,
        monochrome=monochrome,
        subsampling_x=subsampling_x,
        subsampling_y=subsampling_y,
        chroma_sample_position=chroma_sample_position,
        color_primaries=primaries,
        transfer_characteristics=transfer,
        matrix_coefficients=matrix,
        full_range=full_range,
    )
