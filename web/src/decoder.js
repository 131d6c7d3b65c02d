/**
 * The receiver: payload bytes -> pixels, following sr_codec/codec.py step for step
 * (unpack and verify -> declared sizes against the limits and the inner header -> resolve the model ->
 * inner decode -> upscale with the network or Pillow-exact bicubic -> crop; alpha as in Python).
 */

import { InputImageError, LimitExceededError, ModelError, PayloadError } from './errors.js';
import { alphaCodec, decodePixels, readSize } from './inner.js';
import { resolveLimits } from './limits.js';
import { fetchOk, loadRuntime, Network, probeAccelerator } from './model.js';
import { INNER_CODECS, unpack } from './payload.js';
import { downsample, resizeBicubic } from './resize.js';

export const BICUBIC = 'bicubic';
/** What `decode(bytes, {look})` accepts: the payload's own (faithful) model, or its sharp twin (zoo.LOOKS). */
export const LOOKS = Object.freeze(['faithful', 'sharp']);

/** `look` when it is one of LOOKS, else InputImageError naming them (receiver.decoder.check_look). */
export function checkLook(look) {
  if (typeof look !== 'string' || !LOOKS.includes(look)) {
    const shown = typeof look === 'string' ? `'${look}'` : String(look);
    throw new InputImageError(`unknown look ${shown}; the looks are ${LOOKS.map((l) => `'${l}'`).join(', ')}`);
  }
  return look;
}

/**
 * @typedef {object} DecodedImage
 * @property {number} width
 * @property {number} height
 * @property {3 | 4} channels 3 = RGB, 4 = RGBA (the payload carried alpha)
 * @property {Uint8Array} data interleaved, height x width x channels
 * @property {string} [modelId] the model that ran ('bicubic' for none)
 * @property {string} [look] the look shown: 'faithful', or 'sharp' when the model has a sharp twin
 * @property {string[]} [warnings] e.g. a look the model has no twin for (Python's LookUnavailableWarning)
 * @property {Record<string, number>} [timings] milliseconds per stage
 */

const lowResSize = (height, width, scale) => [Math.ceil(height / scale), Math.ceil(width / scale)];
const now = () => performance.now();

async function fetchBytes(url, what) {
  return new Uint8Array(await (await fetchOk(url, what)).arrayBuffer());
}

export class Decoder {
  /**
   * @param {object} options
   * @param {string} options.manifestUrl URL of web_manifest.json (model files are relative to it)
   * @param {string} options.wasmBaseUrl folder serving @litertjs/core's wasm/ files
   * @param {'auto' | 'wasm' | 'webgpu'} [options.accelerator] 'auto': WebGPU when an adapter exists, else WASM
   * @param {import('./limits.js').Limits} [options.limits]
   */
  constructor({ manifestUrl, wasmBaseUrl, accelerator = 'auto', limits = null }) {
    this.manifestUrl = new URL(manifestUrl, globalThis.location?.href).href;
    this.wasmBaseUrl = new URL(wasmBaseUrl, globalThis.location?.href).href;
    this.requestedAccelerator = accelerator;
    this.limits = resolveLimits(limits);
    this.manifestPromise = null;
    /** @type {Map<string, Promise<Network>>} */
    this.networks = new Map();
    this.acceleratorPromise = null;
  }

  manifest() {
    if (!this.manifestPromise) {
      this.manifestPromise = fetchBytes(this.manifestUrl, 'model manifest')
        .then((bytes) => JSON.parse(new TextDecoder().decode(bytes)))
        .catch((error) => {
          this.manifestPromise = null;
          throw error instanceof ModelError ? error : new ModelError(`bad model manifest: ${error.message}`);
        });
    }
    return this.manifestPromise;
  }

  /** 'webgpu' or 'wasm': what the networks will run on. */
  accelerator() {
    if (!this.acceleratorPromise) {
      this.acceleratorPromise = (async () => {
        if (this.requestedAccelerator !== 'auto') return this.requestedAccelerator;
        return probeAccelerator();
      })();
    }
    return this.acceleratorPromise;
  }

  async network(modelId) {
    let network = this.networks.get(modelId);
    if (!network) {
      network = (async () => {
        const manifest = await this.manifest();
        const info = manifest.models[modelId];
        const [accelerator] = await Promise.all([this.accelerator(), loadRuntime(this.wasmBaseUrl)]);
        const bytes = await fetchBytes(new URL(info.file, this.manifestUrl).href, `model ${modelId}`);
        return new Network(modelId, bytes, info, accelerator);
      })();
      network.catch(() => this.networks.delete(modelId));
      this.networks.set(modelId, network);
    }
    return network;
  }

