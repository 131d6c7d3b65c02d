/**
 * The sender in the browser: pixels -> payload bytes (format v1), like `sr_codec.encode`.
 *
 *   const encoder = new Encoder({ manifestUrl: '/models/web_manifest.json', wasmBaseUrl: '/node_modules/@litertjs/core/wasm/' });
 *   const payload = await encoder.encode(file, { maxBytes: 3000 });          // Uint8Array
 *   const report = await encoder.encodeWithReport(file, { scale: 4, quality: 50 });
 *
 * Steps, each the Python one: `readImage` (input.js, `imaging.normalise`) -> the thumbnail, Pillow's
 * antialiased bicubic integer for integer (resize.js, `imaging.resample.downsample`) or the shipped learned
 * downscaler under LiteRT.js (`sender.learned`) -> AVIF through libavif/aom in WebAssembly, stripped to the
 * bare AV1 bitstream (avif_encode.js, `codecs.avif`) -> the alpha plane (alpha_encode.js, `codecs.alpha`) ->
 * msgpack fields + CRC-32 (payload.js `pack`, `format.payload.pack`). With `maxBytes`, rate control
 * (rate.js, `sender.rate` fast mode).
 *
 * What the sender needs besides the web manifest is read from the files Python reads, in the same folder:
 * `manifest.json` (the learned pairs, the downscalers' .tflite and the wire tags) and `rate_proxy.json`
 * (the gain table of rate control).
 */

import { loadAndCompile, Tensor } from '@litertjs/core';
import { InputImageError, LimitExceededError, ModelError } from './errors.js';
import { resolveLimits } from './limits.js';
import { fetchOk, loadRuntime } from './model.js';
import { pack } from './payload.js';
import { downsample, resizeBicubic } from './resize.js';
import { withFixedShapes } from './tflite_shape.js';
import { readImage } from './input.js';
import { avifSpeedFor, DEFAULT_AVIF_QUALITY, encodeAvif } from './avif_encode.js';
import { encodeAlpha } from './alpha_encode.js';
import { decodePixels } from './inner.js';
import { chooseForBudget, checkBudget, defaultBudget, effectiveScale, gainTable, mosaic, RATE_CONSTANTS, usesProxy } from './rate.js';

export const DEFAULT_SCALE = 4;
export const SENDERS = Object.freeze(['auto', 'learned', 'bicubic']);
/** `sender.learned.MIN_LEARNED_SIDE`: no learned thumbnail under 16 px a side. */
export const MIN_LEARNED_SIDE = 16;
const BICUBIC = 'bicubic';
const AVIF_WIRE_ID = 0;
const now = () => performance.now();

async function fetchJson(url, what) {
  return (await fetchOk(url, what)).json();
}

/** Edge-replicate interleaved pixels on the bottom/right up to a multiple of `scale` (`resample.pad_to_multiple`). */
export function padToMultiple(src, height, width, channels, scale) {
  const ph = Math.ceil(height / scale) * scale;
  const pw = Math.ceil(width / scale) * scale;
  if (ph === height && pw === width) return { data: src, height, width };
  const out = new Uint8Array(ph * pw * channels);
  const row = width * channels;
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, height - 1);
    out.set(src.subarray(sy * row, sy * row + row), y * pw * channels);
    const last = src.subarray(sy * row + row - channels, sy * row + row);
    for (let x = width; x < pw; x++) out.set(last, (y * pw + x) * channels);
  }
  return { data: out, height: ph, width: pw };
}

/** `learned.is_grey`. */
export function isGrey(rgb) {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i + 1] !== rgb[i + 2]) return false;
  return true;
}

/** `learned.learned_sender_suits`. */
export function learnedSenderSuits(height, width, scale, grey) {
  if (scale <= 1 || Math.min(Math.ceil(height / scale), Math.ceil(width / scale)) < MIN_LEARNED_SIDE) return false;
  return !grey;
}

