/**
 * Payload format v1 (docs/format.md): eight msgpack objects, an optional extension map, a CRC-32.
 *
 * The fields are read with a strict header-level msgpack reader, because the format needs what an
 * object-level msgpack API does not expose: the byte position of each field, refusing str / array /
 * map / ext outright, and bounding every declared length by the bytes actually present before
 * anything is allocated. The extension map (which v1 writers never emit) is checked structurally
 * here (key rules, nesting, duplicates) and its values decoded with `@msgpack/msgpack`.
 * Mirrors `sr_codec/payload.py`: same checks, same order, same error classes.
 */

import { decode as msgpackDecode } from '@msgpack/msgpack';
import { crc32 } from './crc32.js';
import { LimitExceededError, PayloadError } from './errors.js';
import { resolveLimits } from './limits.js';

export const FORMAT_VERSION = 1;
export const MAX_SCALE = 16;
export const CHECKSUM_BYTES = 4;
export const MAX_TAG = 0xffffffff;
export const MAX_SIDE = 0xffffffff;
export const MIN_PAYLOAD_BYTES = 6 + 3 + 1 + CHECKSUM_BYTES;
export const MAX_EXTENSION_DEPTH = 8;
/** Inner codec wire ids (sr_codec/inner.py). */
export const INNER_CODECS = Object.freeze({ 0: 'avif', 1: 'webp', 2: 'jpeg', 3: 'png' });

class OutOfData extends Error {}

/**
 * One msgpack object header at `pos`: {kind, value?, start?, end, count?}.
 * kinds: int, nil, bool, float, bin, str, array, map, ext. Lengths are checked against `end`.
 * @param {DataView} view @param {number} pos @param {number} limit
 */
function readHeader(view, pos, limit) {
  const need = (n) => {
    if (pos + n > limit) throw new OutOfData();
  };
  need(1);
  const b = view.getUint8(pos);
  const sized = (kind, headerBytes, length) => {
    const start = pos + headerBytes;
    if (kind === 'bin' || kind === 'str' || kind === 'ext') {
      if (length > limit - start) {
        // Python's Unpacker: over max_*_len is a ValueError, within it but past the data OutOfData; both PayloadError.
        throw new OutOfData();
      }
      return { kind, start, end: start + length };
    }
    return { kind, count: length, end: start };
  };
  if (b <= 0x7f) return { kind: 'int', value: b, end: pos + 1 };
  if (b >= 0xe0) return { kind: 'int', value: b - 0x100, end: pos + 1 };
  if (b >= 0x80 && b <= 0x8f) return sized('map', 1, b & 0x0f);
  if (b >= 0x90 && b <= 0x9f) return sized('array', 1, b & 0x0f);
  if (b >= 0xa0 && b <= 0xbf) return sized('str', 1, b & 0x1f);
  switch (b) {
    case 0xc0: return { kind: 'nil', value: null, end: pos + 1 };
    case 0xc2: case 0xc3: return { kind: 'bool', value: b === 0xc3, end: pos + 1 };
    case 0xc4: need(2); return sized('bin', 2, view.getUint8(pos + 1));
    case 0xc5: need(3); return sized('bin', 3, view.getUint16(pos + 1));
    case 0xc6: need(5); return sized('bin', 5, view.getUint32(pos + 1));
    case 0xc7: need(3); return sized('ext', 3, view.getUint8(pos + 1) + 1);
    case 0xc8: need(4); return sized('ext', 4, view.getUint16(pos + 1) + 1);
    case 0xc9: need(6); return sized('ext', 6, view.getUint32(pos + 1) + 1);
    case 0xca: need(5); return { kind: 'float', end: pos + 5 };
    case 0xcb: need(9); return { kind: 'float', end: pos + 9 };
    case 0xcc: need(2); return { kind: 'int', value: view.getUint8(pos + 1), end: pos + 2 };
    case 0xcd: need(3); return { kind: 'int', value: view.getUint16(pos + 1), end: pos + 3 };
    case 0xce: need(5); return { kind: 'int', value: view.getUint32(pos + 1), end: pos + 5 };
    case 0xcf: need(9); return { kind: 'int', value: Number(view.getBigUint64(pos + 1)), end: pos + 9 };
    case 0xd0: need(2); return { kind: 'int', value: view.getInt8(pos + 1), end: pos + 2 };
    case 0xd1: need(3); return { kind: 'int', value: view.getInt16(pos + 1), end: pos + 3 };
    case 0xd2: need(5); return { kind: 'int', value: view.getInt32(pos + 1), end: pos + 5 };
    case 0xd3: need(9); return { kind: 'int', value: Number(view.getBigInt64(pos + 1)), end: pos + 9 };
    case 0xd4: return sized('ext', 1, 2);
    case 0xd5: return sized('ext', 1, 3);
    case 0xd6: return sized('ext', 1, 5);
    case 0xd7: return sized('ext', 1, 9);
    case 0xd8: return sized('ext', 1, 17);
    case 0xd9: need(2); return sized('str', 2, view.getUint8(pos + 1));
    case 0xda: need(3); return sized('str', 3, view.getUint16(pos + 1));
    case 0xdb: need(5); return sized('str', 5, view.getUint32(pos + 1));
    case 0xdc: need(3); return sized('array', 3, view.getUint16(pos + 1));
    case 0xdd: need(5); return sized('array', 5, view.getUint32(pos + 1));
    case 0xde: need(3); return sized('map', 3, view.getUint16(pos + 1));
    case 0xdf: need(5); return sized('map', 5, view.getUint32(pos + 1));
    default: throw new PayloadError(`invalid msgpack type byte 0x${b.toString(16)}`); // 0xc1, never used
  }
}

