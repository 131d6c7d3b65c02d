// The chat page. Sending: this browser codes the photo (the JS encoder, WebAssembly) and uploads only the
// sr_codec payload; the server checks it and relays it, and never receives the photo. Then, in the background,
// this browser measures the comparison shown to everyone: the payload's decoded PSNR against the photo and the
// smallest whole-image AVIF reaching it, coded at the same libavif speed as the payload's own AVIF.
// Receiving: every message's payload is fetched and decoded here, in the look chosen at the top (faithful: the
// payload's own model; sharp: its sharp twin where one is shipped): switching it re-decodes the shown messages here.
import { Decoder, Encoder, decodePixels, encodeAvifFile, psnr, toRGBA } from '/web/index.js';

const room = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || 'lobby');
const manifestUrl = '/models/web_manifest.json';
const wasmBaseUrl = '/node_modules/@litertjs/core/wasm/';
const decoder = new Decoder({ manifestUrl, wasmBaseUrl });
const encoder = new Encoder({ manifestUrl, wasmBaseUrl });
const list = document.getElementById('messages');
const statusLine = document.getElementById('send-status');
const kb = (n) => (n == null ? '–' : n < 10_000 ? `${n.toLocaleString('en')} B` : `${(n / 1000).toFixed(1)} KB`);

/** Decoded images by message id, for tests that read the pixels back. */
window.srDecoded = {};
/** What this tab sent: {clientId, payloadBytes, originalBytes, encodeMs, ...}, for tests. */
window.srSent = [];
document.getElementById('room-name').textContent = `· ${room}`;
decoder.accelerator().then((a) => { document.getElementById('accelerator').textContent = a === 'webgpu' ? 'WebGPU' : 'WebAssembly'; });

/** The look every message is shown in; messages on the page, by id, for re-decoding when it changes. */
let look = document.querySelector('#look input:checked')?.value || 'faithful';
/** @type {Map<number, {item: HTMLElement, canvas: HTMLCanvasElement, state: HTMLElement, message: object, bytes: Uint8Array, info: object}>} */
const shown = new Map();
document.getElementById('look').addEventListener('change', (event) => {
  if (event.target.name !== 'look' || event.target.value === look) return;
  look = event.target.value;
  for (const entry of shown.values()) render(entry).catch(() => {}); // render shows its own errors
});

const budget = document.getElementById('budget');
budget.addEventListener('input', () => { document.getElementById('budget-value').textContent = budget.value; });

