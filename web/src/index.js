/**
 * @sr-codec/web: encode and decode sr_codec payloads (format v1, docs/format.md) in the browser.
 *
 *   import { Decoder } from '@sr-codec/web';
 *   const decoder = new Decoder({ manifestUrl: '/models/web_manifest.json', wasmBaseUrl: '/litert-wasm/' });
 *   const preview = await decoder.decodePreview(bytes);   // low-res, instantly
 *   const image = await decoder.decode(bytes);             // full size, through the payload's network
 *
 *   import { Encoder } from '@sr-codec/web';
 *   const encoder = new Encoder({ manifestUrl: '/models/web_manifest.json', wasmBaseUrl: '/litert-wasm/' });
 *   const payload = await encoder.encode(file, { maxBytes: 3000 });   // like sr_codec.encode(file, max_bytes=3000)
 */

export { Decoder, BICUBIC, LOOKS, checkLook, toRGBA } from './decoder.js';
export { SrCodecError, PayloadError, InputImageError, LimitExceededError, ModelError, DeviceError } from './errors.js';
export { Limits, DEFAULT_LIMITS } from './limits.js';
export { unpack, FORMAT_VERSION, INNER_CODECS } from './payload.js';
export { buildAvif, parseSequenceHeader } from './avif.js';
export { crc32 } from './crc32.js';
export { resizeBicubic, downsample } from './resize.js';
export { Encoder, DEFAULT_SCALE, SENDERS, padToMultiple, psnr } from './encoder.js';
export { readImage, readHeader } from './input.js';
export { decodePixels } from './inner.js';
export { encodeAvif, encodeAvifFile, setAvifThreads, avifSpeedFor, AVIF_SPEED_BY_PIXELS, AVIF_LARGE_IMAGE_SPEED, PILLOW_AVIF_SPEED } from './avif_encode.js';
export { pack } from './payload.js';
export { RATE_CONSTANTS, defaultBudget, effectiveScale, tileOrigins, mosaic } from './rate.js';
export { setLiteRtLogLevel } from './model.js';
