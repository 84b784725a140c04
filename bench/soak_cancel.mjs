// Cancellation driver for bench/soak.sh: CONCURRENCY loops that each open a request and abort it
// (mid-stream, or before the response head), for SECONDS; prints a SOAK_CANCEL line with counts.
// Usage: node bench/soak_cancel.mjs URL SECONDS [CONCURRENCY]
import http from 'node:http';

const [url, seconds, concurrency = '8'] = process.argv.slice(2);
if (!url || !seconds) {
  console.error('usage: node bench/soak_cancel.mjs URL SECONDS [CONCURRENCY]');
  process.exit(2);
}
const deadline = Date.now() + Number(seconds) * 1000;
const counts = { mid_stream: 0, before_head: 0, completed: 0, errors: 0 };
const agent = new http.Agent({ keepAlive: false });

// soak-slow streams ~3 s of tokens; soak-latent waits 1 s before its head. Both get cut short.
function once(i) {
  const midStream = i % 3 !== 2;
  const body = JSON.stringify({
    model: midStream ? 'soak-slow' : 'soak-latent', stream: midStream,
    messages: [{ role: 'user', content: 'cancel me' }],
  });
  const cutAfter = midStream ? 100 + Math.random() * 1400 : 50 + Math.random() * 600;
  return new Promise((resolve) => {
    let timer;
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.on('data', () => {});
      res.on('end', () => { clearTimeout(timer); counts.completed++; resolve(); });
      res.on('error', () => {});
    });
    req.on('error', () => {}); // our own abort
    req.on('close', () => resolve());
    timer = setTimeout(() => {
      counts[midStream ? 'mid_stream' : 'before_head']++;
      req.destroy();
    }, cutAfter);
    req.end(body);
  });
}

async function loop(id) {
  for (let i = id; Date.now() < deadline; i += 1) {
    try { await once(i); } catch { counts.errors++; }
  }
}

await Promise.all(Array.from({ length: Number(concurrency) }, (_, id) => loop(id)));
console.log(`SOAK_CANCEL mid_stream=${counts.mid_stream} before_head=${counts.before_head} completed=${counts.completed} errors=${counts.errors}`);
