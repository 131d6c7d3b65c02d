/**
 * Rate control for `maxBytes`, the fast mode of `sr_codec.sender.rate` (docs/rate_control.md) ported step for
 * step: the routes (scales 1, 2, 4, 10, each lowered for small images; the learned thumbnail beside the bicubic
 * one where a pair is shipped), each route's highest quality whose whole payload fits (the same monotone
 * searches, `search.py`), each finalist judged by its exact bicubic-decode PSNR plus the network's gain read
 * from the *same* gain table file Python uses (`sr_codec/weights/rate_proxy.json`, fetched next to the
 * manifest), a network route beating the scale-1 anchor only on its lower bound (the guarantee), photos
 * over 1 MP decided on the same mosaic of tiles (`proxy.py`), and the final encode at a slower speed
 * (`final.py`). No network runs. The constants below mirror Python's and tests/test_web_encoder.py
 * checks each against the Python module it comes from.
 */

import { InputImageError } from './errors.js';
import { avifSpeedFor, PILLOW_AVIF_SPEED } from './avif_encode.js';

export const RATE_CONSTANTS = Object.freeze({
  AUTO_SCALES: [1, 2, 4, 10],
  Q_MIN: 0,
  Q_MAX: 100,
  LOG_SIZE_PER_QUALITY: 0.038,
  FINITE_LIMIT: 1e6,
  UNCALIBRATED_MARGIN_DB: 3.0,
  LOWER_BOUND_RESIDUALS: 2.0,
  PROXY_MIN_PIXELS: 1_000_000,
  TILE_SIDE: 160,
  PROXY_TILES: 8,
  FINAL_SPEED_BY_PIXELS: [[16_384, 5], [65_536, 6]],
  DEFAULT_BITS_PER_PIXEL: 0.0625,
  DEFAULT_MIN_BYTES: 1000,
  DEFAULT_MAX_BYTES_CAP: 40_000,
});
const C = RATE_CONSTANTS;

/** `sr_codec.rate.default_budget`. */
export function defaultBudget(height, width) {
  return Math.trunc(Math.min(Math.max(C.DEFAULT_BITS_PER_PIXEL * height * width / 8, C.DEFAULT_MIN_BYTES), C.DEFAULT_MAX_BYTES_CAP));
}

/** `builder.effective_scale`. */
export function effectiveScale(height, width, scale) {
  const sides = [height, width].filter((s) => s > 1);
  return sides.length ? Math.max(1, Math.min(scale, ...sides)) : 1;
}

// ------------------------------------------------------------------------------------------ gain table