/** A field value: int, null, or a Uint8Array view for bin; anything else is refused like Python's strict unpacker. */
function readField(bytes, view, pos, limit, name) {
  let header;
  try {
    header = readHeader(view, pos, limit);
  } catch (error) {
    if (error instanceof OutOfData) {
      throw new PayloadError(`truncated payload: field '${name}' is missing or runs past the end`);
    }
    throw new PayloadError(`payload field '${name}' is malformed: ${error.message}`);
  }
  switch (header.kind) {
    case 'int': case 'nil': return { value: header.value, end: header.end, kind: header.kind };
    case 'bin': return { value: bytes.subarray(header.start, header.end), end: header.end, kind: 'bin' };
    case 'bool': return { value: header.value, end: header.end, kind: 'bool' };
    case 'float': return { value: NaN, end: header.end, kind: 'float' };
    default: // Python: max_str_len = max_array_len = max_map_len = max_ext_len = 0
      if ((header.kind === 'str' || header.kind === 'array' || header.kind === 'map') && header.end === header.start) {
        return { value: undefined, end: header.end, kind: header.kind }; // empty: parses, then fails the type check
      }
      throw new PayloadError(`payload field '${name}' is malformed: ${header.kind} is not allowed`);
  }
}

const isInt = (field) => field.kind === 'int';

function describe(field) {
  if (field.kind === 'bin') return `bytes of length ${field.value.length}`;
  if (field.kind === 'int') return String(field.value);
  if (field.kind === 'nil') return 'None';
  return field.kind;
}

/**
 * Parse and verify v1 bytes: size limit, version, CRC-32, then every field strictly.
 * @param {Uint8Array | ArrayBuffer} data
 * @param {import('./limits.js').Limits} [limits]
 */
