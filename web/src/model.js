/**
 * The super-resolution networks in the browser: LiteRT.js (`@litertjs/core`) running the shipped
 * `.tflite` exports, WebGPU when the browser has an adapter, XNNPACK on WebAssembly otherwise.
 *
 * The exported models have dynamic height and width, which LiteRT.js's CompiledModel does not accept,
 * so a copy with the input size written in (tflite_shape.js) is compiled per window size (~5 ms)
 * and cached. Big images run as overlapping windows (the manifest's `tile_margin` covers the
 * receptive field), each cropped to its core, like sr_codec.runtime's tiling.
 */

import { loadAndCompile, loadLiteRt, Tensor } from '@litertjs/core';
import { ModelError } from './errors.js';
import { withFixedSize } from './tflite_shape.js';

/** Low-res side of a window's core; bigger images are tiled. */
export const TILE_CORE = 512;
const COMPILED_CACHE_SIZE = 8;

let runtimePromise = null;

const LITERT_LEVELS = ['VERBOSE', 'INFO', 'WARNING', 'ERROR'];
let litertLevel = 'ERROR';
let consoleFiltered = false;

/**
 * Which of LiteRT.js's own log lines (its C++ runtime writes "INFO: [file.cc:N] ..." to the console) reach the
 * console: 'ERROR' (default: none of its INFO and WARNING lines, e.g. the NPU it looks for and the XNNPACK
 * delegate it creates), 'WARNING', 'INFO' or 'VERBOSE' (all). Other console output is never touched.
 */
export function setLiteRtLogLevel(level) {
  const upper = String(level).toUpperCase();
  if (!LITERT_LEVELS.includes(upper)) throw new Error(`LiteRT log level must be one of ${LITERT_LEVELS.join(', ')}`);
  litertLevel = upper;
}

function filterLiteRtLogs() {
  if (consoleFiltered) return;
  consoleFiltered = true;
  const pattern = /^(VERBOSE|INFO|WARNING|ERROR): |^(Failed to create default WebGPU device)/;
  for (const method of ['log', 'info', 'warn', 'error']) {
    const original = console[method].bind(console);
    console[method] = (...args) => {
      const match = typeof args[0] === 'string' ? pattern.exec(args[0]) : null;
      const level = match ? match[1] ?? 'WARNING' : null;
      if (match && LITERT_LEVELS.indexOf(level) < LITERT_LEVELS.indexOf(litertLevel)) return;
      original(...args);
    };
  }
}

let probePromise = null;

/**
 * 'webgpu' when the browser has a WebGPU adapter, else 'wasm': asked once per page and shared by the decoder,
 * the encoder and the runtime (each probe without an adapter makes Chromium log "No available adapters.").
 */
export function probeAccelerator() {
  if (!probePromise) {
    probePromise = (async () => {
      try {
        if (globalThis.navigator?.gpu && (await navigator.gpu.requestAdapter())) return 'webgpu';
      } catch { /* no adapter */ }
      return 'wasm';
    })();
  }
  return probePromise;
}

/**
 * Load the LiteRT.js WebAssembly runtime once per page. Threads when the page is cross-origin
 * isolated (COOP/COEP headers), else single-threaded. Nothing is fetched but `wasmBaseUrl`.
 * Without a WebGPU adapter (probeAccelerator) the runtime is loaded without one, so LiteRT.js does not
 * probe again and warn.
 * @param {string} wasmBaseUrl folder serving node_modules/@litertjs/core/wasm/
 */
/** `fetch(url)` that fails with a ModelError naming `what` (network error or HTTP status); the Response. */
export async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ModelError(`cannot fetch ${what} ${url}: ${error.message}`, { cause: error });
  }
  if (!response.ok) throw new ModelError(`cannot fetch ${what} ${url}: HTTP ${response.status}`);
  return response;
}

export function loadRuntime(wasmBaseUrl) {
  if (!runtimePromise) {
    filterLiteRtLogs();
    const threads = Boolean(globalThis.crossOriginIsolated);
    runtimePromise = probeAccelerator().then(async (accelerator) => {
      const gpu = Object.getOwnPropertyDescriptor(Navigator.prototype, 'gpu');
      const hide = accelerator === 'wasm' && gpu?.configurable;
      if (hide) Object.defineProperty(navigator, 'gpu', { value: undefined, configurable: true });
      try {
        await loadLiteRt(wasmBaseUrl, { threads });
      } finally {
        if (hide) delete navigator.gpu; // the prototype's getter is back
      }
      return { threads };
    }).catch((error) => {
      runtimePromise = null;
      throw new ModelError(`cannot load the LiteRT.js runtime from ${wasmBaseUrl}: ${error.message}`, { cause: error });
    });
  }
  return runtimePromise;
}