async function upload(payload, file, sender, clientId) {
  const url = `/api/rooms/${encodeURIComponent(room)}/messages?sender=${encodeURIComponent(sender)}` +
    `&original_bytes=${file.size}&client_id=${clientId}`;
  for (let attempt = 1; ; attempt++) { // a retry carries the same client_id: the server stores the message once
    try {
      const response = await fetch(url, { method: 'POST', body: payload, headers: { 'Content-Type': 'application/octet-stream' } });
      const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      if (!response.ok) throw Object.assign(new Error(body.error || body.detail?.[0]?.msg || `HTTP ${response.status}`), { final: true });
      return body;
    } catch (error) {
      if (error.final || attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/** RGB PSNR of the payload's decode against the photo, and the smallest whole-image AVIF at `speed` reaching it. */
async function compare(messageId, payload, image, speed) {
  const decoded = await decoder.decode(payload);
  const rgb = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += decoded.channels) rgb.set(decoded.data.subarray(j, j + 3), i);
  const target = psnr(image.rgb, rgb);
  if (!Number.isFinite(target)) return;
  let low = 0; let high = 100; let best = null;
  while (low <= high) { // PSNR grows with quality (near enough): a bisection of ~7 encodes
    const quality = (low + high) >> 1;
    const file = await encodeAvifFile(image.rgb, image.height, image.width, quality, speed);
    const { rgba } = await decodePixels('avif', file);
    const back = new Uint8Array(rgb.length);
    for (let i = 0, j = 0; i < back.length; i += 3, j += 4) { back[i] = rgba[j]; back[i + 1] = rgba[j + 1]; back[i + 2] = rgba[j + 2]; }
    if (psnr(image.rgb, back) >= target) { best = file.length; high = quality - 1; } else { low = quality + 1; }
  }
  const query = new URLSearchParams({ psnr_db: target.toFixed(3), avif_speed: speed });
  if (best !== null) query.set('avif_bytes', best);
  await fetch(`/api/messages/${messageId}/comparison?${query}`, { method: 'POST' });
}

document.getElementById('send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = document.getElementById('photo').files[0];
  const sender = document.getElementById('sender').value;
  if (!file) return;
  statusLine.className = '';
  statusLine.textContent = `Coding ${file.name} (${kb(file.size)}) in at most ${budget.value} bytes, in this browser…`;
  const clientId = crypto.randomUUID();
  try {
    const started = performance.now();
    const report = await encoder.encodeWithReport(file, { maxBytes: Number(budget.value) });
    const encodeMs = performance.now() - started;
    const body = await upload(report.payload, file, sender, clientId);
    window.srSent.push({ clientId, id: body.id, payloadBytes: report.payload.length, originalBytes: file.size, encodeMs,
                         scale: report.scale, quality: report.quality, avifSpeed: report.avifSpeed });
    statusLine.textContent = `Sent: uploaded ${kb(body.payload_bytes)} (the original file is ${kb(file.size)}); ` +
      `coded here in ${encodeMs.toFixed(0)} ms, x${report.scale} AVIF q${report.quality}.` +
      (report.warnings.length ? ` Note: ${report.warnings.join(' ')}` : '');
    compare(body.id, report.payload, report.image, report.avifSpeed)
      .catch(() => {}) // the comparison is optional: the message is sent
      .finally(() => { window.srCompared = (window.srCompared || 0) + 1; });
  } catch (error) {
    statusLine.className = 'error';
    statusLine.textContent = `Not sent: ${error.name && error.name !== 'Error' ? `${error.name}: ` : ''}${error.message}`;
  }
  poll();
});

function draw(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(new ImageData(toRGBA(image), image.width, image.height), 0, 0);
}

function table(item, message, payloadBytes, image) {
  const ratio = (n) => (n && n !== payloadBytes ? `${(n / payloadBytes).toFixed(1)}× the payload` : '');
  const avifLabel = message.avif_speed == null ? 'AVIF, same quality' : `AVIF, same quality (libavif speed ${message.avif_speed}, as the payload)`;
  const rows = [
    ['uploaded and received (sr_codec payload)', payloadBytes],
    ['original file (never uploaded)', message.original_bytes],
    [avifLabel, message.avif_bytes],
  ];
  item.querySelector('table').innerHTML = rows.map(([label, n]) =>
    `<tr><td>${label}</td><td class="num">${kb(n)}</td><td class="num">${ratio(n)}</td></tr>`).join('') +
    `<tr><td>quality (RGB PSNR vs original, measured by the sender)</td><td class="num">${message.psnr_db ? message.psnr_db.toFixed(2) + ' dB' : 'measuring…'}</td><td></td></tr>` +
    `<tr><td>decode time in this browser</td><td class="num">${image.timings.totalMs.toFixed(0)} ms</td><td></td></tr>`;
}

async function refreshComparison(entry) {
  table(entry.item, entry.message, entry.bytes.length, entry.image);
  for (let i = 0; i < 120 && entry.message.psnr_db == null; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await fetch(`/api/messages/${entry.message.id}`);
    if (response.ok) entry.message = await response.json();
  }
  table(entry.item, entry.message, entry.bytes.length, entry.image); // the latest decode (the look may have changed)
  entry.item.dataset.compared = entry.message.psnr_db == null ? 'no' : 'yes';
}

/** Decode `entry`'s payload in the current look and draw it; a result of a look switched away from is dropped. */
async function render(entry) {
  const { item, canvas, state, message, bytes, info } = entry;
  const wanted = look;
  let image;
  try {
    image = await decoder.decode(bytes, { look: wanted });
  } catch (error) {
    if (wanted !== look) return;
    item.dataset.state = 'error';
    state.className = 'state error';
    state.textContent = `cannot decode: ${error.name}: ${error.message}`;
    return;
  }
  if (wanted !== look) return; // another switch is rendering this message
  draw(canvas, image);
  window.srDecoded[message.id] = image;
  item.dataset.state = 'decoded';
  item.dataset.look = wanted;
  state.className = 'state';
  state.textContent = `${image.width}×${image.height}, ×${info.scale} ${info.inner.toUpperCase()} + ${image.modelId}` +
    (image.look !== 'faithful' ? ` (${image.look} look)` : wanted !== 'faithful' ? ` (no ${wanted} twin: faithful look)` : '');
  entry.image = image;
  if (!entry.refreshing) { // the first decode: wait for the sender's comparison numbers
    entry.refreshing = true;
    refreshComparison(entry);
  } else {
    table(item, entry.message, bytes.length, image);
  }
}

async function show(message) {
  const item = document.createElement('article');
  item.className = 'message';
  item.dataset.id = message.id;
  item.dataset.state = 'loading';
  item.innerHTML = `<div><span class="who"></span><span class="when"></span></div><canvas></canvas>
    <div class="state">fetching payload…</div><table></table>`;
  item.querySelector('.who').textContent = message.sender;
  item.querySelector('.when').textContent = new Date(message.created).toLocaleTimeString();
  list.append(item);
  list.scrollTop = list.scrollHeight;
  const canvas = item.querySelector('canvas');
  const state = item.querySelector('.state');
  try {
    const response = await fetch(`/api/messages/${message.id}/payload`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const preview = await decoder.decodePreview(bytes);
    const info = await decoder.inspect(bytes);
    canvas.width = info.width; canvas.height = info.height;
    canvas.getContext('2d').drawImage(await createImageBitmap(new ImageData(toRGBA(preview), preview.width, preview.height)),
      0, 0, info.width, info.height);
    item.dataset.state = 'preview';
    state.textContent = `preview ${preview.width}×${preview.height}; super-resolving ×${info.scale}…`;
    const entry = { item, canvas, state, message, bytes, info };
    shown.set(message.id, entry);
    await render(entry);
  } catch (error) {
    item.dataset.state = 'error';
    state.className = 'state error';
    state.textContent = `cannot decode: ${error.name}: ${error.message}`;
  }
}

let lastId = 0;
let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/messages?after=${lastId}`);
    if (response.ok) {
      for (const message of await response.json()) {
        lastId = Math.max(lastId, message.id);
        await show(message);
      }
    }
  } catch { /* the next poll retries */ } finally {
    polling = false;
  }
}
poll();
setInterval(poll, 1000);