export function unpack(data, limits) {
  limits = resolveLimits(limits);
  let bytes;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else throw new PayloadError(`a payload must be bytes, got ${data === null ? 'null' : typeof data}`);
  limits.checkPayloadBytes(bytes.length);
  if (bytes.length === 0) throw new PayloadError('empty payload');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const notPayload = 'not an sr_codec payload (it does not start with a format version number)';
  let version;
  try {
    version = readField(bytes, view, 0, bytes.length, 'version');
  } catch (error) {
    throw new PayloadError(notPayload, { cause: error });
  }
  if (!isInt(version)) throw new PayloadError(notPayload);
  if (version.value !== FORMAT_VERSION) {
    throw new PayloadError(
      `unsupported payload format version ${version.value}: this sr_codec reads version ${FORMAT_VERSION} ` +
        '(the payload was written by a newer sr_codec, or it is corrupt)',
    );
  }
  if (bytes.length < MIN_PAYLOAD_BYTES) {
    throw new PayloadError(`truncated payload: ${bytes.length} bytes, a v1 payload has at least ${MIN_PAYLOAD_BYTES}`);
  }
  const bodyEnd = bytes.length - CHECKSUM_BYTES;
  if (crc32(bytes.subarray(0, bodyEnd)) !== view.getUint32(bodyEnd)) {
    throw new PayloadError('payload checksum mismatch: the payload is corrupted or truncated');
  }

  let pos = version.end;
  const fields = {};
  for (const name of ['width', 'height', 'scale', 'inner codec', 'model tag', 'inner bitstream', 'alpha']) {
    const field = readField(bytes, view, pos, bodyEnd, name);
    fields[name] = field;
    pos = field.end;
  }
  let extensions = null;
  if (pos !== bodyEnd) extensions = checkExtensions(bytes, view, pos, bodyEnd, limits);
  for (const [name, field] of [['inner bitstream', fields['inner bitstream']], ['alpha plane', fields.alpha]]) {
    if (field.kind === 'bin' && field.value.length > limits.maxInnerBytes) {
      throw new LimitExceededError(`${name} is ${field.value.length} bytes; the limit is ${limits.maxInnerBytes}`);
    }
  }
  for (const [name, low, high] of [['width', 1, MAX_SIDE], ['height', 1, MAX_SIDE], ['scale', 1, MAX_SCALE], ['model tag', 0, MAX_TAG]]) {
    const field = fields[name];
    if (!isInt(field) || !(field.value >= low && field.value <= high)) {
      throw new PayloadError(`payload field '${name}' must be an integer in ${low}..${high}, got ${describe(field)}`);
    }
  }
  const codec = fields['inner codec'];
  if (!isInt(codec) || !(codec.value in INNER_CODECS)) {
    throw new PayloadError(`payload field 'inner codec' must be one of [0, 1, 2, 3], got ${describe(codec)}`);
  }
  const inner = fields['inner bitstream'];
  if (inner.kind !== 'bin' || inner.value.length === 0) {
    throw new PayloadError(`payload field 'inner bitstream' must be non-empty bytes, got ${describe(inner)}`);
  }
  const alpha = fields.alpha;
  const alphaOk = alpha.kind === 'nil' || (isInt(alpha) && alpha.value >= 0 && alpha.value <= 255) ||
    (alpha.kind === 'bin' && alpha.value.length > 0);
  if (!alphaOk) {
    throw new PayloadError(`payload field 'alpha' must be nil, an integer 0..255 or non-empty bytes, got ${describe(alpha)}`);
  }
  return {
    width: fields.width.value,
    height: fields.height.value,
    scale: fields.scale.value,
    innerCodec: codec.value,
    modelTag: fields['model tag'].value,
    inner: inner.value,
    alpha: alpha.value,
    extensions,
  };
}

/**
 * The bytes after the alpha field: exactly one map whose keys are non-negative integers, no key twice,
 * no odd (required) key (v1 knows none), nested at most MAX_EXTENSION_DEPTH deep, no ext values.
 * Returns the map decoded by @msgpack/msgpack (informational; v1 ignores every even field).
 */
