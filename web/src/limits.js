/** Resource limits, the same names and defaults as `sr_codec.Limits` (docs/format.md, "Limits"). */

import { InputImageError, LimitExceededError } from './errors.js';

const MiB = 1 << 20;

export class Limits {
  /**
   * @param {{maxPayloadBytes?: number, maxInnerBytes?: number, maxPixels?: number, maxExtensionBytes?: number}} [options]
   */
  constructor({
    maxPayloadBytes = 64 * MiB,
    maxInnerBytes = 64 * MiB,
    maxPixels = 50_000_000,
    maxExtensionBytes = 64 * 1024,
  } = {}) {
    for (const [name, value] of Object.entries({ maxPayloadBytes, maxInnerBytes, maxPixels, maxExtensionBytes })) {
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw new InputImageError(`Limits.${name} must be a positive integer, got ${value}`);
      }
    }
    this.maxPayloadBytes = maxPayloadBytes;
    this.maxInnerBytes = maxInnerBytes;
    this.maxPixels = maxPixels;
    this.maxExtensionBytes = maxExtensionBytes;
    Object.freeze(this);
  }

  /** @param {number} size */
  checkPayloadBytes(size) {
    if (size > this.maxPayloadBytes) {
      throw new LimitExceededError(`payload is ${size} bytes; the limit is ${this.maxPayloadBytes}`);
    }
  }

  /** @param {number} height @param {number} width @param {string} [what] */
  checkPixels(height, width, what = 'image') {
    if (height * width > this.maxPixels) {
      throw new LimitExceededError(
        `${what} is ${width} x ${height} = ${width * height} pixels; the limit is ${this.maxPixels}`,
      );
    }
  }
}

export const DEFAULT_LIMITS = new Limits();

/** @param {Limits | null | undefined} limits */
export function resolveLimits(limits) {
  if (limits == null) return DEFAULT_LIMITS;
  if (!(limits instanceof Limits)) throw new InputImageError('limits must be a Limits or null');
  return limits;
}