/** `sender.rate.session.psnr_bounded`: RGB PSNR with an exact integer sum of squares. */
export function psnr(reference, test) {
  let total = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = reference[i] - test[i];
    total += d * d;
  }
  return total === 0 ? Infinity : 10 * Math.log10((255 * 255 * reference.length) / total);
}

/** The learned downscaler: a `.tflite` with two inputs (the padded photo and its bicubic thumbnail). */
class Downscaler {
  constructor(bytes) {
    this.bytes = bytes;
    this.compiled = new Map();
  }

  async run(hr, height, width, base, lowHeight, lowWidth) {
    const key = `${height}x${width}`;
    if (!this.compiled.has(key)) {
      const fixed = withFixedShapes(this.bytes, (name, kind) =>
        kind === 'input' && name.includes('high_res') ? [1, height, width, 3] : [1, lowHeight, lowWidth, 3]);
      const compiled = loadAndCompile(fixed.bytes, { accelerator: 'wasm' }).then((model) => ({ model, inputs: fixed.inputs }));
      compiled.catch(() => this.compiled.delete(key));
      while (this.compiled.size >= 3) { // a photo's mosaic and the photo itself stay compiled
        const [oldKey, old] = this.compiled.entries().next().value;
        this.compiled.delete(oldKey);
        old.then(({ model }) => model.delete(), () => {});
      }
      this.compiled.set(key, compiled);
    }
    const t0 = now();
    const { model, inputs } = await this.compiled.get(key);
    const t1 = now();
    const scale = Math.fround(1 / 255);
    const toFloat = (src) => {
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] * scale; // float32(v) * float32(1/255), as numpy
      return out;
    };
    const tensors = inputs.map((name) => (name.includes('high_res')
      ? new Tensor(toFloat(hr), [1, height, width, 3])
      : new Tensor(toFloat(base), [1, lowHeight, lowWidth, 3])));
    let outputs;
    const t2 = now();
    try {
      outputs = await model.run(tensors);
    } finally {
      for (const t of tensors) t.delete();
    }
    const t3 = now();
    const onCpu = await outputs[0].moveTo('wasm');
    /** Milliseconds of the last run: compile (0 when cached), inputs, network, outputs. */
    this.lastTimings = { compileMs: t1 - t0, inputMs: t2 - t1, runMs: t3 - t2 };
    try {
      const y = onCpu.toTypedArray();
      const out = new Uint8Array(y.length);
      for (let i = 0; i < y.length; i++) {
        const v = Math.round(y[i] * 255);
        out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
      return out;
    } finally {
      onCpu.delete();
      for (const o of outputs) if (!o.deleted) o.delete();
    }
  }
}

/** One image's thumbnails, bitstreams and payloads (`builder.PayloadBuilder`). */
class Builder {
  constructor(encoder, image, tags, stats) {
    this.stats = stats;
    this.encoder = encoder;
    this.image = image;
    this.height = image.height;
    this.width = image.width;
    this.rgb = image.rgb;
    this.tags = tags;
    this.low = new Map();
    this.alpha = new Map();
  }

  lowRes(scale, sender = 'bicubic') {
    const key = `${scale}/${sender}`;
    if (!this.low.has(key)) {
      this.low.set(key, (async () => {
        const base = scale === 1 ? this.rgb : downsample(this.rgb, this.height, this.width, 3, scale);
        if (sender !== 'learned' || scale === 1) return base;
        const cached = await this.lowRes(scale, 'bicubic');
        const t = now();
        const low = await this.encoder.learnedLowRes(this.rgb, this.height, this.width, scale, cached);
        this.stats.downscalerMs += now() - t;
        const pair = await this.encoder.learnedPair(scale);
        const runner = await this.encoder.downscaler(pair[0]);
        this.stats.downscalerCalls.push({ scale, size: `${this.width}x${this.height}`, ms: now() - t, ...runner.lastTimings });
        return low;
      })());
    }
    return this.low.get(key);
  }