  /** Python's `_resolve_model`: the payload's own model, the shipped default, bicubic, or a named one. */
  async resolveModel(payload, model) {
    const manifest = await this.manifest();
    const shipped = Object.keys(manifest.models).sort();
    if (model === null || model === undefined) {
      if (payload.modelTag === 0) return BICUBIC;
      const modelId = shipped.find((id) => manifest.models[id].tag === payload.modelTag);
      if (modelId === undefined) {
        throw new ModelError(
          `the payload was encoded for model tag 0x${payload.modelTag.toString(16).padStart(8, '0')}, which no ` +
            `shipped weights carry (shipped: ${shipped.join(', ') || 'none'}); decode with model='default' to use ` +
            `the shipped x${payload.scale} model, or model='bicubic'`,
        );
      }
      if (manifest.models[modelId].scale !== payload.scale) {
        throw new PayloadError(`the payload names model ${modelId}, which is not an x${payload.scale} model`);
      }
      return modelId;
    }
    if (model === 'default') return manifest.default[String(payload.scale)] ?? BICUBIC;
    if (model === BICUBIC) return BICUBIC;
    const info = manifest.models[model];
    if (!info) throw new ModelError(`unknown model '${model}'; shipped: ${shipped.join(', ')}`);
    if (info.scale !== payload.scale) throw new ModelError(`model ${model} upscales x${info.scale}, but the payload is x${payload.scale}`);
    return model;
  }

  /**
   * Python's `_apply_look`: the model showing `modelId`'s payloads in `look` (the manifest's `looks` table);
   * `{modelId, look, warning}`, the model itself with a warning when it has no twin (bicubic has no looks to miss).
   */
  async applyLook(modelId, look) {
    if (look === LOOKS[0] || modelId === BICUBIC) return { modelId, look: LOOKS[0], warning: null };
    const manifest = await this.manifest();
    const twin = manifest.looks?.[look]?.[modelId];
    if (twin === undefined || !manifest.models[twin]) {
      return { modelId, look: LOOKS[0], warning: `no ${look} look for model ${modelId}: shown with its faithful look` };
    }
    return { modelId: twin, look, warning: null };
  }

  /** unpack + the size checks of codec._read_header; no pixel decoded. */
  readHeader(bytes) {
    const payload = unpack(bytes, this.limits);
    this.limits.checkPixels(payload.height, payload.width, "the payload's image");
    const codec = INNER_CODECS[payload.innerCodec];
    const lowSize = lowResSize(payload.height, payload.width, payload.scale);
    const declared = readSize(codec, payload.inner);
    if (declared[0] !== lowSize[0] || declared[1] !== lowSize[1]) {
      throw new PayloadError(
        `inner ${codec} bitstream is ${declared[1]} x ${declared[0]}, but a ${payload.width} x ${payload.height} ` +
          `image at x${payload.scale} needs ${lowSize[1]} x ${lowSize[0]}`,
      );
    }
    return { payload, codec, lowSize };
  }

  /** The low-res RGB (uint8, 4 bytes per pixel as the canvas gives it) and the alpha plane, as coded. */
  async readPixels({ payload, codec, lowSize }) {
    const low = await decodePixels(codec, payload.inner);
    if (low.height !== lowSize[0] || low.width !== lowSize[1]) {
      throw new PayloadError(`inner ${codec} bitstream decoded to ${low.width} x ${low.height}, expected ${lowSize[1]} x ${lowSize[0]}`);
    }
    let alpha = null;
    if (typeof payload.alpha === 'number') {
      alpha = { height: lowSize[0], width: lowSize[1], data: new Uint8Array(lowSize[0] * lowSize[1]).fill(payload.alpha) };
    } else if (payload.alpha instanceof Uint8Array) {
      const kind = alphaCodec(payload.alpha);
      const [h, w] = readSize(kind, payload.alpha);
      const isLow = h === lowSize[0] && w === lowSize[1];
      if (!isLow && !(h === payload.height && w === payload.width)) {
        throw new PayloadError(
          `alpha plane is ${w} x ${h}; the payload needs ${lowSize[1]} x ${lowSize[0]} (low-res) or ` +
            `${payload.width} x ${payload.height} (full-res)`,
        );
      }
      const plane = await decodePixels(kind, payload.alpha);
      if (plane.height !== h || plane.width !== w) throw new PayloadError('alpha plane decoded to another size than its header says');
      const data = new Uint8Array(h * w);
      for (let i = 0; i < data.length; i++) data[i] = plane.rgba[4 * i]; // grey: R = G = B
      alpha = { height: h, width: w, data };
    }
    return { low, alpha };
  }

  /** Describe a payload (checksum and fields verified) without decoding pixels, like sr_codec.inspect. */
  async inspect(bytes) {
    const payload = unpack(bytes, this.limits);
    const manifest = await this.manifest();
    const modelId = payload.modelTag === 0 ? BICUBIC
      : Object.keys(manifest.models).find((id) => manifest.models[id].tag === payload.modelTag) ?? null;
    const length = bytes.byteLength;
    return {
      version: 1, width: payload.width, height: payload.height, hasAlpha: payload.alpha !== null,
      mode: payload.alpha !== null ? 'RGBA' : 'RGB', scale: payload.scale, inner: INNER_CODECS[payload.innerCodec],
      modelTag: payload.modelTag, modelId, payloadBytes: length, innerBytes: payload.inner.length,
      alphaBytes: payload.alpha instanceof Uint8Array ? payload.alpha.length : 0,
      lowResSize: lowResSize(payload.height, payload.width, payload.scale),
    };
  }

