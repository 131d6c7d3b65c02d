/**
 * The AVIF container around a bare AV1 bitstream, rebuilt byte for byte as `sr_codec/avif_box.py`
 * does (`build_avif`): ftyp, meta (hdlr, pitm, iloc, iinf, iprp with ispe, pixi, av1C, colr nclx)
 * and mdat, every field derived from the AV1 sequence header. Every length is checked before use,
 * so corrupt input raises PayloadError and never over-reads or loops.
 */

import { PayloadError } from './errors.js';

const TEMPORAL_DELIMITER = [0x12, 0x00];
const OBU_SEQUENCE_HEADER = 1;
const OBU_TEMPORAL_DELIMITER = 2;
const OBU_PADDING = 15;
const MAX_SEQUENCE_HEADER_BYTES = 1024;

class BitReader {
  /** @param {Uint8Array} data */
  constructor(data) {
    this.data = data;
    this.pos = 0;
  }

  /** The next `n` bits (n <= 32), MSB first. */
  f(n) {
    if (this.pos + n > 8 * this.data.length) throw new PayloadError('AV1 sequence header is truncated');
    let value = 0;
    for (let i = 0; i < n; i++) {
      const bit = (this.data[(this.pos + i) >> 3] >> (7 - ((this.pos + i) & 7))) & 1;
      value = value * 2 + bit;
    }
    this.pos += n;
    return value;
  }

  uvlc() {
    let leadingZeros = 0;
    while (this.f(1) === 0) {
      leadingZeros += 1;
      if (leadingZeros >= 32) return 2 ** 32 - 1;
    }
    return this.f(leadingZeros) + 2 ** leadingZeros - 1;
  }
}

function readLeb128(data, pos) {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (pos >= data.length) throw new PayloadError('AV1 OBU size field is truncated');
    const byte = data[pos++];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) return [value, pos];
  }
  throw new PayloadError('AV1 OBU size field is longer than 8 bytes');
}

/** AV1 low-overhead OBUs: [[type, payloadStart, payloadEnd], ...]. */
export function iterObus(data) {
  const obus = [];
  let pos = 0;
  while (pos < data.length) {
    const header = data[pos];
    if (header & 0x80) throw new PayloadError('AV1 OBU forbidden bit is set');
    const type = (header >> 3) & 0x0f;
    const hasExtension = (header >> 2) & 1;
    const hasSize = (header >> 1) & 1;
    pos += 1 + hasExtension;
    if (pos > data.length) throw new PayloadError('AV1 OBU header is truncated');
    let size;
    if (hasSize) {
      [size, pos] = readLeb128(data, pos);
      if (size > data.length - pos) {
        throw new PayloadError(`AV1 OBU declares ${size} bytes but only ${data.length - pos} remain`);
      }
    } else {
      size = data.length - pos;
    }
    obus.push([type, pos, pos + size]);
    pos += size;
  }
  return obus;
}

/** The sequence header fields the container repeats (AV1 spec 5.5). */
export function parseSequenceHeader(obus) {
  for (const [type, start, end] of iterObus(obus)) {
    if (type === OBU_TEMPORAL_DELIMITER || type === OBU_PADDING) continue;
    if (type !== OBU_SEQUENCE_HEADER) {
      throw new PayloadError(`AV1 bitstream does not start with a sequence header (OBU type ${type})`);
    }
    return parseSequenceHeaderPayload(obus.subarray(start, Math.min(end, start + MAX_SEQUENCE_HEADER_BYTES)));
  }
  throw new PayloadError('AV1 bitstream has no sequence header');
}

