/**
 * The alpha plane of an RGBA payload, like `sr_codec.codecs.alpha.encode_alpha`: a constant plane as its
 * value; otherwise a lossless WebP of the plane (PNG when a side exceeds WebP's 16383 px) at low
 * resolution (shrunk like the RGB) and at full resolution, and the smaller of the two is kept.
 *
 * The browser's own encoder writes the file (`OffscreenCanvas.convertToBlob`, WebP at quality 1, which
 * Chromium codes losslessly; the result is decoded back and checked, and PNG is used if it is not exact).
 * The bytes differ from Pillow's libwebp `method=4`, the decoded plane does not.
 */

import { downsample } from './resize.js';

export const WEBP_MAX_SIDE = 16383;

async function planeFile(plane, height, width, type) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const image = context.createImageData(width, height);
  for (let i = 0, j = 0; i < plane.length; i++, j += 4) {
    image.data[j] = image.data[j + 1] = image.data[j + 2] = plane[i];
    image.data[j + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  const blob = await canvas.convertToBlob(type === 'image/webp' ? { type, quality: 1 } : { type });
  if (blob.type !== type) return null;
  return new Uint8Array(await blob.arrayBuffer());
}

async function isExact(file, plane, height, width) {
  const bitmap = await createImageBitmap(new Blob([file]), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = context.getImageData(0, 0, width, height).data;
  for (let i = 0, j = 0; i < plane.length; i++, j += 4) if (data[j] !== plane[i] || data[j + 1] !== plane[i]) return false;
  return true;
}

/** A lossless grey image file of `plane` (uint8, height x width). */
export async function losslessPlane(plane, height, width) {
  if (Math.max(height, width) <= WEBP_MAX_SIDE) {
    const webp = await planeFile(plane, height, width, 'image/webp');
    if (webp && (await isExact(webp, plane, height, width))) return webp;
  }
  return planeFile(plane, height, width, 'image/png');
}

/** @returns {Promise<number | Uint8Array>} the payload's alpha field for `alpha` (height x width) at `scale`. */
export async function encodeAlpha(alpha, height, width, scale) {
  const first = alpha[0];
  if (alpha.every((v) => v === first)) return first;
  const lowHeight = Math.ceil(height / scale);
  const lowWidth = Math.ceil(width / scale);
  const low = await losslessPlane(downsample(alpha, height, width, 1, scale), lowHeight, lowWidth);
  if (scale === 1) return low;
  const full = await losslessPlane(alpha, height, width);
  return full.length <= low.length ? full : low;
}
