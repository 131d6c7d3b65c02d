// The chat page: sends photos to the server (which stores only the sr_codec payload) and shows every
// message of the room by fetching only its payload bytes and decoding them here, in the browser.
import { Decoder, toRGBA } from '/web/index.js';

const room = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || 'lobby');
const decoder = new Decoder({ manifestUrl: '/models/web_manifest.json', wasmBaseUrl: '/node_modules/@litertjs/core/wasm/' });
const list = document.getElementById('messages');
const statusLine = document.getElementById('send-status');
const kb = (n) => (n == null ? '–' : n < 10_000 ? `${n.toLocaleString('en')} B` : `${(n / 1000).toFixed(1)} KB`);

/** Decoded images by message id, for tests that read the pixels back. */
window.srDecoded = {};
document.getElementById('room-name').textContent = `· ${room}`;
decoder.accelerator().then((a) => { document.getElementById('accelerator').textContent = a === 'webgpu' ? 'WebGPU' : 'WebAssembly'; });

const budget = document.getElementById('budget');
budget.addEventListener('input', () => { document.getElementById('budget-value').textContent = budget.value; });

document.getElementById('send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = document.getElementById('photo').files[0];
  const sender = document.getElementById('sender').value;
  if (!file) return;
  statusLine.className = '';
  statusLine.textContent = `Coding ${file.name} (${kb(file.size)}) in at most ${budget.value} bytes…`;
  const url = `/api/rooms/${encodeURIComponent(room)}/messages?sender=${encodeURIComponent(sender)}&max_bytes=${budget.value}`;
  try {
    const response = await fetch(url, { method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' } });
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || body.detail?.[0]?.msg || `HTTP ${response.status}`);
    statusLine.textContent = `Sent: ${kb(body.payload_bytes)} instead of ${kb(body.original_bytes)}.`;
  } catch (error) {
    statusLine.className = 'error';
    statusLine.textContent = `Not sent: ${error.message}`;
  }
  poll();
});

function draw(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(new ImageData(toRGBA(image), image.width, image.height), 0, 0);
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
    const image = await decoder.decode(bytes);
    draw(canvas, image);
    window.srDecoded[message.id] = image;
    item.dataset.state = 'decoded';
    state.textContent = `${image.width}×${image.height}, ×${info.scale} ${info.inner.toUpperCase()} + ${image.modelId}`;
    const rows = [
      ['received (sr_codec payload)', bytes.length],
      ['original file', message.original_bytes],
      ['AVIF, same quality', message.avif_bytes],
      ['JPEG, same quality', message.jpeg_bytes],
    ];
    item.querySelector('table').innerHTML = rows.map(([label, n]) =>
      `<tr><td>${label}</td><td class="num">${kb(n)}</td><td class="num">${n && n !== bytes.length ? (n / bytes.length).toFixed(1) + '× the payload' : ''}</td></tr>`).join('') +
      `<tr><td>quality (RGB PSNR vs original)</td><td class="num">${message.psnr_db ? message.psnr_db.toFixed(2) + ' dB' : '–'}</td><td></td></tr>` +
      `<tr><td>decode time in this browser</td><td class="num">${image.timings.totalMs.toFixed(0)} ms</td><td></td></tr>`;
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
