// A strict fake of Google's Gemini API (v1beta): chat, SSE streams, embeddings, errors, faults.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

const RPC_STATUS = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};
const REQUEST_FIELDS = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig',
  'generationConfig', 'safetySettings', 'cachedContent']);
const GENERATION_FIELDS = new Set(['maxOutputTokens', 'temperature', 'topP', 'topK', 'stopSequences',
  'candidateCount', 'seed', 'presencePenalty', 'frequencyPenalty', 'responseMimeType',
  'responseSchema', 'responseJsonSchema', 'thinkingConfig', 'responseLogprobs', 'logprobs',
  'responseModalities', 'mediaResolution']);
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse',
  'executableCode', 'codeExecutionResult'];

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

function googleError(res, code, message) {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ error: { code, message, status: RPC_STATUS[code] ?? 'UNKNOWN' } }, null, 2));
}

const words = (s) => String(s ?? '').split(/\s+/).filter(Boolean);

function check(condition, message) {
  if (!condition) throw new ApiError(400, message);
}

// What the real API refuses, with messages close to Google's.
function validateGenerate(body) {
  check(body && typeof body === 'object' && !Array.isArray(body), 'Invalid JSON payload received.');
  for (const key of Object.keys(body)) {
    check(REQUEST_FIELDS.has(key), `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
  }
  check(Array.isArray(body.contents) && body.contents.length > 0,
    '* GenerateContentRequest.contents: contents is not specified');
  let previousCalls = 0;
  body.contents.forEach((content, i) => {
    const role = content.role ?? 'user';
    check(role === 'user' || role === 'model', 'Please use a valid role: user, model.');
    check(Array.isArray(content.parts) && content.parts.length > 0,
      `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`);
    let calls = 0;
    let responses = 0;
    content.parts.forEach((part, j) => {
      const data = PART_DATA.filter((k) => k in part);
      check(data.length === 1, `* GenerateContentRequest.contents[${i}].parts[${j}].data: required oneof field 'data' must have one initialized field`);
      if (part.functionCall) {
        check(role === 'model', 'function calls must come from the model');
        check(typeof part.functionCall.name === 'string', `* contents[${i}].parts[${j}].function_call.name: Name cannot be empty.`);
        calls++;
      }
      if (part.functionResponse) {
        check(role === 'user', 'function responses must come from the user');
        check(typeof part.functionResponse.name === 'string' && part.functionResponse.name,
          `* contents[${i}].parts[${j}].function_response.name: Name cannot be empty.`);
        check(part.functionResponse.response && typeof part.functionResponse.response === 'object' &&
          !Array.isArray(part.functionResponse.response), 'function_response.response must be an object');
        responses++;
      }
      if (part.inlineData) {
        check(typeof part.inlineData.mimeType === 'string' && typeof part.inlineData.data === 'string',
          'inline_data needs mime_type and data');
        check(/^[A-Za-z0-9+/_-]*={0,2}$/.test(part.inlineData.data), 'Invalid value at inline_data.data (TYPE_BYTES): Base64 decoding failed');
      }
    });
    if (responses > 0) {
      check(responses === previousCalls, 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.');
    }
    previousCalls = calls;
  });
  if (body.systemInstruction !== undefined) {
    check(Array.isArray(body.systemInstruction.parts) && body.systemInstruction.parts.every((p) => typeof p.text === 'string'),
      'system_instruction must hold text parts');
  }
  for (const key of Object.keys(body.generationConfig ?? {})) {
    check(GENERATION_FIELDS.has(key), `Invalid JSON payload received. Unknown name "${key}" at 'generation_config': Cannot find field.`);
  }
  for (const tool of body.tools ?? []) {
    for (const fn of tool.functionDeclarations ?? []) {
      check(typeof fn.name === 'string' && /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(fn.name), 'Invalid function name.');
      check(!(fn.parameters && fn.parametersJsonSchema), 'parameters and parameters_json_schema are mutually exclusive');
    }
  }
  const mode = body.toolConfig?.functionCallingConfig?.mode;
  if (mode !== undefined) check(['AUTO', 'ANY', 'NONE', 'VALIDATED'].includes(mode), 'Invalid function calling mode.');
}

function lastUserTurn(body) {
  for (let i = body.contents.length - 1; i >= 0; i--) {
    if ((body.contents[i].role ?? 'user') === 'user') return body.contents[i];
  }
  return { parts: [] };
}

// The parts of the answer: a function call when asked to use a tool, else text.
function answerParts(body) {
  const turn = lastUserTurn(body);
  const text = turn.parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join(' ');
  const results = turn.parts.filter((p) => p.functionResponse);
  const declared = (body.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  const mode = body.toolConfig?.functionCallingConfig?.mode ?? 'AUTO';
  if (declared.length && mode !== 'NONE' && results.length === 0 && (/use the tool/i.test(text) || mode === 'ANY')) {
    const allowed = body.toolConfig?.functionCallingConfig?.allowedFunctionNames;
    const fn = allowed ? declared.find((d) => allowed.includes(d.name)) : declared[0];
    return [{ functionCall: { name: fn.name, args: { query: text } }, thoughtSignature: 'ZmFrZS1zaWduYXR1cmU=' }];
  }
  if (results.length) {
    return [{ text: `fake: tool said ${results.map((r) => JSON.stringify(r.functionResponse.response)).join(' ')}` }];
  }
  return [{ text: `fake: ${text}` }];
}

function usageFor(body, parts) {
  const prompt = body.contents.flatMap((c) => c.parts).reduce((n, p) => n + words(p.text).length, 0) +
    (body.systemInstruction?.parts ?? []).reduce((n, p) => n + words(p.text).length, 0);
  const out = parts.reduce((n, p) => n + (p.text ? words(p.text).length : 5), 0);
  return { promptTokenCount: prompt, candidatesTokenCount: out, totalTokenCount: prompt + out };
}

function generate(res, body, model, { stream, sse, cutAfter }) {
  const parts = answerParts(body);
  const count = body.generationConfig?.candidateCount ?? 1;
  const usage = usageFor(body, parts);
  const responseId = randomBytes(12).toString('base64url');
  const maxTokens = body.generationConfig?.maxOutputTokens;
  let finishReason = 'STOP';
  if (maxTokens && parts[0].text && words(parts[0].text).length > maxTokens) {
    parts[0] = { text: words(parts[0].text).slice(0, maxTokens).join(' ') };
    finishReason = 'MAX_TOKENS';
  }
  const candidate = (p, index, finish) => ({
    content: { parts: p, role: 'model' }, ...(finish ? { finishReason: finish } : {}), index,
  });
  if (!stream) {
    const payload = {
      candidates: Array.from({ length: count }, (_, i) => candidate(parts, i, finishReason)),
      usageMetadata: usage, modelVersion: model, responseId,
    };
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    if (cutAfter !== undefined) {
      const text = JSON.stringify(payload);
      res.write(text.slice(0, text.length >> 1));
      return cutConnection(res);
    }
    return res.end(JSON.stringify(payload));
  }
  // One event per word of text (a function call arrives whole); the last event finishes.
  const pieces = parts[0].text
    ? words(parts[0].text).map((w, i) => [{ text: (i ? ' ' : '') + w }])
    : [parts];
  const events = pieces.map((p, k) => ({
    candidates: Array.from({ length: count }, (_, i) => candidate(p, i, k === pieces.length - 1 ? finishReason : undefined)),
    usageMetadata: k === pieces.length - 1 ? usage : { promptTokenCount: usage.promptTokenCount, totalTokenCount: usage.promptTokenCount },
    modelVersion: model, responseId,
  }));
  res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/json; charset=UTF-8' });
  let sent = 0;
  for (const event of events) {
    if (cutAfter !== undefined && sent >= cutAfter) return cutConnection(res);
    // Google frames events with CRLF; without alt=sse the stream is one JSON array.
    res.write(sse ? `data: ${JSON.stringify(event)}\r\n\r\n` : `${sent ? ',\r\n' : '['}${JSON.stringify(event)}`);
    sent++;
  }
  if (cutAfter !== undefined && sent >= cutAfter && cutAfter < events.length) return cutConnection(res);
  res.end(sse ? '' : ']');
}

function embed(res, body, model) {
  check(body && Array.isArray(body.requests) && body.requests.length > 0, '* BatchEmbedContentsRequest.requests: requests is not specified');
  check(body.requests.length <= 100, 'at most 100 requests can be in one batch');
  const embeddings = body.requests.map((r, i) => {
    check(r.model === `models/${model}`, `* BatchEmbedContentsRequest.requests[${i}].model: unexpected model name format`);
    const text = (r.content?.parts ?? []).map((p) => p.text ?? '').join(' ');
    check(text.length > 0, `* BatchEmbedContentsRequest.requests[${i}].content: contents must not be empty`);
    const dims = r.outputDimensionality ?? 8;
    const digest = createHash('sha256').update(text).digest();
    return { values: Array.from({ length: dims }, (_, k) => (digest[k % digest.length] - 128) / 128) };
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify({ embeddings }));
}

/**
 * Start the fake. Every request is recorded in `requests` as {method, url, headers, body}.
 * Faults: `x-fake-status: N` answers N in Google's error shape; `x-fake-cut-after: N` destroys
 * the socket after N stream events (a whole body is cut in half).
 */
export async function startFakeGemini({ port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body;
      try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, raw });
      const url = new URL(req.url, 'http://fake');
      try {
        if (!req.headers['x-goog-api-key'] && !url.searchParams.get('key')) {
          return googleError(res, 403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
        }
        const status = Number(req.headers['x-fake-status'] ?? 0);
        if (status >= 400) return googleError(res, status, `fake failure ${status}`);
        const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/.exec(url.pathname);
        if (req.method !== 'POST' || !m) return googleError(res, 404, `Unknown path ${req.method} ${url.pathname}`);
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ApiError(400, 'content-type must be application/json');
        check(body !== undefined, 'Invalid JSON payload received.');
        const [, model, method] = m;
        const cutAfter = req.headers['x-fake-cut-after'] === undefined ? undefined : Number(req.headers['x-fake-cut-after']);
        if (method === 'batchEmbedContents') return embed(res, body, model);
        validateGenerate(body);
        return generate(res, body, model, {
          stream: method === 'streamGenerateContent', sse: url.searchParams.get('alt') === 'sse', cutAfter,
        });
      } catch (err) {
        if (err instanceof ApiError) return googleError(res, err.code, err.message);
        return googleError(res, 500, String(err?.message ?? err));
      }
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const bound = server.address().port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

// Node corks the socket until the next tick: destroying in the same tick would drop the bytes
// already written, so the cut happens once they have gone out.
function cutConnection(res) {
  setImmediate(() => res.destroy());
}