/** numpy.interp on sorted knots, clamped at the ends. */
function interp(x, xs, ys) {
  if (x <= xs[0]) return ys[0];
  if (x >= xs[xs.length - 1]) return ys[ys.length - 1];
  let i = 1;
  while (xs[i] < x) i++;
  const t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

/** `predictor.GainCurve` from the JSON Python writes. */
export class GainCurve {
  constructor({ scale, log2_bpp: log2Bpp, gain_db: gainDb, residual_db: residualDb }) {
    const order = log2Bpp.map((_, i) => i).sort((a, b) => log2Bpp[a] - log2Bpp[b]);
    this.scale = scale;
    this.xs = order.map((i) => log2Bpp[i]);
    this.ys = order.map((i) => gainDb[i]);
    this.residualDb = residualDb;
  }

  at(lowResBpp) {
    return interp(Math.log2(Math.max(lowResBpp, 1e-6)), this.xs, this.ys);
  }
}

export function gainTable(json) {
  const curves = new Map();
  for (const [modelId, entry] of Object.entries(json?.models ?? {})) curves.set(modelId, new GainCurve(entry));
  return curves;
}

// ------------------------------------------------------------------------------------------ searches

/** `search.first_at_least`, with an async `f`. */
export async function firstAtLeast(f, target, lo, hi, { guess = null, known = [], slope = 1.0, transform = (v) => v } = {}) {
  const tf = (v) => {
    const t = transform(v);
    return Number.isNaN(t) ? -C.FINITE_LIMIT : Math.max(-C.FINITE_LIMIT, Math.min(C.FINITE_LIMIT, t));
  };
  let below = null;
  let above = null;
  const probes = [];
  const probe = async (x) => {
    const value = await f(x);
    if (value >= target) {
      if (above === null || x < above[0]) above = [x, value];
    } else if (below === null || x > below[0]) {
      below = [x, value];
    }
    probes.push([x, tf(value)]);
  };
  for (const x of known) if (lo <= x && x <= hi) await probe(Math.trunc(x));
  if (guess !== null || !probes.length) {
    await probe(Math.min(Math.max(guess === null ? Math.floor((lo + hi) / 2) : Math.trunc(guess), lo), hi));
  }
  const tTarget = tf(target);
  let widthBefore = Infinity;
  let oneSided = 0;
  for (;;) {
    const left = below === null ? lo : below[0] + 1;
    const right = above === null ? hi : above[0] - 1;
    if (left > right) return above === null ? null : above[0];
    const width = right - left + 1;
    let x;
    if (below !== null && above !== null) {
      const [xa, fa] = below;
      const [xb, fb] = above;
      const ta = tf(fa);
      const tb = tf(fb);
      if (width > widthBefore / 2 || !(tb > ta)) x = Math.floor((xa + xb) / 2);
      else x = xa + pyRound(((tTarget - ta) / (tb - ta)) * (xb - xa));
      oneSided = 0;
    } else {
      oneSided += 1;
      let rise = slope;
      if (probes.length >= 2) {
        const [x1, t1] = probes[probes.length - 2];
        const [x2, t2] = probes[probes.length - 1];
        if (x1 !== x2 && (t2 - t1) / (x2 - x1) > slope / 8) rise = (t2 - t1) / (x2 - x1);
      }
      const [sideX, sideV] = below !== null ? below : above;
      const sideT = tf(sideV);
      const step = Math.min(Math.max(1, Math.ceil(Math.abs(tTarget - sideT) / rise)) * 2 ** Math.max(0, oneSided - 2), hi - lo + 1);
      x = below !== null ? sideX + step : sideX - step;
    }
    widthBefore = width;
    await probe(Math.min(Math.max(x, left), right));
  }
}

/** Python's round(): half to even. */
function pyRound(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `search.highest_fitting`. */
export async function highestFitting(sizeOf, budget, lo = C.Q_MIN, hi = C.Q_MAX, guess = null, known = []) {
  const firstOver = await firstAtLeast(sizeOf, budget + 1, lo, hi, {
    guess, known, slope: C.LOG_SIZE_PER_QUALITY, transform: (v) => Math.log(Math.max(v, 1)),
  });
  if (firstOver === null) return hi;
  return firstOver === lo ? null : firstOver - 1;
}

// ------------------------------------------------------------------------------------------ mosaic

/** `proxy.tile_origins`. */
export function tileOrigins(height, width, tiles = C.PROXY_TILES, side = C.TILE_SIDE) {
  const rows = Math.max(1, Math.min(Math.floor(height / side), pyRound(Math.sqrt((tiles * height) / width))));
  const cols = Math.max(1, Math.min(Math.floor(width / side), Math.ceil(tiles / rows)));
  const origins = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const top = Math.trunc(((r + 0.5) * height) / rows - side / 2);
      const left = Math.trunc(((c + 0.5) * width) / cols - side / 2);
      origins.push([Math.min(Math.max(top, 0), height - side), Math.min(Math.max(left, 0), width - side)]);
    }
  }
  return origins.length > tiles ? origins.slice(0, tiles) : origins;
}

/** `proxy.mosaic`: {rgb, height, width}. */
export function mosaic(rgb, height, width, tiles = C.PROXY_TILES, side = C.TILE_SIDE) {
  const origins = tileOrigins(height, width, tiles, side);
  const cols = Math.min(4, origins.length);
  const rows = Math.ceil(origins.length / cols);
  const outWidth = cols * side;
  const out = new Uint8Array(rows * side * outWidth * 3);
  for (let index = 0; index < rows * cols; index++) {
    const [top, left] = origins[Math.min(index, origins.length - 1)];
    const r = Math.floor(index / cols);
    const c = index % cols;
    for (let y = 0; y < side; y++) {
      const src = ((top + y) * width + left) * 3;
      out.set(rgb.subarray(src, src + side * 3), ((r * side + y) * outWidth + c * side) * 3);
    }
  }
  return { rgb: out, height: rows * side, width: outWidth };
}

export const usesProxy = (height, width) => height * width > C.PROXY_MIN_PIXELS && Math.min(height, width) >= C.TILE_SIDE;

/** `final.final_codec`'s speed for `scale` (null: the size table's own speed). */
export function finalSpeed(height, width, scale) {
  if (scale === 1) return PILLOW_AVIF_SPEED;
  const h = Math.ceil(height / scale);
  const w = Math.ceil(width / scale);
  for (const [maxPixels, speed] of C.FINAL_SPEED_BY_PIXELS) if (h * w <= maxPixels) return Math.min(speed, avifSpeedFor(h, w));
  return avifSpeedFor(h, w);
}