function checkExtensions(bytes, view, start, end, limits) {
  const b = bytes[start];
  if (!((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) {
    throw new PayloadError(`payload has ${end - start} unexpected bytes after its last field`);
  }
  if (end - start > limits.maxExtensionBytes) {
    throw new LimitExceededError(`extension fields are ${end - start} bytes; the limit is ${limits.maxExtensionBytes}`);
  }
  const keys = [];
  let pos;
  try {
    pos = walk(view, start, end, 1, keys);
  } catch (error) {
    if (error instanceof PayloadError) throw error;
    throw new PayloadError("truncated payload: field 'extensions' is missing or runs past the end");
  }
  if (pos !== end) throw new PayloadError(`payload has ${end - pos} unexpected bytes after its extension fields`);
  const seen = new Set();
  for (const key of keys) {
    if (key.kind !== 'int' || key.value < 0) {
      throw new PayloadError(`extension keys must be non-negative integers, got ${describe(key)}`);
    }
    if (seen.has(key.value)) throw new PayloadError(`extension field ${key.value} appears twice`);
    seen.add(key.value);
    if (key.value % 2 === 1) {
      throw new PayloadError(
        `payload has required extension field ${key.value}, which this sr_codec does not know ` +
          '(the payload was written by a newer sr_codec, or it is corrupt)',
      );
    }
  }
  try {
    return msgpackDecode(bytes.subarray(start, end), {
      rawStrings: true,
      maxStrLength: end - start, maxBinLength: end - start, maxArrayLength: end - start, maxMapLength: end - start,
      mapKeyConverter: (key) => (typeof key === 'number' || typeof key === 'string' ? key : String(key)),
    });
  } catch {
    return null; // well-formed by the walk above; a value @msgpack/msgpack cannot represent is simply not reported
  }
}

/**
 * Skip one msgpack object at `pos` (bounded by `end`), refusing ext and nesting deeper than the limit.
 * Collects the top-level map's keys (depth 1) into `keys`. Returns the position after the object.
 */
function walk(view, pos, end, depth, keys) {
  const header = readHeader(view, pos, end);
  if (header.kind === 'ext') throw new PayloadError("payload field 'extensions' is malformed: ext types are not allowed");
  if (header.kind !== 'array' && header.kind !== 'map') return header.end;
  if (depth > MAX_EXTENSION_DEPTH) {
    throw new PayloadError(`extension fields are nested more than ${MAX_EXTENSION_DEPTH} levels deep`);
  }
  const items = header.kind === 'map' ? 2 * header.count : header.count;
  if (items > end - header.end) throw new OutOfData(); // every item takes at least one byte
  pos = header.end;
  for (let i = 0; i < items; i++) {
    if (depth === 1 && header.kind === 'map' && i % 2 === 0 && keys) {
      const key = readHeader(view, pos, end);
      keys.push(key.kind === 'int' ? key : { kind: key.kind });
    }
    pos = walk(view, pos, end, depth + 1, null);
  }
  return pos;
}

// ------------------------------------------------------------------------------------------- writer

function packUint(out, value) {
  if (!Number.isSafeInteger(value) || value < 0) throw new PayloadError(`field value ${value} is not an unsigned integer`);
  if (value < 0x80) out.push(value);
  else if (value < 0x100) out.push(0xcc, value);
  else if (value < 0x10000) out.push(0xcd, value >>> 8, value & 0xff);
  else if (value < 0x100000000) out.push(0xce, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  else throw new PayloadError(`field value ${value} does not fit a v1 payload`);
}

function binHeader(length) {
  if (length < 0x100) return [0xc4, length];
  if (length < 0x10000) return [0xc5, length >>> 8, length & 0xff];
  return [0xc6, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff];
}

/**
 * The payload bytes of `fields`, as `sr_codec.format.payload.pack` writes them: fields 0-7 in msgpack's
 * shortest encoding (what `msgpack.packb` writes), no extension map, then the big-endian CRC-32.
 * @param {{width: number, height: number, scale: number, codecId: number, modelTag: number,
 *          bitstream: Uint8Array, alpha: null | number | Uint8Array}} fields
 * @returns {Uint8Array}
 */
export function pack({ width, height, scale, codecId, modelTag, bitstream, alpha }) {
  if (!(bitstream instanceof Uint8Array) || bitstream.length < 1) throw new PayloadError('inner bitstream must be non-empty bytes');
  if (!Number.isInteger(scale) || scale < 1 || scale > MAX_SCALE) throw new PayloadError(`scale ${scale} out of range 1..${MAX_SCALE}`);
  if (!(codecId in INNER_CODECS)) throw new PayloadError(`unknown inner codec id ${codecId}`);
  if (!(width >= 1 && height >= 1)) throw new PayloadError(`size ${width} x ${height} is empty`);
  const head = [];
  for (const value of [FORMAT_VERSION, width, height, scale, codecId, modelTag]) packUint(head, value);
  head.push(...binHeader(bitstream.length));
  const tail = [];
  let alphaBin = null;
  if (alpha === null || alpha === undefined) tail.push(0xc0);
  else if (typeof alpha === 'number') {
    if (!Number.isInteger(alpha) || alpha < 0 || alpha > 255) throw new PayloadError(`alpha ${alpha} out of range 0..255`);
    packUint(tail, alpha);
  } else {
    alphaBin = alpha;
    tail.push(...binHeader(alpha.length));
  }
  const length = head.length + bitstream.length + tail.length + (alphaBin ? alphaBin.length : 0);
  const out = new Uint8Array(length + CHECKSUM_BYTES);
  out.set(head, 0);
  out.set(bitstream, head.length);
  out.set(tail, head.length + bitstream.length);
  if (alphaBin) out.set(alphaBin, head.length + bitstream.length + tail.length);
  const crc = crc32(out.subarray(0, length));
  out[length] = crc >>> 24;
  out[length + 1] = (crc >>> 16) & 0xff;
  out[length + 2] = (crc >>> 8) & 0xff;
  out[length + 3] = crc & 0xff;
  return out;
}