export class Network {
  /**
   * @param {string} modelId @param {Uint8Array} bytes the .tflite file
   * @param {{scale: number, tile_margin: number}} info manifest entry
   * @param {'wasm' | 'webgpu'} accelerator
   */
  constructor(modelId, bytes, info, accelerator) {
    this.modelId = modelId;
    this.bytes = bytes;
    this.scale = info.scale;
    this.margin = info.tile_margin;
    this.accelerator = accelerator;
    /** @type {Map<string, Promise<any>>} */
    this.compiled = new Map();
  }

  async compiledFor(height, width) {
    const key = `${height}x${width}`;
    let model = this.compiled.get(key);
    if (!model) {
      const options = { accelerator: this.accelerator };
      if (this.accelerator === 'webgpu') options.gpuOptions = { precision: 'fp32' }; // fp16 would drift past +-2
      model = loadAndCompile(withFixedSize(this.bytes, height, width, this.scale), options);
      model.catch(() => this.compiled.delete(key));
      this.compiled.set(key, model);
      while (this.compiled.size > COMPILED_CACHE_SIZE) {
        const [oldKey, old] = this.compiled.entries().next().value;
        this.compiled.delete(oldKey);
        old.then((m) => m.delete(), () => {});
      }
    } else { // most recently used last
      this.compiled.delete(key);
      this.compiled.set(key, model);
    }
    return model;
  }

  /** float32 [h, w, 3] in 0..1 -> float32 [h*s, w*s, 3], one network call. */
  async runWindow(input, height, width) {
    const model = await this.compiledFor(height, width);
    const tensor = new Tensor(input, [1, height, width, 3]);
    let outputs;
    try {
      outputs = await model.run(tensor);
    } finally {
      tensor.delete();
    }
    const onCpu = await outputs[0].moveTo('wasm');
    try {
      return onCpu.toTypedArray().slice();
    } finally {
      onCpu.delete();
      for (const output of outputs) if (!output.deleted) output.delete();
    }
  }

  /**
   * Upscale RGB (interleaved uint8, 3 or 4 channels per pixel: alpha ignored) of height x width.
   * @returns {Promise<Uint8Array>} uint8 (h*s) x (w*s) x 3: round(clip(y * 255))
   */
  async upscale(pixels, height, width, channels) {
    const s = this.scale;
    const out = new Uint8Array(height * s * width * s * 3);
    const outStride = width * s * 3;
    for (let y0 = 0; y0 < height; y0 += TILE_CORE) {
      for (let x0 = 0; x0 < width; x0 += TILE_CORE) {
        const y1 = Math.min(y0 + TILE_CORE, height);
        const x1 = Math.min(x0 + TILE_CORE, width);
        const wy0 = Math.max(0, y0 - this.margin);
        const wx0 = Math.max(0, x0 - this.margin);
        const wy1 = Math.min(height, y1 + this.margin);
        const wx1 = Math.min(width, x1 + this.margin);
        const wh = wy1 - wy0;
        const ww = wx1 - wx0;
        const input = new Float32Array(wh * ww * 3);
        for (let y = 0; y < wh; y++) {
          for (let x = 0; x < ww; x++) {
            const src = ((wy0 + y) * width + wx0 + x) * channels;
            const dst = (y * ww + x) * 3;
            input[dst] = pixels[src] / 255;
            input[dst + 1] = pixels[src + 1] / 255;
            input[dst + 2] = pixels[src + 2] / 255;
          }
        }
        const result = await this.runWindow(input, wh, ww);
        const rowFloats = ww * s * 3;
        for (let y = (y0 - wy0) * s; y < (y1 - wy0) * s; y++) {
          const srcRow = y * rowFloats;
          const dstRow = (wy0 * s + y) * outStride;
          for (let x = (x0 - wx0) * s * 3; x < (x1 - wx0) * s * 3; x++) {
            const v = Math.round(result[srcRow + x] * 255);
            out[dstRow + wx0 * s * 3 + x] = v < 0 ? 0 : v > 255 ? 255 : v;
          }
        }
      }
    }
    return out;
  }

  delete() {
    for (const model of this.compiled.values()) model.then((m) => m.delete(), () => {});
    this.compiled.clear();
  }
}