// ------------------------------------------------------------------------------------------ session

/**
 * Every encode and bicubic decode of one image, each done once (`session.Session`). `builder` makes
 * bitstreams and payloads: {height, width, rgb, bitstream(scale, quality, speed, sender), pack(route, bitstream),
 * bicubicPsnr(scale, bitstream)}; `speedFor(scale)` is the libavif speed each scale is coded at.
 */
export class Session {
  constructor(builder, gains, speedFor, twin = null) {
    this.builder = builder;
    this.gains = gains;
    this.speedFor = speedFor;
    this.twin = twin;
    this.height = builder.height;
    this.width = builder.width;
    this.bitstreams = new Map();
    this.payloads = new Map();
    this.bicubic = new Map();
  }

  get encodes() {
    return this.bitstreams.size + (this.twin ? this.twin.encodes : 0);
  }

  bitstream(scale, quality, sender = 'bicubic') {
    const key = `${scale}/${sender}/${quality}`;
    if (!this.bitstreams.has(key)) this.bitstreams.set(key, this.builder.bitstream(scale, quality, this.speedFor(scale), sender));
    return this.bitstreams.get(key);
  }

  payload(route, quality) {
    const key = `${route.key}/${quality}`;
    if (!this.payloads.has(key)) {
      this.payloads.set(key, this.bitstream(route.scale, quality, route.sender).then((b) => this.builder.pack(route, b)));
    }
    return this.payloads.get(key);
  }

  async size(route, quality) {
    return (await this.payload(route, quality)).length;
  }

  bicubicPsnr(scale, quality, sender = 'bicubic') {
    const key = `${scale}/${sender}/${quality}`;
    if (!this.bicubic.has(key)) {
      this.bicubic.set(key, this.bitstream(scale, quality, sender).then((b) => this.builder.bicubicPsnr(scale, b)));
    }
    return this.bicubic.get(key);
  }

  async lowResBpp(scale, quality, sender) {
    const h = Math.ceil(this.height / scale);
    const w = Math.ceil(this.width / scale);
    return (8 * (await this.bitstream(scale, quality, sender)).length) / (h * w);
  }

  curve(route) {
    return route.exact ? null : this.gains.get(route.modelId) ?? null;
  }

  async estimate(route, quality) {
    const base = await this.bicubicPsnr(route.scale, quality, route.sender);
    if (route.exact) return base;
    const curve = this.curve(route);
    return base + (curve ? curve.at(await this.lowResBpp(route.scale, quality, route.sender)) : 0);
  }

  async lowerBound(route, quality) {
    if (route.exact) return this.bicubicPsnr(route.scale, quality);
    const curve = this.curve(route);
    if (!curve) return (await this.bicubicPsnr(route.scale, quality, route.sender)) - C.UNCALIBRATED_MARGIN_DB;
    return (await this.estimate(route, quality)) - C.LOWER_BOUND_RESIDUALS * curve.residualDb;
  }
}

/** `session.quality_guess`. */
function qualityGuess(session, scale, budget) {
  const h = Math.ceil(session.height / scale);
  const w = Math.ceil(session.width / scale);
  const bpp = (8 * budget) / (h * w);
  return Math.trunc(Math.min(Math.max(30 + 30 * Math.log2(Math.max(bpp, 1e-6) / 0.25), C.Q_MIN), C.Q_MAX));
}

/** `session.top_quality`. */
export async function topQuality(session, route, budget, [lo, hi], guess = null) {
  if (budget === null) return hi;
  guess = guess ?? qualityGuess(session, route.scale, budget);
  const twin = session.twin;
  const size = (q) => session.size(route, q);
  if (twin && route.scale === 1) {
    const twinQ = await highestFitting((q) => twin.size(route, q), budget, lo, hi, guess);
    if (twinQ === null) return highestFitting(size, budget, lo, hi, lo);
    const ratio = (await session.size(route, twinQ)) / (await twin.size(route, twinQ));
    const predicted = await highestFitting(async (q) => ratio * (await twin.size(route, q)), budget, lo, hi, twinQ);
    return highestFitting(size, budget, lo, hi, predicted === null ? lo : predicted, [twinQ]);
  }
  return highestFitting(size, budget, lo, hi, guess);
}

