/**
 * The sender's input, like `sr_codec.imaging.normalise.load_image`: whatever the page hands the encoder
 * (an ImageData, an ImageBitmap, a Blob or a File) becomes upright 8-bit sRGB pixels plus an optional
 * alpha plane, and nothing else (no EXIF, GPS, ICC...).
 *
 * Files are checked before anything image-sized is allocated: 0 bytes, a format that is not JPEG, PNG,
 * WebP, AVIF, GIF or BMP (TIFF and HEIC: browsers cannot decode them) and a truncated JPEG/PNG/WebP are
 * `InputImageError`s; the width x height the header declares is checked against `limits.maxPixels`
 * (`LimitExceededError`) before the browser decodes a pixel. Then the browser's own decoder applies the
 * EXIF orientation (`imageOrientation: 'from-image'`) and converts an embedded ICC profile to sRGB
 * (`colorSpaceConversion: 'default'`). Alpha: as in Python, a file with an alpha channel or any
 * transparency (PNG colour types 4/6 or tRNS, WebP with alpha, GIF with a transparent index) keeps an
 * alpha plane even when every pixel is opaque. An ImageData or ImageBitmap has no such flag: it keeps
 * alpha when a pixel is not opaque. Animated GIF / WebP / PNG: the first frame, and a warning that says
 * how many frames were dropped (Python's `AnimatedImageWarning`).
 *
 * Known difference from Pillow: the canvas stores premultiplied alpha, so the colour of a
 * *semi-transparent* pixel of a file can differ from Pillow's by a rounding (opaque pixels are exact;
 * an ImageData input is exact everywhere).
 */

import { InputImageError, LimitExceededError } from './errors.js';
import { avifFileSize } from './avif.js';

const u16be = (d, p) => (d[p] << 8) | d[p + 1];
const u16le = (d, p) => d[p] | (d[p + 1] << 8);
const u24le = (d, p) => d[p] | (d[p + 1] << 8) | (d[p + 2] << 16);
const u32be = (d, p) => ((d[p] << 24) >>> 0) + (d[p + 1] << 16) + (d[p + 2] << 8) + d[p + 3];
const u32le = (d, p) => (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16)) + ((d[p + 3] << 24) >>> 0);
const ascii = (d, p, n) => String.fromCharCode(...d.subarray(p, p + n));
const SUPPORTED = 'JPEG, PNG, WEBP, AVIF, GIF, BMP';

/**
 * @typedef {object} Header
 * @property {string} format
 * @property {number} width
 * @property {number} height
 * @property {boolean} alpha the file declares an alpha channel or transparency
 * @property {number} frames frames or pages (1 for a still image)
 */

function bad(message) {
  return new InputImageError(`image bytes ${message}`);
}

function jpegHeader(d) {
  let pos = 2;
  let size = null;
  while (pos + 4 <= d.length) {
    if (d[pos] !== 0xff) throw bad('is a corrupt JPEG (bad marker)');
    const marker = d[pos + 1];
    if (marker === 0xff) { pos += 1; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { pos += 2; continue; }
    const length = u16be(d, pos + 2);
    if (length < 2 || pos + 2 + length > d.length) throw bad('is a truncated JPEG');
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof && length >= 7) size = { height: u16be(d, pos + 5), width: u16be(d, pos + 7) };
    if (marker === 0xda) { // start of scan: the entropy-coded data must end in an EOI marker (FF D9)
      if (!size) throw bad('is a corrupt JPEG (no frame header before the scan)');
      let eoi = false;
      for (let i = pos + 2 + length; i + 1 < d.length; i++) {
        if (d[i] === 0xff && d[i + 1] === 0xd9) { eoi = true; break; }
      }
      if (!eoi) throw bad('is a truncated JPEG (no end-of-image marker): image file is truncated');
      return { format: 'JPEG', ...size, alpha: false, frames: 1 };
    }
    pos += 2 + length;
  }
  throw bad('is a truncated JPEG');
}

function pngHeader(d) {
  if (d.length < 33 || ascii(d, 12, 4) !== 'IHDR') throw bad('is a truncated PNG');
  const header = { format: 'PNG', width: u32be(d, 16), height: u32be(d, 20), alpha: d[25] === 4 || d[25] === 6, frames: 1 };
  let pos = 8;
  let iend = false;
  while (pos + 12 <= d.length) {
    const length = u32be(d, pos);
    const type = ascii(d, pos + 4, 4);
    if (pos + 12 + length > d.length) break;
    if (type === 'tRNS') header.alpha = true;
    if (type === 'acTL' && length >= 8) header.frames = Math.max(1, u32be(d, pos + 8));
    if (type === 'IEND') { iend = true; break; }
    pos += 12 + length;
  }
  if (!iend) throw bad('is a truncated PNG (no IEND chunk): image file is truncated');
  return header;
}