function parseSequenceHeaderPayload(data) {
  const r = new BitReader(data);
  const seqProfile = r.f(3);
  if (seqProfile > 2) throw new PayloadError(`AV1 seq_profile ${seqProfile} is reserved`);
  r.f(1); // still_picture
  const reducedStillPictureHeader = r.f(1);
  let seqTier0 = 0;
  let seqLevelIdx0;
  if (reducedStillPictureHeader) {
    seqLevelIdx0 = r.f(5);
  } else {
    const timingInfoPresent = r.f(1);
    let decoderModelInfoPresent = 0;
    let bufferDelayLength = 0;
    if (timingInfoPresent) {
      r.f(32); r.f(32);
      if (r.f(1)) r.uvlc();
      decoderModelInfoPresent = r.f(1);
      if (decoderModelInfoPresent) {
        bufferDelayLength = r.f(5) + 1;
        r.f(32); r.f(5); r.f(5);
      }
    }
    const initialDisplayDelayPresent = r.f(1);
    const operatingPoints = r.f(5) + 1;
    seqLevelIdx0 = -1;
    for (let i = 0; i < operatingPoints; i++) {
      r.f(12);
      const level = r.f(5);
      const tier = level > 7 ? r.f(1) : 0;
      if (i === 0) [seqLevelIdx0, seqTier0] = [level, tier];
      if (decoderModelInfoPresent && r.f(1)) {
        r.f(bufferDelayLength); r.f(bufferDelayLength); r.f(1);
      }
      if (initialDisplayDelayPresent && r.f(1)) r.f(4);
    }
  }
  const widthBits = r.f(4) + 1;
  const heightBits = r.f(4) + 1;
  const width = r.f(widthBits) + 1;
  const height = r.f(heightBits) + 1;
  const frameIdNumbersPresent = reducedStillPictureHeader ? 0 : r.f(1);
  if (frameIdNumbersPresent) { r.f(4); r.f(3); }
  r.f(3);
  if (!reducedStillPictureHeader) {
    r.f(4);
    const enableOrderHint = r.f(1);
    if (enableOrderHint) r.f(2);
    const seqForceScreenContentTools = r.f(1) ? 2 : r.f(1);
    if (seqForceScreenContentTools > 0 && !r.f(1)) r.f(1);
    if (enableOrderHint) r.f(3);
  }
  r.f(3);
  const highBitdepth = r.f(1);
  let bitDepth;
  if (seqProfile === 2 && highBitdepth) bitDepth = r.f(1) ? 12 : 10;
  else bitDepth = highBitdepth ? 10 : 8;
  const monochrome = seqProfile === 1 ? false : Boolean(r.f(1));
  let primaries = 2, transfer = 2, matrix = 2;
  if (r.f(1)) { primaries = r.f(8); transfer = r.f(8); matrix = r.f(8); }
  let chromaSamplePosition = 0, fullRange, subsamplingX, subsamplingY;
  if (monochrome) {
    fullRange = Boolean(r.f(1));
    subsamplingX = subsamplingY = 1;
  } else if (primaries === 1 && transfer === 13 && matrix === 0) {
    fullRange = true;
    subsamplingX = subsamplingY = 0;
  } else {
    fullRange = Boolean(r.f(1));
    if (seqProfile === 0) subsamplingX = subsamplingY = 1;
    else if (seqProfile === 1) subsamplingX = subsamplingY = 0;
    else if (bitDepth === 12) {
      subsamplingX = r.f(1);
      subsamplingY = subsamplingX ? r.f(1) : 0;
    } else {
      subsamplingX = 1; subsamplingY = 0;
    }
    if (subsamplingX && subsamplingY) chromaSamplePosition = r.f(2);
  }
  return {
    width, height, seqProfile, seqLevelIdx0, seqTier0, bitDepth, monochrome, subsamplingX, subsamplingY,
    chromaSamplePosition, colorPrimaries: primaries, transferCharacteristics: transfer,
    matrixCoefficients: matrix, fullRange,
  };
}

// ----------------------------------------------------------------------------------- ISOBMFF writer

const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));
const u16 = (v) => [(v >>> 8) & 0xff, v & 0xff];
const u32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function box(type, ...parts) {
  const body = parts.flat();
  return [...u32(8 + body.length), ...ascii(type), ...body];
}

function fullBox(type, version, flags, ...parts) {
  return box(type, u32(((version << 24) | flags) >>> 0), ...parts);
}

function av1c(seq) {
  return [
    0x81,
    (seq.seqProfile << 5) | seq.seqLevelIdx0,
    (seq.seqTier0 << 7) | (Number(seq.bitDepth > 8) << 6) | (Number(seq.bitDepth === 12) << 5) |
      (Number(seq.monochrome) << 4) | (seq.subsamplingX << 3) | (seq.subsamplingY << 2) | seq.chromaSamplePosition,
    0,
  ];
}

/**
 * The AVIF file libavif writes for `av1` (AV1 OBUs without the temporal delimiter), like avif_box.build_avif.
 * @param {Uint8Array} av1 @param {number} [width] @param {number} [height] @returns {Uint8Array}
 */
