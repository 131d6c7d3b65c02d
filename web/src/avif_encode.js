/**
 * The inner AVIF encode of the sender, like `sr_codec.codecs.avif.AvifCodec.encode`: libavif + libaom in
 * WebAssembly (`@jsquash/avif`, served from node_modules, never a CDN), 4:2:0, the libavif speed picked by the
 * low-res pixel count with the same table as Python (`avif_speed_for`; tests/test_web_encoder.py compares
 * the two), and the container stripped: the payload carries the bare AV1 bitstream when `buildAvif` rebuilds
 * the file byte for byte, else the whole file (the wire form Python also falls back to).
 */

import { InputImageError } from './errors.js';
import { buildAvif } from './avif.js';

/** (largest low-res pixel count, libavif speed); above the last entry AVIF_LARGE_IMAGE_SPEED. Python: codecs/avif.py. */
export const AVIF_SPEED_BY_PIXELS = Object.freeze([[16_384, 6], [32_768, 7], [65_536, 8]]);
export const AVIF_LARGE_IMAGE_SPEED = 9;
/** Pillow's default libavif speed: what a plain .avif file (and scale 1, the rate-control anchor) is coded with. */
export const PILLOW_AVIF_SPEED = 6;
export const DEFAULT_AVIF_QUALITY = 50;

export function avifSpeedFor(height, width) {
  for (const [maxPixels, speed] of AVIF_SPEED_BY_PIXELS) if (height * width <= maxPixels) return speed;
  return AVIF_LARGE_IMAGE_SPEED;
}

let modulePromise = null;
let threaded = false;

/**
 * Use libavif's threaded build (`true`) or the single-threaded one (`false`, the default: on small
 * thumbnails the threaded build spends more time starting its threads than coding; measured in docs/web.md).
 * Takes effect before the first encode.
 */
export function setAvifThreads(value) {
  threaded = Boolean(value);
}

/** Load the libavif encoder once (the Emscripten module, quiet: nothing goes to the console). */
export function loadAvifEncoder() {
  if (!modulePromise) {
    const useThreads = threaded && Boolean(globalThis.crossOriginIsolated);
    const source = useThreads ? import('@jsquash/avif/codec/enc/avif_enc_mt.js') : import('@jsquash/avif/codec/enc/avif_enc.js');
    modulePromise = source
      .then((m) => m.default({ noInitialRun: true, print: () => {}, printErr: () => {} }))
      .then((module) => (data, width, height, options) => {
        const out = module.encode(data, width, height, options);
        if (!out) throw new Error('libavif could not encode the image');
        return out;
      })
      .catch((error) => {
        modulePromise = null;
        throw new InputImageError(`cannot load the AVIF encoder (@jsquash/avif): ${error.message}`, { cause: error });
      });
  }
  return modulePromise;
}

/**
 * A complete AVIF file of interleaved RGB (uint8, height x width x 3), as Pillow's
 * `Image.save(f, "AVIF", quality=q, speed=s, subsampling="4:2:0")` writes it.
 */
export async function encodeAvifFile(rgb, height, width, quality, speed) {
  if (!Number.isInteger(quality) || quality < 0 || quality > 100) {
    throw new InputImageError(`quality must be in 0..100, got ${quality}`);
  }
  const encode = await loadAvifEncoder();
  const rgba = new Uint8Array(height * width * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i]; rgba[j + 1] = rgb[i + 1]; rgba[j + 2] = rgb[i + 2]; rgba[j + 3] = 255;
  }
  // subsample 1 = 4:2:0; tune 1 = libaom's default (PSNR) tuning, as Pillow leaves it (jSquash's "auto" picks SSIM at q >= 50).
  const out = encode(new Uint8Array(rgba.buffer), width, height, {
    quality, speed, subsample: 1, tune: 1, qualityAlpha: -1, denoiseLevel: 0, sharpness: 0,
    tileRowsLog2: 0, tileColsLog2: 0, chromaDeltaQ: false, enableSharpYUV: false, bitDepth: 8, lossless: false,
  });
  return new Uint8Array(out);
}

function u32(data, pos) {
  return ((data[pos] << 24) >>> 0) + (data[pos + 1] << 16) + (data[pos + 2] << 8) + data[pos + 3];
}

/** The item payload of a single-image AVIF file's `mdat`, without the leading temporal delimiter; null if absent. */
export function av1FromAvifFile(file) {
  let pos = 0;
  while (pos + 8 <= file.length) {
    const size = u32(file, pos);
    const type = String.fromCharCode(...file.subarray(pos + 4, pos + 8));
    if (size < 8 || pos + size > file.length) return null;
    if (type === 'mdat') {
      let body = file.subarray(pos + 8, pos + size);
      if (body[0] === 0x12 && body[1] === 0x00) body = body.subarray(2);
      return body.slice();
    }
    pos += size;
  }
  return null;
}

/** What `AvifCodec.encode` returns: the bare AV1 bitstream, or the whole file when the container would not rebuild exactly. */
export async function encodeAvif(rgb, height, width, quality = DEFAULT_AVIF_QUALITY, speed = null) {
  const file = await encodeAvifFile(rgb, height, width, quality, speed ?? avifSpeedFor(height, width));
  const bitstream = av1FromAvifFile(file);
  if (bitstream && bitstream.length) {
    try {
      const rebuilt = buildAvif(bitstream, width, height);
      if (rebuilt.length === file.length && rebuilt.every((b, i) => b === file[i])) return bitstream;
    } catch { /* not rebuildable: the whole file travels */ }
  }
  return file;
}