/** `strategies.finalists_within` + `strategies.best_of` (fast mode). */
async function select(session, routes, budget, qrange) {
  const finalists = [];
  for (const route of routes) {
    const q = await topQuality(session, route, budget, qrange);
    if (q !== null) finalists.push([route, q]);
  }
  if (!finalists.length) return { chosen: null, finalists };
  if (finalists.length === 1) return { chosen: finalists[0], finalists };
  let anchor = -Infinity;
  for (const [r, q] of finalists) if (r.exact && r.scale === 1) anchor = Math.max(anchor, await session.bicubicPsnr(r.scale, q));
  let best = null;
  for (const f of finalists) {
    const [r, q] = f;
    if (!r.exact && (await session.lowerBound(r, q)) < anchor) continue;
    const key = [await session.estimate(r, q), -(await session.size(r, q))];
    if (best === null || key[0] > best.key[0] || (key[0] === best.key[0] && key[1] > best.key[1])) best = { f, key };
  }
  return { chosen: best.f, finalists };
}

/** `final.recode_slower`. */
async function recodeSlower(session, chosen, budget, qrange, finalSpeedFor, newSession) {
  const [route, q] = chosen;
  if (route.scale === 1 || finalSpeedFor(route.scale) === session.speedFor(route.scale)) return [chosen, session];
  const slow = newSession(finalSpeedFor);
  const cap = budget === null ? await session.size(route, q) : budget;
  const qSlow = await highestFitting((x) => slow.size(route, x), cap, qrange[0], qrange[1], q);
  if (qSlow === null || (await slow.size(route, qSlow)) > cap || (await slow.estimate(route, qSlow)) < (await session.estimate(route, q))) {
    return [chosen, session];
  }
  return [[route, qSlow], slow];
}

/**
 * `choose.choose` in fast mode for a byte budget. `routes`: [{scale, modelId, sender, exact, key}], largest
 * scale first. `full` and `proxy` make builders; returns {route, quality, payload, estimateDb, encodes}.
 */
export async function chooseForBudget({ full, proxy, routes, gains, budget, soft, maxBytes }) {
  const qrange = [C.Q_MIN, C.Q_MAX];
  const { height, width } = full;
  let chosen;
  let finalSession;
  let judge;
  if (proxy) {
    const share = (proxy.height * proxy.width) / (height * width);
    const proxySession = new Session(proxy, gains, (s) => null);
    const picked = await select(proxySession, routes, budget === null ? null : Math.max(1, Math.trunc(budget * share)), qrange);
    const twin = new Session(full, gains, () => null);
    const session = new Session(full, gains, (s) => finalSpeed(height, width, s), twin);
    chosen = picked.chosen;
    if (chosen === null) {
      let smallest = null;
      for (const r of routes) {
        const size = await proxySession.size(r, qrange[0]);
        if (smallest === null || size < smallest[0]) smallest = [size, r];
      }
      chosen = [smallest[1], qrange[0]];
    }
    if (budget !== null) {
      const fitting = await topQuality(session, chosen[0], budget, qrange, chosen[1]);
      chosen = fitting === null ? null : [chosen[0], fitting];
    }
    finalSession = session;
    judge = proxySession;
  } else {
    const twin = avifSpeedFor(height, width) !== PILLOW_AVIF_SPEED ? new Session(full, gains, () => null) : null;
    const session = new Session(full, gains, (s) => (s === 1 ? PILLOW_AVIF_SPEED : null), twin);
    ({ chosen } = await select(session, routes, budget, qrange));
    finalSession = session;
    if (chosen !== null) {
      [chosen, finalSession] = await recodeSlower(session, chosen, budget, qrange, (s) => finalSpeed(height, width, s),
        (speedFor) => new Session(full, gains, speedFor));
    }
    judge = finalSession;
  }
  if (chosen === null) {
    const candidates = [];
    for (const r of routes) candidates.push([await finalSession.size(r, qrange[0]), r]);
    candidates.sort((a, b) => a[0] - b[0]);
    if (soft) {
      chosen = [candidates[0][1], qrange[0]];
    } else {
      const { LimitExceededError } = await import('./errors.js');
      throw new LimitExceededError(
        `no setting fits in ${maxBytes} bytes: the smallest payload for this ${width} x ${height} image is ` +
          `${candidates[0][0]} bytes (scale ${candidates[0][1].scale}, avif quality ${qrange[0]})`,
      );
    }
  }
  const [route, quality] = chosen;
  const payload = await finalSession.payload(route, quality);
  const speed = finalSession.speedFor(route.scale) ?? avifSpeedFor(Math.ceil(height / route.scale), Math.ceil(width / route.scale));
  return { route, quality, payload, speed, estimateDb: await judge.estimate(route, quality), encodes: finalSession.encodes + (judge !== finalSession ? judge.encodes : 0) };
}

export function checkBudget(maxBytes) {
  if (maxBytes !== null && maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
    throw new InputImageError(`maxBytes must be null or a positive integer, got ${maxBytes}`);
  }
}