  async bitstream(scale, quality, speed, sender = 'bicubic') {
    const low = await this.lowRes(scale, sender);
    const t = now();
    const bitstream = await encodeAvif(low, Math.ceil(this.height / scale), Math.ceil(this.width / scale), quality, speed);
    this.stats.avifMs += now() - t;
    this.stats.avifEncodes += 1;
    const limits = this.encoder.limits;
    if (bitstream.length > limits.maxInnerBytes) {
      throw new LimitExceededError(`inner bitstream is ${bitstream.length} bytes; the limit is ${limits.maxInnerBytes}`);
    }
    return bitstream;
  }

  async pack(route, bitstream) {
    let alpha = null;
    if (this.image.alpha) {
      if (!this.alpha.has(route.scale)) this.alpha.set(route.scale, encodeAlpha(this.image.alpha, this.height, this.width, route.scale));
      alpha = await this.alpha.get(route.scale);
    }
    return pack({ width: this.width, height: this.height, scale: route.scale, codecId: AVIF_WIRE_ID,
                  modelTag: this.tags(route.modelId), bitstream, alpha });
  }

  /** PSNR of the bicubic upsampling of the decoded low-res against the photo (the decode of a route without a network). */
  async bicubicPsnr(scale, bitstream) {
    const t = now();
    try {
      return await this.bicubicPsnrOf(scale, bitstream);
    } finally {
      this.stats.judgeMs += now() - t;
    }
  }

  async bicubicPsnrOf(scale, bitstream) {
    const { width, height, rgba } = await decodePixels('avif', bitstream);
    const low = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) { low[i] = rgba[j]; low[i + 1] = rgba[j + 1]; low[i + 2] = rgba[j + 2]; }
    let up = scale === 1 ? low : resizeBicubic(low, height, width, 3, height * scale, width * scale);
    if (width * scale !== this.width || height * scale !== this.height) {
      const cropped = new Uint8Array(this.height * this.width * 3);
      const row = this.width * 3;
      for (let y = 0; y < this.height; y++) cropped.set(up.subarray(y * width * scale * 3, y * width * scale * 3 + row), y * row);
      up = cropped;
    }
    return psnr(this.rgb, up);
  }
}

export class Encoder {
  /**
   * @param {object} options
   * @param {string} options.manifestUrl URL of web_manifest.json; manifest.json and rate_proxy.json are read next to it
   * @param {string} options.wasmBaseUrl folder serving @litertjs/core's wasm/ files (the learned downscaler)
   * @param {import('./limits.js').Limits} [options.limits]
   */
  constructor({ manifestUrl, wasmBaseUrl, limits = null }) {
    this.manifestUrl = new URL(manifestUrl, globalThis.location?.href).href;
    this.wasmBaseUrl = new URL(wasmBaseUrl, globalThis.location?.href).href;
    this.limits = resolveLimits(limits);
    this.filesPromise = null;
    this.downscalers = new Map();
  }

  /** {manifest (Python's manifest.json), gains (the gain table)}, fetched once. */
  files() {
    if (!this.filesPromise) {
      this.filesPromise = Promise.all([
        fetchJson(new URL('manifest.json', this.manifestUrl).href, 'model manifest'),
        // the gain table Python's rate control reads (rate_proxy.json; gain_table.json after issue 22's rewrite)
        fetchJson(new URL('gain_table.json', this.manifestUrl).href, 'rate-control gain table')
          .catch(() => fetchJson(new URL('rate_proxy.json', this.manifestUrl).href, 'rate-control gain table'))
          .catch(() => ({ models: {} })),
      ]).then(([manifest, gains]) => ({ manifest, gains: gainTable(gains) }));
      this.filesPromise.catch(() => { this.filesPromise = null; });
    }
    return this.filesPromise;
  }

