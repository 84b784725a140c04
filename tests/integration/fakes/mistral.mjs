// A strict fake of Mistral's API: strict schema, 9-character tool call ids, usage-last streams.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

const CHAT_FIELDS = new Set(['model', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop',
  'random_seed', 'metadata', 'messages', 'response_format', 'tools', 'tool_choice',
  'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls', 'prompt_mode',
  'safe_prompt']);
const EMBEDDING_FIELDS = new Set(['model', 'input', 'encoding_format', 'output_dimension', 'output_dtype', 'metadata']);
const MESSAGE_FIELDS = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'prefix']),
  tool: new Set(['role', 'content', 'tool_call_id', 'name']),
};
const TOOL_ID = /^[a-zA-Z0-9]{9}$/;
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

class ApiError extends Error {
  constructor(status, body) { super(typeof body.message === 'string' ? body.message : 'error'); this.status = status; this.body = body; }
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function flatError(message, type = 'invalid_request_error') {
  return { object: 'error', message, type, param: null, code: null };
}

// Mistral's 422 for schema violations: the message is pydantic's detail list.
function unprocessable(loc, type, msg, input) {
  return new ApiError(422, flatError({ detail: [{ type, loc: ['body', ...loc], msg, input }] }));
}

function badRequest(message) {
  return new ApiError(400, flatError(message));
}

const words = (s) => String(s ?? '').split(/\s+/).filter(Boolean);

function textOf(content) {
  if (typeof content === 'string') return content;
  return Array.isArray(content) ? content.map((p) => p.text ?? '').join(' ') : '';
}

function toolId() {
  return Array.from(randomBytes(9), (b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
}

function validateChat(body) {
  for (const [key, value] of Object.entries(body)) {
    if (!CHAT_FIELDS.has(key)) throw unprocessable([key], 'extra_forbidden', 'Extra inputs are not permitted', value);
  }
  if (typeof body.model !== 'string') throw unprocessable(['model'], 'missing', 'Field required', body);
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw unprocessable(['messages'], 'missing', 'Field required', body);
  body.messages.forEach((m, i) => {
    const allowed = MESSAGE_FIELDS[m.role];
    if (!allowed) throw unprocessable(['messages', i, 'role'], 'literal_error', "Input should be 'system', 'user', 'assistant' or 'tool'", m.role);
    for (const [key, value] of Object.entries(m)) {
      if (!allowed.has(key)) throw unprocessable(['messages', i, m.role, key], 'extra_forbidden', 'Extra inputs are not permitted', value);
    }
    for (const call of m.tool_calls ?? []) {
      if (!TOOL_ID.test(call.id ?? '')) throw badRequest(`Tool call id was ${call.id} but must be a-z, A-Z, 0-9, with a length of 9.`);
    }
    if (m.role === 'tool' && !TOOL_ID.test(m.tool_call_id ?? '')) {
      throw badRequest(`Tool call id was ${m.tool_call_id} but must be a-z, A-Z, 0-9, with a length of 9.`);
    }
  });
  if (body.tool_choice !== undefined && typeof body.tool_choice === 'string' &&
      !['auto', 'none', 'any', 'required'].includes(body.tool_choice)) {
    throw unprocessable(['tool_choice'], 'enum', "Input should be 'auto', 'none', 'any' or 'required'", body.tool_choice);
  }
}

function chat(res, body, { cutAfter }) {
  validateChat(body);
  let lastUser = '';
  for (let i = body.messages.length - 1; i >= 0; i--) {
    if (body.messages[i].role === 'user') { lastUser = textOf(body.messages[i].content); break; }
  }
  const last = body.messages[body.messages.length - 1];
  const tools = (body.tools ?? []).filter((t) => t.type === undefined || t.type === 'function');
  const mustCall = body.tool_choice === 'any' || body.tool_choice === 'required';
  const callTool = tools.length && body.tool_choice !== 'none' && last.role === 'user' && (mustCall || /use the tool/i.test(lastUser));
  let reply = last.role === 'tool' ? `fake: tool said ${textOf(last.content)}` : `fake: ${lastUser}`;
  let finish = 'stop';
  if (body.max_tokens && words(reply).length > body.max_tokens) {
    reply = words(reply).slice(0, body.max_tokens).join(' ');
    finish = 'length';
  }
  const toolCalls = callTool
    ? [{ id: toolId(), type: 'function', function: { name: tools[0].function.name, arguments: JSON.stringify({ query: lastUser }) }, index: 0 }]
    : undefined;
  if (toolCalls) finish = 'tool_calls';
  const prompt = body.messages.reduce((n, m) => n + words(textOf(m.content)).length, 0);
  const completion = toolCalls ? 5 : words(reply).length;
  const usage = { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion };
  const id = randomBytes(16).toString('hex');
  const created = Math.floor(Date.now() / 1000);
  const n = body.n ?? 1;
  if (!body.stream) {
    const payload = {
      id, object: 'chat.completion', model: body.model, usage, created,
      choices: Array.from({ length: n }, (_, index) => ({
        index, finish_reason: finish,
        message: { role: 'assistant', content: toolCalls ? '' : reply, tool_calls: toolCalls ?? null, prefix: false },
      })),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    if (cutAfter !== undefined) {
      const text = JSON.stringify(payload);
      res.write(text.slice(0, text.length >> 1));
      return cutConnection(res);
    }
    return res.end(JSON.stringify(payload));
  }
  const chunk = (delta, finishReason, extra = {}) => ({
    id, object: 'chat.completion.chunk', created, model: body.model,
    choices: Array.from({ length: n }, (_, index) => ({ index, delta, finish_reason: finishReason })), ...extra,
  });
  const events = [chunk({ role: 'assistant', content: '' }, null)];
  if (toolCalls) {
    events.push(chunk({ tool_calls: toolCalls }, null));
  } else {
    words(reply).forEach((w, i) => events.push(chunk({ content: (i ? ' ' : '') + w }, null)));
  }
  // No stream_options: usage always rides on the last chunk, beside finish_reason.
  events.push(chunk({ content: '' }, finish, { usage }));
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for (const [i, event] of events.entries()) {
    if (cutAfter !== undefined && i >= cutAfter) return cutConnection(res);
    res.write(`data: ${JSON.stringify(event)}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}

function embeddings(res, body) {
  for (const [key, value] of Object.entries(body)) {
    if (!EMBEDDING_FIELDS.has(key)) throw unprocessable([key], 'extra_forbidden', 'Extra inputs are not permitted', value);
  }
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  if (body.input === undefined || inputs.some((s) => typeof s !== 'string')) throw unprocessable(['input'], 'string_type', 'Input should be a valid string', body.input);
  const dims = body.output_dimension ?? 8;
  const data = inputs.map((text, index) => {
    const digest = createHash('sha256').update(text).digest();
    const vector = Array.from({ length: dims }, (_, k) => (digest[k % digest.length] - 128) / 128);
    const embedding = body.encoding_format === 'base64'
      ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', embedding, index };
  });
  const tokens = inputs.reduce((n, s) => n + words(s).length, 0);
  send(res, 200, { id: randomBytes(16).toString('hex'), object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 } });
}

/**
 * Start the fake. Every request is recorded in `requests` as {method, url, headers, body}.
 * Faults: `x-fake-status: N` answers N in Mistral's flat error shape; `x-fake-cut-after: N`
 * destroys the socket after N SSE events (a whole body is cut in half).
 */
export async function startFakeMistral({ port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body;
      try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, raw });
      try {
        if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
          return send(res, 401, { message: 'Unauthorized', request_id: randomBytes(8).toString('hex') });
        }
        const status = Number(req.headers['x-fake-status'] ?? 0);
        if (status >= 400) {
          return send(res, status, flatError(status === 429 ? 'Requests rate limit exceeded' : `fake failure ${status}`,
            status === 429 ? 'rate_limited' : 'internal_server_error'));
        }
        const path = new URL(req.url, 'http://fake').pathname;
        if (req.method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/v1/embeddings')) {
          return send(res, 404, { detail: 'Not Found' });
        }
        if (body === undefined || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Invalid JSON body');
        const cutAfter = req.headers['x-fake-cut-after'] === undefined ? undefined : Number(req.headers['x-fake-cut-after']);
        if (path === '/v1/embeddings') return embeddings(res, body);
        return chat(res, body, { cutAfter });
      } catch (err) {
        if (err instanceof ApiError) return send(res, err.status, err.body);
        return send(res, 500, flatError(String(err?.message ?? err), 'internal_server_error'));
      }
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const bound = server.address().port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    /** The base URL as a provider sees it (Mistral's API lives under /v1). */
    baseURL: `http://127.0.0.1:${bound}/v1`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

// Node corks the socket until the next tick: destroying in the same tick would drop the bytes
// already written, so the cut happens once they have gone out.
function cutConnection(res) {
  setImmediate(() => res.destroy());
}