  /**
   * The instant preview: the low-res image as sent (plus alpha), no network; like sr_codec.decode_preview.
   * @returns {Promise<DecodedImage>}
   */
  async decodePreview(bytes) {
    const header = wrap(() => this.readHeader(bytes));
    const { low, alpha } = await wrapAsync(() => this.readPixels(header));
    const { payload, lowSize: [h, w] } = header;
    const channels = alpha ? 4 : 3;
    let plane = alpha?.data;
    if (alpha && (alpha.height !== h || alpha.width !== w)) {
      plane = downsample(alpha.data, alpha.height, alpha.width, 1, payload.scale);
    }
    return { width: w, height: h, channels, data: interleave(low.rgba, 4, h, w, w, plane) };
  }

  /**
   * Rebuild the image at full size, like sr_codec.decode.
   * @param {Uint8Array | ArrayBuffer} bytes the payload
   * @param {{model?: string | null, look?: 'faithful' | 'sharp'}} [options] model: null = the payload's model
   *   (ModelError when not shipped), 'default' = the shipped model of the payload's scale, 'bicubic', or a model id;
   *   look: 'faithful' (default, that model) or 'sharp' (its sharp twin from the manifest's `looks`; a model
   *   without one shows its faithful look and the result's `warnings` says so); another look is an InputImageError
   * @returns {Promise<DecodedImage>}
   */
  async decode(bytes, { model = null, look = LOOKS[0] } = {}) {
    const t0 = now();
    checkLook(look);
    const header = wrap(() => this.readHeader(bytes));
    const resolved = await this.applyLook(await this.resolveModel(header.payload, model), look);
    const { modelId } = resolved;
    const warnings = resolved.warning ? [resolved.warning] : [];
    const t1 = now();
    const { low, alpha } = await wrapAsync(() => this.readPixels(header));
    const t2 = now();
    const { payload, lowSize: [lh, lw] } = header;
    const s = payload.scale;
    let rgb;
    if (modelId === BICUBIC) {
      const packed = interleave(low.rgba, 4, lh, lw, lw, null);
      rgb = s === 1 ? packed : resizeBicubic(packed, lh, lw, 3, lh * s, lw * s);
    } else {
      const network = await this.network(modelId);
      try {
        rgb = await network.upscale(low.rgba, lh, lw, 4);
      } catch (error) {
        if (error instanceof ModelError) throw error;
        throw new ModelError(`super-resolution failed: ${error.message}`, { cause: error });
      }
    }
    const t3 = now();
    const { width, height } = payload;
    let plane = null;
    if (alpha) {
      plane = alpha.data;
      if (alpha.height !== height || alpha.width !== width) {
        plane = s === 1 ? alpha.data : resizeBicubic(alpha.data, alpha.height, alpha.width, 1, alpha.height * s, alpha.width * s);
        plane = crop(plane, alpha.height * s, alpha.width * s, 1, height, width);
      }
    }
    const data = interleave(rgb, 3, height, width, lw * s, plane);
    return {
      width, height, channels: alpha ? 4 : 3, data, modelId, look: resolved.look, warnings,
      timings: { parseMs: t1 - t0, innerDecodeMs: t2 - t1, upscaleMs: t3 - t2, totalMs: now() - t0 },
    };
  }
}

/** height x width x (3 or 4) from `src` (rows of `stride` pixels, `srcChannels` each), alpha appended when given. */
function interleave(src, srcChannels, height, width, stride, alpha) {
  const channels = alpha ? 4 : 3;
  const out = new Uint8Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * stride + x) * srcChannels;
      const d = (y * width + x) * channels;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
      if (alpha) out[d + 3] = alpha[y * width + x];
    }
  }
  return out;
}

function crop(src, height, width, channels, outHeight, outWidth) {
  if (height === outHeight && width === outWidth) return src;
  const out = new Uint8Array(outHeight * outWidth * channels);
  for (let y = 0; y < outHeight; y++) {
    out.set(src.subarray(y * width * channels, (y * width + outWidth) * channels), y * outWidth * channels);
  }
  return out;
}

/** Foreign errors raised while reading a payload become PayloadError (codec._wrap_foreign). */
function wrap(fn) {
  try {
    return fn();
  } catch (error) {
    throw asCodecError(error);
  }
}

async function wrapAsync(fn) {
  try {
    return await fn();
  } catch (error) {
    throw asCodecError(error);
  }
}

function asCodecError(error) {
  if (error?.name && ['PayloadError', 'LimitExceededError', 'ModelError', 'InputImageError', 'DeviceError'].includes(error.name)) return error;
  if (error instanceof RangeError && /allocation|memory/i.test(error.message)) {
    return new LimitExceededError(`decode: out of memory (${error.message})`, { cause: error });
  }
  return new PayloadError(`decode failed: ${error?.name}: ${error?.message}`, { cause: error });
}

/** RGBA ImageData-ready pixels of a DecodedImage (alpha 255 for RGB). */
export function toRGBA(image) {
  const { width, height, channels, data } = image;
  if (channels === 4) return new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    out[4 * i] = data[j];
    out[4 * i + 1] = data[j + 1];
    out[4 * i + 2] = data[j + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}