function gifHeader(d) {
  if (d.length < 13) throw bad('is a truncated GIF');
  const header = { format: 'GIF', width: u16le(d, 6), height: u16le(d, 8), alpha: false, frames: 0 };
  let pos = 13;
  if (d[10] & 0x80) pos += 3 * (2 << (d[10] & 7));
  const skipBlocks = () => {
    while (pos < d.length && d[pos] !== 0) pos += d[pos] + 1;
    pos += 1;
  };
  while (pos < d.length) {
    const kind = d[pos];
    if (kind === 0x3b) break;
    if (kind === 0x21) {
      // the first frame's graphic control extension decides, as Pillow reads the first frame
      if (header.frames === 0 && d[pos + 1] === 0xf9 && pos + 3 < d.length && (d[pos + 3] & 1)) header.alpha = true;
      pos += 2;
      skipBlocks();
    } else if (kind === 0x2c) {
      header.frames += 1;
      const flags = d[pos + 9];
      pos += 10;
      if (flags & 0x80) pos += 3 * (2 << (flags & 7));
      pos += 1; // LZW minimum code size
      skipBlocks();
    } else {
      break;
    }
  }
  if (header.frames === 0) throw bad('is a truncated GIF (no image)');
  return header;
}

function webpHeader(d) {
  if (d.length < 30) throw bad('is a truncated WebP');
  if (u32le(d, 4) + 8 > d.length) throw bad('is a truncated WebP: image file is truncated');
  const chunk = ascii(d, 12, 4);
  if (chunk === 'VP8X') {
    const header = { format: 'WEBP', width: 1 + u24le(d, 24), height: 1 + u24le(d, 27), alpha: Boolean(d[20] & 0x10), frames: 1 };
    if (d[20] & 0x02) { // animated: count the ANMF chunks
      let frames = 0;
      for (let pos = 30 + (u32le(d, 16) - 10); pos + 8 <= d.length; pos += 8 + u32le(d, pos + 4) + (u32le(d, pos + 4) & 1)) {
        if (ascii(d, pos, 4) === 'ANMF') frames += 1;
      }
      header.frames = Math.max(1, frames);
    }
    return header;
  }
  if (chunk === 'VP8L') {
    const bits = u32le(d, 21);
    return { format: 'WEBP', width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff), alpha: Boolean((bits >>> 28) & 1), frames: 1 };
  }
  if (chunk === 'VP8 ') {
    return { format: 'WEBP', width: u16le(d, 26) & 0x3fff, height: u16le(d, 28) & 0x3fff, alpha: false, frames: 1 };
  }
  throw bad('is a corrupt WebP');
}

function bmpHeader(d) {
  if (d.length < 26) throw bad('is a truncated BMP');
  const headerSize = u32le(d, 14);
  if (headerSize === 12) return { format: 'BMP', width: u16le(d, 18), height: u16le(d, 20), alpha: false, frames: 1 };
  const height = u32le(d, 22) | 0;
  return { format: 'BMP', width: u32le(d, 18) | 0, height: Math.abs(height), alpha: u16le(d, 28) === 32, frames: 1 };
}

function avifHeader(d) {
  let height;
  let width;
  try {
    [height, width] = avifFileSize(d);
  } catch (error) {
    throw bad(`is not a readable AVIF file: ${error.message}`);
  }
  const text = new TextDecoder('latin1').decode(d.subarray(0, Math.min(d.length, 4096)));
  return { format: 'AVIF', width, height, alpha: text.includes('auxiliary:alpha'), frames: ascii(d, 8, 4) === 'avis' ? 2 : 1 };
}

/**
 * What the file's header declares, read without decoding a pixel; an InputImageError when it is not one of
 * the accepted formats or is truncated.
 * @param {Uint8Array} d @returns {Header}
 */
