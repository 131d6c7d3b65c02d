/**
 * Inner images: the size each bitstream's header declares (read before any pixel is decoded), and
 * the decode itself with the browser's own decoders (createImageBitmap: dav1d for AVIF, libwebp,
 * libjpeg-turbo, the PNG decoder), read back through a 2D canvas without colour conversion.
 */

import { avifFileSize, buildAvif, parseSequenceHeader } from './avif.js';
import { PayloadError } from './errors.js';

const MIME = { avif: 'image/avif', webp: 'image/webp', jpeg: 'image/jpeg', png: 'image/png' };

const u16be = (d, p) => (d[p] << 8) | d[p + 1];
const u16le = (d, p) => d[p] | (d[p + 1] << 8);
const u24le = (d, p) => d[p] | (d[p + 1] << 8) | (d[p + 2] << 16);
const u32be = (d, p) => ((d[p] << 24) >>> 0) + (d[p + 1] << 16) + (d[p + 2] << 8) + d[p + 3];
const startsWith = (d, bytes, at = 0) => bytes.every((b, i) => d[at + i] === b);
const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));

function webpSize(d) {
  if (d.length < 30 || !startsWith(d, ascii('RIFF')) || !startsWith(d, ascii('WEBP'), 8)) throw new Error('not a WebP file');
  const chunk = String.fromCharCode(...d.subarray(12, 16));
  if (chunk === 'VP8 ') {
    if (!startsWith(d, [0x9d, 0x01, 0x2a], 23)) throw new Error('bad VP8 start code');
    return [u16le(d, 28) & 0x3fff, u16le(d, 26) & 0x3fff];
  }
  if (chunk === 'VP8L') {
    if (d[20] !== 0x2f) throw new Error('bad VP8L signature');
    const bits = d[21] | (d[22] << 8) | (d[23] << 16) | (d[24] << 24);
    return [((bits >>> 14) & 0x3fff) + 1, (bits & 0x3fff) + 1];
  }
  if (chunk === 'VP8X') return [u24le(d, 27) + 1, u24le(d, 24) + 1];
  throw new Error(`unknown WebP chunk ${JSON.stringify(chunk)}`);
}

function jpegSize(d) {
  if (d[0] !== 0xff || d[1] !== 0xd8) throw new Error('not a JPEG file');
  let pos = 2;
  while (pos + 4 <= d.length) {
    if (d[pos] !== 0xff) throw new Error('JPEG marker expected');
    const marker = d[pos + 1];
    if (marker === 0xff) { pos += 1; continue; }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; }
    const length = u16be(d, pos + 2);
    if (length < 2) throw new Error('bad JPEG segment length');
    const isSof = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isSof) {
      if (pos + 9 > d.length) break;
      return [u16be(d, pos + 5), u16be(d, pos + 7)];
    }
    if (marker === 0xd9 || marker === 0xda) break;
    pos += 2 + length;
  }
  throw new Error('JPEG has no frame header');
}

function pngSize(d) {
  if (d.length < 24 || !startsWith(d, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) || !startsWith(d, ascii('IHDR'), 12)) {
    throw new Error('not a PNG file');
  }
  return [u32be(d, 20), u32be(d, 16)];
}

/** True for a complete AVIF file in the payload (sr_codec's fallback form), false for a bare AV1 bitstream. */
const isFullAvif = (data) => data.length > 0 && data[0] === 0;

/**
 * (height, width) the bitstream of `codec` ('avif' | 'webp' | 'jpeg' | 'png') declares; PayloadError if unreadable.
 * @param {string} codec @param {Uint8Array} data @returns {[number, number]}
 */
export function readSize(codec, data) {
  try {
    if (codec === 'avif') {
      if (isFullAvif(data)) return avifFileSize(data);
      const seq = parseSequenceHeader(data);
      return [seq.height, seq.width];
    }
    if (codec === 'webp') return webpSize(data);
    if (codec === 'jpeg') return jpegSize(data);
    if (codec === 'png') return pngSize(data);
  } catch (error) {
    if (error instanceof PayloadError) throw error;
    throw new PayloadError(`inner ${codec} bitstream header cannot be read: ${error.message}`, { cause: error });
  }
  throw new PayloadError(`unknown inner codec ${codec}`);
}

/** The codec of a coded alpha plane (lossless WebP, or PNG for sides over 16383), by its magic bytes. */
export function alphaCodec(data) {
  if (startsWith(data, ascii('RIFF')) && startsWith(data, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(data, [0x89, 0x50, 0x4e, 0x47])) return 'png';
  throw new PayloadError('alpha plane cannot be decoded: it is neither WebP nor PNG');
}

/**
 * Decode with the browser: RGBA pixels (Uint8ClampedArray, height x width x 4).
 * @param {string} codec @param {Uint8Array} data
 */
export async function decodePixels(codec, data) {
  const file = codec === 'avif' && !isFullAvif(data) ? buildAvif(data) : data;
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([file], { type: MIME[codec] }), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch (error) {
    throw new PayloadError(`inner ${codec} bitstream cannot be decoded: ${error.message}`, { cause: error });
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
    context.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, rgba: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
  } finally {
    bitmap.close();
  }
}
