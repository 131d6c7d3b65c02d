// Node unit tests of the decoder's pure parts (no browser): `npm test` in web/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../src/crc32.js';
import { LimitExceededError, PayloadError } from '../src/errors.js';
import { Limits } from '../src/limits.js';
import { unpack } from '../src/payload.js';
import { resizeBicubic } from '../src/resize.js';

// docs/format.md, "Worked example": 768 x 512, x4, AVIF, tag 0x1a2b3c4d, a 3-byte bitstream "AV1", RGB.
const WORKED_EXAMPLE = Uint8Array.from([
  0x01, 0xcd, 0x03, 0x00, 0xcd, 0x02, 0x00, 0x04, 0x00, 0xce, 0x1a, 0x2b, 0x3c, 0x4d,
  0xc4, 0x03, 0x41, 0x56, 0x31, 0xc0, 0x9c, 0xc0, 0x8d, 0x36,
]);

test('crc32 is zlib.crc32', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(WORKED_EXAMPLE.subarray(0, 20)), 0x9cc08d36);
});

test('the worked example of docs/format.md parses field by field', () => {
  const p = unpack(WORKED_EXAMPLE);
  assert.deepEqual([p.width, p.height, p.scale, p.innerCodec, p.modelTag, p.alpha], [768, 512, 4, 0, 0x1a2b3c4d, null]);
  assert.equal(new TextDecoder().decode(p.inner), 'AV1');
});

test('every single-bit flip and every truncation is a PayloadError', () => {
  for (let bit = 0; bit < WORKED_EXAMPLE.length * 8; bit++) {
    const damaged = WORKED_EXAMPLE.slice();
    damaged[bit >> 3] ^= 0x80 >> (bit & 7);
    assert.throws(() => unpack(damaged), (e) => e instanceof PayloadError && e.name === 'PayloadError');
  }
  for (let cut = 0; cut < WORKED_EXAMPLE.length; cut++) {
    assert.throws(() => unpack(WORKED_EXAMPLE.subarray(0, cut)), PayloadError);
  }
});

test('limits are LimitExceededError, checked before parsing', () => {
  assert.throws(() => unpack(WORKED_EXAMPLE, new Limits({ maxPayloadBytes: 10 })), LimitExceededError);
  assert.throws(() => unpack(WORKED_EXAMPLE, new Limits({ maxInnerBytes: 2 })), LimitExceededError);
});

test('bicubic x2 of a constant image is that constant', () => {
  const out = resizeBicubic(new Uint8Array(3 * 5 * 3).fill(77), 3, 5, 3, 6, 10);
  assert.ok(out.every((v) => v === 77));
});