export function readHeader(d) {
  if (d.length === 0) throw new InputImageError('image bytes are empty');
  if (d[0] === 0xff && d[1] === 0xd8 && d[2] === 0xff) return jpegHeader(d);
  if (d.length >= 8 && u32be(d, 0) === 0x89504e47 && u32be(d, 4) === 0x0d0a1a0a) return pngHeader(d);
  if (ascii(d, 0, 6) === 'GIF87a' || ascii(d, 0, 6) === 'GIF89a') return gifHeader(d);
  if (ascii(d, 0, 4) === 'RIFF' && ascii(d, 8, 4) === 'WEBP') return webpHeader(d);
  if (ascii(d, 0, 2) === 'BM') return bmpHeader(d);
  if (ascii(d, 4, 4) === 'ftyp' && ['avif', 'avis', 'mif1'].includes(ascii(d, 8, 4))) return avifHeader(d);
  if (ascii(d, 0, 4) === 'II*\0' || ascii(d, 0, 4) === 'MM\0*') {
    throw new InputImageError('image bytes are a TIFF, which browsers cannot decode: send it as JPEG, PNG or WebP');
  }
  if (ascii(d, 4, 4) === 'ftyp') {
    throw new InputImageError('image bytes are HEIC/HEIF, which this browser cannot decode: send it as JPEG, PNG or WebP');
  }
  throw new InputImageError(`image bytes is not a supported image (${SUPPORTED}) or is corrupt`);
}

function checkPixels(width, height, limits, what) {
  if (!(width > 0 && height > 0)) throw new InputImageError(`${what} has no pixels (${width} x ${height})`);
  if (width * height > limits.maxPixels) {
    throw new LimitExceededError(
      `${what} is ${width} x ${height} = ${(width * height).toLocaleString('en')} pixels, more than maxPixels=${limits.maxPixels.toLocaleString('en')}`,
    );
  }
}

function pixelsOf(source, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true });
  context.drawImage(source, 0, 0);
  return context.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
}

/** Split RGBA into RGB and an alpha plane (null when `keepAlpha` is false). */
function split(rgba, width, height, keepAlpha) {
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const alpha = keepAlpha ? new Uint8Array(n) : null;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    rgb[3 * i] = rgba[j];
    rgb[3 * i + 1] = rgba[j + 1];
    rgb[3 * i + 2] = rgba[j + 2];
    if (alpha) alpha[i] = rgba[j + 3];
  }
  return { rgb, alpha };
}

function anyTransparent(rgba) {
  for (let j = 3; j < rgba.length; j += 4) if (rgba[j] !== 255) return true;
  return false;
}

/**
 * @typedef {object} NormalisedImage
 * @property {number} width
 * @property {number} height
 * @property {Uint8Array} rgb interleaved height x width x 3, sRGB
 * @property {Uint8Array | null} alpha height x width, or null for an RGB image
 * @property {number} frames frames the source had (only the first is coded)
 * @property {string[]} warnings
 */

/**
 * @param {ImageData | ImageBitmap | Blob} input
 * @param {import('./limits.js').Limits} limits
 * @returns {Promise<NormalisedImage>}
 */
export async function readImage(input, limits) {
  const maxPixels = limits ?? { maxPixels: 50_000_000 };
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    checkPixels(input.width, input.height, maxPixels, 'ImageData');
    const { rgb, alpha } = split(input.data, input.width, input.height, anyTransparent(input.data));
    return { width: input.width, height: input.height, rgb, alpha, frames: 1, warnings: [] };
  }
  if (typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap) {
    checkPixels(input.width, input.height, maxPixels, 'ImageBitmap');
    const rgba = pixelsOf(input, input.width, input.height);
    const { rgb, alpha } = split(rgba, input.width, input.height, anyTransparent(rgba));
    return { width: input.width, height: input.height, rgb, alpha, frames: 1, warnings: [] };
  }
  if (!(typeof Blob !== 'undefined' && input instanceof Blob)) {
    throw new InputImageError(
      `unsupported input of type ${input?.constructor?.name ?? typeof input}: expected an ImageData, ImageBitmap, Blob or File`,
    );
  }
  const what = typeof File !== 'undefined' && input instanceof File && input.name ? `image file '${input.name}'` : 'image bytes';
  if (input.size === 0) throw new InputImageError(`${what} ${what === 'image bytes' ? 'are' : 'is'} empty`);
  const bytes = new Uint8Array(await input.arrayBuffer());
  const header = readHeader(bytes);
  checkPixels(header.width, header.height, maxPixels, what);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), {
      imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default',
    });
  } catch (error) {
    throw new InputImageError(`${what} cannot be decoded (${header.format}): ${error.message}`, { cause: error });
  }
  try {
    const { width, height } = bitmap;
    if (width * height !== header.width * header.height) {
      throw new InputImageError(`${what} decoded to ${width} x ${height}, its header says ${header.width} x ${header.height}`);
    }
    const rgba = pixelsOf(bitmap, width, height);
    const { rgb, alpha } = split(rgba, width, height, header.alpha || anyTransparent(rgba));
    const warnings = header.frames > 1
      ? [`the image has ${header.frames} frames; sr_codec codes the first frame only (a payload holds one still image)`]
      : [];
    return { width, height, rgb, alpha, frames: header.frames, warnings };
  } finally {
    bitmap.close();
  }
}
