/**
 * The error classes of sr_codec, by the same names as the Python package (`sr_codec.errors`),
 * so a caller can branch on `error.name` the same way on both sides.
 */

/** Base class of every error the decoder raises. */
export class SrCodecError extends Error {
  /** @param {string} message @param {{cause?: unknown}} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The payload is not a valid sr_codec payload (truncated, corrupted, unknown version...). */
export class PayloadError extends SrCodecError {}

/** An input image cannot be read or has an unsupported shape or type. */
export class InputImageError extends SrCodecError {}

/** A configured limit (payload bytes, pixels...) would be exceeded. */
export class LimitExceededError extends SrCodecError {}

/** The super-resolution model cannot be loaded, or does not match what the payload expects. */
export class ModelError extends SrCodecError {}

/** The requested compute device is not available. */
export class DeviceError extends SrCodecError {}