export function buildAvif(av1, width, height) {
  const seq = parseSequenceHeader(av1);
  if ((width !== undefined && width !== seq.width) || (height !== undefined && height !== seq.height)) {
    throw new PayloadError(`AV1 sequence header says ${seq.width}x${seq.height}, expected ${width}x${height}`);
  }
  const itemLength = TEMPORAL_DELIMITER.length + av1.length;
  const brands = ['avif', 'mif1', 'miaf'];
  if ((seq.bitDepth === 8 || seq.bitDepth === 10) && !seq.monochrome) {
    if (seq.subsamplingX && seq.subsamplingY) brands.push('MA1B');
    else if (!seq.subsamplingX && !seq.subsamplingY) brands.push('MA1A');
  }
  const ftyp = box('ftyp', ascii('avif'), u32(0), ...brands.map(ascii));
  const channels = seq.monochrome ? 1 : 3;
  const properties = [
    [fullBox('ispe', 0, 0, u32(seq.width), u32(seq.height)), false],
    [fullBox('pixi', 0, 0, [channels, ...Array(channels).fill(seq.bitDepth)]), false],
    [box('av1C', av1c(seq)), true],
    [box('colr', ascii('nclx'), u16(seq.colorPrimaries), u16(seq.transferCharacteristics),
      u16(seq.matrixCoefficients), [seq.fullRange ? 0x80 : 0]), false],
  ];
  const ipco = box('ipco', ...properties.map(([p]) => p));
  const associations = properties.map(([, essential], index) => (essential ? 0x80 : 0) | (index + 1));
  const ipma = fullBox('ipma', 0, 0, u32(1), u16(1), [associations.length], associations);
  const iprp = box('iprp', ipco, ipma);
  const hdlr = fullBox('hdlr', 0, 0, u32(0), ascii('pict'), Array(12).fill(0), [0]);
  const pitm = fullBox('pitm', 0, 0, u16(1));
  const infe = fullBox('infe', 2, 0, u16(1), u16(0), ascii('av01'), ascii('Color'), [0]);
  const iinf = fullBox('iinf', 0, 0, u16(1), infe);
  const iloc = (offset) => fullBox('iloc', 0, 0, [0x44, 0x00], u16(1), u16(1), u16(0), u16(1), u32(offset), u32(itemLength));
  const metaLength = fullBox('meta', 0, 0, hdlr, pitm, iloc(0), iinf, iprp).length;
  const itemOffset = ftyp.length + metaLength + 8;
  const meta = fullBox('meta', 0, 0, hdlr, pitm, iloc(itemOffset), iinf, iprp);
  const head = [...ftyp, ...meta, ...u32(8 + itemLength), ...ascii('mdat'), ...TEMPORAL_DELIMITER];
  const out = new Uint8Array(head.length + av1.length);
  out.set(head, 0);
  out.set(av1, head.length);
  return out;
}

// ----------------------------------------------------------------------------------- ISOBMFF reader

function boxes(data, start, end) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const found = [];
  let pos = start;
  while (pos < end) {
    if (end - pos < 8) throw new PayloadError('AVIF box header is truncated');
    let size = view.getUint32(pos);
    const type = String.fromCharCode(...data.subarray(pos + 4, pos + 8));
    let header = 8;
    if (size === 1) {
      if (end - pos < 16) throw new PayloadError('AVIF large box header is truncated');
      size = Number(view.getBigUint64(pos + 8));
      header = 16;
    } else if (size === 0) {
      size = end - pos;
    }
    if (size < header || size > end - pos) throw new PayloadError(`AVIF box '${type}' declares ${size} bytes, ${end - pos} available`);
    found.push([type, pos + header, pos + size]);
    pos += size;
  }
  return found;
}

/**
 * (height, width) of a complete AVIF file (the payload's fallback form, first byte 0): the `ispe` in
 * meta/iprp/ipco. sr_codec writes one image item with one ispe, so the first is the primary's.
 */
export function avifFileSize(data) {
  const find = (list, type) => {
    const hit = list.find(([t]) => t === type);
    if (!hit) throw new PayloadError(`AVIF file has no '${type}' box`);
    return hit;
  };
  const top = boxes(data, 0, data.length);
  if (!top.length || top[0][0] !== 'ftyp') throw new PayloadError('not an AVIF file: it does not start with an ftyp box');
  const [, metaStart, metaEnd] = find(top, 'meta');
  if (metaEnd - metaStart < 4) throw new PayloadError('AVIF meta box is truncated');
  const [, iprpStart, iprpEnd] = find(boxes(data, metaStart + 4, metaEnd), 'iprp');
  const [, ipcoStart, ipcoEnd] = find(boxes(data, iprpStart, iprpEnd), 'ipco');
  const [, start, end] = find(boxes(data, ipcoStart, ipcoEnd), 'ispe');
  if (end - start < 12) throw new PayloadError('AVIF ispe box is truncated');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return [view.getUint32(start + 8), view.getUint32(start + 4)];
}