  async learnedPair(scale) {
    const { manifest } = await this.files();
    const entry = manifest.pairs?.[String(scale)];
    return entry ? [entry.downscaler, entry.upscaler] : null;
  }

  async downscaler(downId) {
    if (!this.downscalers.has(downId)) {
      const promise = (async () => {
        const { manifest } = await this.files();
        const info = manifest.models[downId]?.tflite;
        if (!info) throw new ModelError(`no .tflite is shipped for the downscaler ${downId}`);
        await loadRuntime(this.wasmBaseUrl);
        const url = new URL(info.file, this.manifestUrl).href;
        const bytes = new Uint8Array(await (await fetchOk(url, 'downscaler')).arrayBuffer());
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
        if (hex !== info.sha256) throw new ModelError(`downscaler ${downId}: sha256 ${hex} does not match the manifest`);
        return new Downscaler(bytes);
      })();
      promise.catch(() => this.downscalers.delete(downId));
      this.downscalers.set(downId, promise);
    }
    return this.downscalers.get(downId);
  }

  /** The learned thumbnail of RGB `rgb` (height x width) at `scale` (`learned.learned_low_res`). */
  async learnedLowRes(rgb, height, width, scale, bicubicLowRes = null) {
    const pair = await this.learnedPair(scale);
    if (!pair) throw new InputImageError(`no learned sender for x${scale}`);
    const base = bicubicLowRes ?? downsample(rgb, height, width, 3, scale);
    const padded = padToMultiple(rgb, height, width, 3, scale);
    const runner = await this.downscaler(pair[0]);
    return runner.run(padded.data, padded.height, padded.width, base, padded.height / scale, padded.width / scale);
  }

  async tagFor() {
    const { manifest } = await this.files();
    return (modelId) => {
      if (modelId === BICUBIC) return 0;
      const info = manifest.models[modelId];
      if (!info) throw new ModelError(`unknown model ${modelId}`);
      return parseInt(info.sha256.slice(0, 8), 16);
    };
  }

  /** `builder.payload_model_id` for AVIF: the pair's upscaler for a learned thumbnail, else the scale's codec-role model. */
  async modelFor(scale, sender) {
    const { manifest } = await this.files();
    if (sender === 'learned') return (await this.learnedPair(scale))[1];
    return manifest.default?.[String(scale)] ?? BICUBIC;
  }

  /** @returns {Promise<Uint8Array>} */
  async encode(input, options = {}) {
    return (await this.encodeWithReport(input, options)).payload;
  }

