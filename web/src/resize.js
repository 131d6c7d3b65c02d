/**
 * Pillow's bicubic resize of 8-bit images (libImaging/Resample.c), integer for integer: the same
 * coefficients (Keys a = -0.5, support widened by the scale when shrinking), the same 22-bit
 * fixed-point rounding, the horizontal pass then the vertical one with a uint8 image in between.
 * `sr_codec` uses it for plain bicubic (model tag 0) and for the low-res alpha plane.
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const SUPPORT = 2.0;

function bicubic(x) {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/** Per output index: [first input index, integer coefficients]. Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = SUPPORT * filterScale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(count);
    let ww = 0.0;
    for (let x = 0; x < count; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    const ints = new Int32Array(count);
    for (let x = 0; x < count; x++) {
      const v = ww !== 0.0 ? k[x] / ww : k[x];
      ints[x] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5);
    }
    out.push([xmin, ints]);
  }
  return out;
}

const clip8 = (ss) => {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resize an interleaved uint8 image (height x width x channels) to outHeight x outWidth, as
 * `PIL.Image.resize(..., Image.BICUBIC)` does.
 * @param {Uint8Array | Uint8ClampedArray} src @returns {Uint8Array}
 */
export function resizeBicubic(src, height, width, channels, outHeight, outWidth) {
  let image = src;
  let w = width;
  if (outWidth !== width) {
    const coeffs = coefficients(width, outWidth);
    const tmp = new Uint8Array(height * outWidth * channels);
    for (let y = 0; y < height; y++) {
      const row = y * width * channels;
      for (let x = 0; x < outWidth; x++) {
        const [xmin, k] = coeffs[x];
        for (let c = 0; c < channels; c++) {
          let ss = HALF;
          for (let i = 0; i < k.length; i++) ss += image[row + (xmin + i) * channels + c] * k[i];
          tmp[(y * outWidth + x) * channels + c] = clip8(ss);
        }
      }
    }
    image = tmp;
    w = outWidth;
  }
  if (outHeight !== height) {
    const coeffs = coefficients(height, outHeight);
    const tmp = new Uint8Array(outHeight * w * channels);
    const stride = w * channels;
    for (let y = 0; y < outHeight; y++) {
      const [ymin, k] = coeffs[y];
      for (let x = 0; x < stride; x++) {
        let ss = HALF;
        for (let i = 0; i < k.length; i++) ss += image[(ymin + i) * stride + x] * k[i];
        tmp[y * stride + x] = clip8(ss);
      }
    }
    image = tmp;
  }
  return image === src ? Uint8Array.from(src) : image;
}

/**
 * sr_codec.downsample.downsample: edge-replicate bottom/right up to a multiple of `scale`, then the
 * antialiased bicubic shrink. Used by the preview for a full-resolution alpha plane.
 */
export function downsample(src, height, width, channels, scale) {
  if (scale === 1) return Uint8Array.from(src);
  const ph = Math.ceil(height / scale) * scale;
  const pw = Math.ceil(width / scale) * scale;
  const padded = new Uint8Array(ph * pw * channels);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, height - 1);
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(x, width - 1);
      for (let c = 0; c < channels; c++) padded[(y * pw + x) * channels + c] = src[(sy * width + sx) * channels + c];
    }
  }
  return resizeBicubic(padded, ph, pw, channels, ph / scale, pw / scale);
}
