// A fake content classifier: the SPEC webhook protocol (one behaviour per path: allow, block,
// error, hang, auto) and OpenAI's POST /v1/moderations in its real response shape. Strict: a
// malformed request gets a 400, a moderation call without a bearer key a 401, as the real API does.
import http from 'node:http';

const MODERATION_CATEGORIES = [
  'harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
  'self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'sexual/minors', 'violence',
  'violence/graphic',
];

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function openaiError(res, status, message, type, code = null) {
  json(res, status, { error: { message, type, param: null, code } });
}

// One moderation result per input, flagged when the text threatens someone.
function moderationResult(text) {
  const threat = /\bI will hurt you\b/i.test(text);
  const categories = {};
  const scores = {};
  const applied = {};
  for (const c of MODERATION_CATEGORIES) {
    const on = threat && (c === 'violence' || c === 'harassment/threatening' || c === 'harassment');
    categories[c] = on;
    scores[c] = on ? 0.91 : 0.00012;
    applied[c] = ['text'];
  }
  return { flagged: threat, categories, category_scores: scores, category_applied_input_types: applied };
}

function answerWebhook(behaviour, body, res, hung) {
  const valid = body && typeof body === 'object' && ['input', 'output'].includes(body.stage) &&
    typeof body.text === 'string' && typeof body.model === 'string' && typeof body.tenant === 'string';
  if (!valid) return json(res, 400, { error: 'expected {stage, text, model, tenant}' });
  switch (behaviour) {
    case 'allow': return json(res, 200, { allow: true, reason: '' });
    case 'block': return json(res, 200, { allow: false, reason: 'off-topic' });
    case 'error': return json(res, 500, { error: 'classifier crashed' });
    case 'hang': hung.push(res); return undefined; // answered never (closed with the server)
    case 'auto': {
      // Blocks "forbidden", replaces "secret-word" per segment, allows the rest.
      if (/forbidden/i.test(body.text)) return json(res, 200, { allow: false, reason: 'forbidden topic' });
      const texts = Array.isArray(body.texts) ? body.texts : [body.text];
      if (texts.some((t) => t.includes('secret-word'))) {
        return json(res, 200, { allow: true, reason: 'classified', texts: texts.map((t) => t.replaceAll('secret-word', '[CLASSIFIED]')) });
      }
      return json(res, 200, { allow: true });
    }
    default: return json(res, 404, { error: `unknown behaviour ${behaviour}` });
  }
}

/** Start the classifier on 127.0.0.1:0. `calls` records {path, body, headers}. `key` is the moderation key. */
export async function startClassifier({ key = 'mod-key-1' } = {}) {
  const calls = [];
  const hung = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body;
      try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
      calls.push({ path: req.url, body, headers: req.headers });
      if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return json(res, 415, { error: 'application/json only' });
      }
      if (req.url === '/v1/moderations') {
        if (req.headers.authorization !== `Bearer ${key}`) {
          return openaiError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
        }
        if (!body || typeof body.model !== 'string') {
          return openaiError(res, 400, "you must provide a model parameter", 'invalid_request_error');
        }
        const inputs = typeof body.input === 'string' ? [body.input]
          : Array.isArray(body.input) && body.input.every((s) => typeof s === 'string') ? body.input : null;
        if (!inputs || inputs.length === 0) {
          return openaiError(res, 400, "'input' is a required property", 'invalid_request_error');
        }
        return json(res, 200, {
          id: `modr-${Math.random().toString(16).slice(2)}`,
          model: body.model,
          results: inputs.map(moderationResult),
        });
      }
      const m = /^\/check\/(\w+)$/.exec(req.url);
      if (!m) return json(res, 404, { error: `unknown path ${req.url}` });
      return answerWebhook(m[1], body, res, hung);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    port,
    calls,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => {
      for (const res of hung) res.destroy();
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}