  /**
   * @param {ImageData | ImageBitmap | Blob} input
   * @param {{scale?: number | 'auto', quality?: number, maxBytes?: number, sender?: string, inner?: string}} [options]
   * @returns {Promise<{payload: Uint8Array, scale: number, quality: number, sender: string, modelId: string,
   *                    estimateDb: number | null, avifSpeed: number, warnings: string[], image: object,
   *                    timings: Record<string, number>}>} `image`: the normalised input (readImage), for comparisons
   */
  async encodeWithReport(input, { scale = undefined, quality = null, maxBytes = null, sender = 'auto', inner = 'avif' } = {}) {
    const t0 = now();
    if (!SENDERS.includes(sender)) throw new InputImageError(`sender must be one of ${SENDERS.join(', ')}, got ${sender}`);
    if (inner !== 'avif' && inner !== null) throw new InputImageError(`the web encoder codes AVIF only, got inner=${inner}`);
    checkBudget(maxBytes);
    if (scale === undefined || scale === null) scale = maxBytes !== null ? 'auto' : DEFAULT_SCALE;
    if (scale !== 'auto' && (!Number.isInteger(scale) || scale < 1 || scale > 16)) {
      throw new InputImageError(`scale must be an integer in 1..16 or 'auto', got ${scale}`);
    }
    const rateControl = scale === 'auto' || maxBytes !== null;
    if (quality !== null && (rateControl || !Number.isInteger(quality) || quality < 0 || quality > 100)) {
      throw new InputImageError(rateControl
        ? 'quality is chosen by rate control: pass quality only with a fixed scale and no maxBytes'
        : `quality must be null or an integer in 0..100, got ${quality}`);
    }
    const image = await readImage(input, this.limits);
    const t1 = now();
    const [tags] = await Promise.all([this.tagFor(), this.files()]);
    const { gains } = await this.files();
    const stats = { avifMs: 0, avifEncodes: 0, downscalerMs: 0, judgeMs: 0, downscalerCalls: [] };
    const builder = new Builder(this, image, tags, stats);
    const grey = isGrey(image.rgb);
    let result;
    if (!rateControl) {
      const s = effectiveScale(image.height, image.width, scale);
      const pair = s > 1 ? await this.learnedPair(s) : null;
      if (sender === 'learned' && !pair) throw new InputImageError(`no learned sender for x${s} with the avif inner codec`);
      const route = pair && sender !== BICUBIC && learnedSenderSuits(image.height, image.width, s, grey) ? 'learned' : BICUBIC;
      const modelId = await this.modelFor(s, route);
      const q = quality ?? DEFAULT_AVIF_QUALITY;
      const bitstream = await builder.bitstream(s, q, null, route);
      result = { route: { scale: s, modelId, sender: route }, quality: q, payload: await builder.pack({ scale: s, modelId }, bitstream),
                 estimateDb: null, speed: avifSpeedFor(Math.ceil(image.height / s), Math.ceil(image.width / s)) };
    } else {
      const scales = scale === 'auto' ? RATE_CONSTANTS.AUTO_SCALES : [scale];
      const routes = [];
      const effective = [...new Set(scales.map((s) => effectiveScale(image.height, image.width, s)))].sort((a, b) => b - a);
      for (const s of effective) {
        const modelId = await this.modelFor(s, BICUBIC);
        const pair = s > 1 ? await this.learnedPair(s) : null;
        if (pair && (sender === 'auto' || sender === 'learned') && learnedSenderSuits(image.height, image.width, s, grey)) {
          routes.push({ scale: s, modelId: pair[1], sender: 'learned', exact: false, key: `${s}/learned/${pair[1]}` });
        }
        if (sender !== 'learned' || s === 1) routes.push({ scale: s, modelId, sender: BICUBIC, exact: modelId === BICUBIC, key: `${s}/bicubic/${modelId}` });
        if (s === 1 && modelId !== BICUBIC) routes.push({ scale: 1, modelId: BICUBIC, sender: BICUBIC, exact: true, key: '1/bicubic/bicubic' });
      }
      if (!routes.length) throw new InputImageError(`no ${sender} route for scale ${scale} with the avif inner codec`);
      const soft = maxBytes === null;
      const budgetBytes = soft ? defaultBudget(image.height, image.width) : maxBytes;
      const budget = Math.min(budgetBytes, this.limits.maxPayloadBytes);
      let proxy = null;
      if (usesProxy(image.height, image.width)) {
        const m = mosaic(image.rgb, image.height, image.width);
        proxy = new Builder(this, { ...m, alpha: null }, tags, stats);
      }
      result = await chooseForBudget({ full: builder, proxy, routes, gains, budget, soft, maxBytes: budgetBytes });
    }
    this.limits.checkPayloadBytes(result.payload.length);
    const t2 = now();
    return {
      payload: result.payload, scale: result.route.scale, quality: result.quality, sender: result.route.sender,
      modelId: result.route.modelId, estimateDb: result.estimateDb ?? null, avifSpeed: result.speed, warnings: image.warnings,
      image, encodes: stats.avifEncodes, downscalerCalls: stats.downscalerCalls,
      timings: { readMs: t1 - t0, codeMs: t2 - t1, totalMs: t2 - t0, avifMs: stats.avifMs, downscalerMs: stats.downscalerMs,
                 judgeMs: stats.judgeMs },
    };
  }
}
