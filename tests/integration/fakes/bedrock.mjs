// A strict fake of AWS Bedrock runtime for integration tests: verifies every request's SigV4
// signature, validates Converse / InvokeModel bodies like the real service, answers
// deterministically (JSON or binary application/vnd.amazon.eventstream), and injects faults
// steered by request headers.
//
// Usage:
//   const fake = await startFakeBedrock({ port: 0, accessKeyId: 'AKID', secretAccessKey: 'SECRET',
//                                         region: 'us-east-1' });
//   ... point a provider of type bedrock at fake.url (base_url) with the same keys and region ...
//   fake.requests  // every request received: {method, path, modelId, operation, headers, body}
//   await fake.close();
//
// Routes: POST /model/{modelId}/converse, /model/{modelId}/converse-stream, /model/{modelId}/invoke
// (Titan text embeddings: amazon.titan-embed-*; Cohere: cohere.embed-*). The model id is one
// percent-encoded path segment; the signature is checked over the path encoded once more, as AWS
// does for every service but S3.
//
// Replies: "echo: " + the last user turn's text ("tool said: <results>" when it carries tool
// results). With toolConfig, a toolUse of the first tool (or the one toolChoice forces) comes
// back when the last user text contains "use the tool" or toolChoice is any/tool. A reply longer
// than inferenceConfig.maxTokens words is cut with stopReason max_tokens. Usage counts
// whitespace-separated words.
//
// Fault headers (they reach the fake through the provider's `headers`, so they are signed too):
//   x-fake-status: N        answer N with the AWS error for it (429 ThrottlingException,
//                           503 ServiceUnavailableException, 500 InternalServerException, ...)
//   x-fake-cut-after: N     streams: destroy the socket after N frames;
//                           non-streams: destroy it without answering
//   x-fake-error-after: N   streams: send an exception frame after N frames (x-fake-error-type,
//                           default throttlingException)
//   x-fake-delay-ms: N      wait before answering
//   x-fake-cache-read: N    report N cacheReadInputTokens
//   x-fake-cache-write: N   report N cacheWriteInputTokens
import http from 'node:http';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const MAX_BODY_BYTES = 25 * 1024 * 1024;
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your ' +
  'AWS Secret Access Key and signing method. Consult the service documentation for details.';

const CONVERSE_FIELDS = new Set([
  'messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig',
  'additionalModelRequestFields', 'promptVariables', 'additionalModelResponseFieldPaths',
  'requestMetadata', 'performanceConfig', 'outputConfig', 'serviceTier',
]);
const BLOCK_KEYS = new Set([
  'text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'guardContent', 'cachePoint',
  'reasoningContent', 'citationsContent',
]);
const INFERENCE_FIELDS = new Set(['maxTokens', 'temperature', 'topP', 'stopSequences']);
const ERRORS = {
  400: ['ValidationException', 'Malformed input request, please reformat your input and try again.'],
  403: ['AccessDeniedException', 'You don\'t have access to the model with the specified model ID.'],
  404: ['ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.'],
  408: ['ModelTimeoutException', 'Model has timed out in processing the request.'],
  424: ['ModelErrorException', 'The model encountered an error processing the request.'],
  429: ['ThrottlingException', 'Too many tokens, please wait before trying again.'],
  500: ['InternalServerException', 'The server encountered an internal error.'],
  503: ['ServiceUnavailableException', 'Service unavailable. Try again later.'],
};

class AwsError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const invalid = (message) => new AwsError(400, 'ValidationException', message);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const words = (text) => text.split(/\s+/).filter(Boolean);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

// ---- CRC-32 and event stream frames (provider-formats.md 6.5) --------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(buf) {
  let crc = 0xffffffff;
  for (const byte of buf) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function stringHeader(name, value) {
  const n = Buffer.from(name, 'utf8');
  const v = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  out.writeUInt8(n.length, 0);
  n.copy(out, 1);
  out.writeUInt8(7, 1 + n.length);
  out.writeUInt16BE(v.length, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

/** One eventstream frame with string headers and a JSON payload. */
export function encodeFrame(headers, payload) {
  const h = Buffer.concat(Object.entries(headers).map(([k, v]) => stringHeader(k, v)));
  const p = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  const total = 16 + h.length + p.length;
  const frame = Buffer.alloc(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(h.length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
  h.copy(frame, 12);
  p.copy(frame, 12 + h.length);
  frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
  return frame;
}

let padding = 0;
// Converse stream payloads carry a random-length `p` field the client must ignore.
const pad = () => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'.slice(0, 1 + (padding++ * 7) % 30);

const eventFrame = (type, payload) => encodeFrame(
  { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
  { ...payload, p: pad() });
const exceptionFrame = (type, message) => encodeFrame(
  { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
  { message });

// ---- SigV4 verification (provider-formats.md 6.6) --------------------------------------------

function uriEncode(text) {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function percentDecode(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

// Every service but S3: the wire path's segments (already percent-encoded) are encoded once more.
function canonicalUri(path) {
  const segments = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop(); else segments.push(s);
  }
  let out = '/' + segments.map(uriEncode).join('/');
  if (segments.length > 0 && path.endsWith('/')) out += '/';
  return out;
}

function canonicalQuery(query) {
  return query.split('&').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    return [uriEncode(percentDecode(name)), uriEncode(percentDecode(value))];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

function headerValues(req, lowerName) {
  const values = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === lowerName) {
      values.push(req.rawHeaders[i + 1].trim().replace(/[ \t]+/g, ' '));
    }
  }
  return values;
}

function amzDateMs(value) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

function verifySignature(req, body, { accessKeyId, secretAccessKey, region, sessionToken }) {
  const auth = req.headers.authorization;
  if (!auth) throw new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/
    .exec(auth);
  if (!m) {
    throw new AwsError(403, 'IncompleteSignatureException',
      `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth}`);
  }
  const [, akid, date, scopeRegion, service, signedHeaders, signature] = m;
  if (akid !== accessKeyId) {
    throw new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (sessionToken !== undefined && req.headers['x-amz-security-token'] !== sessionToken) {
    throw new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const amzDate = req.headers['x-amz-date'];
  const signedAt = amzDateMs(amzDate);
  if (Number.isNaN(signedAt)) {
    throw new AwsError(403, 'IncompleteSignatureException', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
  }
  if (Math.abs(Date.now() - signedAt) > MAX_CLOCK_SKEW_MS) {
    throw new AwsError(403, 'InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than the allowed window.`);
  }
  if (date !== amzDate.slice(0, 8) || scopeRegion !== region || service !== 'bedrock') {
    throw new AwsError(403, 'InvalidSignatureException',
      `Credential should be scoped to a valid region and service 'bedrock'; got ${date}/${scopeRegion}/${service}.`);
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host') || names.join(';') !== [...names].sort().join(';')) {
    throw new AwsError(403, 'InvalidSignatureException', SIGNATURE_MISMATCH);
  }
  const [path, query = ''] = req.url.split(/\?(.*)/s);
  const declared = req.headers['x-amz-content-sha256'];
  const canonicalRequest = [
    req.method,
    canonicalUri(path),
    canonicalQuery(query),
    names.map((n) => `${n}:${headerValues(req, n).join(',')}\n`).join(''),
    signedHeaders,
    declared ?? sha256(body),
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/bedrock/aws4_request`,
    sha256(canonicalRequest)].join('\n');
  let key = hmac('AWS4' + secretAccessKey, date);
  key = hmac(key, region);
  key = hmac(key, 'bedrock');
  key = hmac(key, 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    const error = new AwsError(403, 'InvalidSignatureException', SIGNATURE_MISMATCH);
    error.detail = { canonicalRequest, stringToSign };
    throw error;
  }
}

// ---- Converse validation ---------------------------------------------------------------------

function checkText(value, path) {
  if (typeof value !== 'string') throw invalid(`${path}.text must be a string.`);
  if (value.trim() === '') {
    throw invalid(`The text field in the ContentBlock object at ${path} is blank. Add text to the text field, and try again.`);
  }
}

function checkBlock(block, role, path, openToolUses) {
  const keys = isObject(block) ? Object.keys(block) : [];
  if (keys.length !== 1 || !BLOCK_KEYS.has(keys[0])) {
    throw invalid(`${path}: a ContentBlock must hold exactly one known member, got [${keys.join(', ')}].`);
  }
  const [key] = keys;
  const v = block[key];
  switch (key) {
    case 'text': checkText(v, path); break;
    case 'image':
      if (!isObject(v) || !['png', 'jpeg', 'gif', 'webp'].includes(v.format)) throw invalid(`${path}.image.format is invalid.`);
      if (!isObject(v.source) || typeof v.source.bytes !== 'string' || v.source.bytes === '') {
        throw invalid(`${path}.image.source.bytes is required (base64).`);
      }
      break;
    case 'document':
      if (!isObject(v) || typeof v.name !== 'string' || typeof v.format !== 'string' || !isObject(v.source)) {
        throw invalid(`${path}.document needs name, format and source.`);
      }
      break;
    case 'toolUse':
      if (role !== 'assistant') throw invalid(`${path}: toolUse blocks are only allowed in assistant messages.`);
      if (!isObject(v) || typeof v.toolUseId !== 'string' || typeof v.name !== 'string' || !isObject(v.input)) {
        throw invalid(`${path}.toolUse needs toolUseId, name and an input object.`);
      }
      openToolUses.add(v.toolUseId);
      break;
    case 'toolResult':
      if (role !== 'user') throw invalid(`${path}: toolResult blocks are only allowed in user messages.`);
      if (!isObject(v) || typeof v.toolUseId !== 'string' || !Array.isArray(v.content)) {
        throw invalid(`${path}.toolResult needs toolUseId and a content array.`);
      }
      if (v.status !== undefined && !['success', 'error'].includes(v.status)) throw invalid(`${path}.toolResult.status is invalid.`);
      if (!openToolUses.has(v.toolUseId)) {
        throw invalid(`${path}: the toolResult toolUseId ${v.toolUseId} does not match any toolUse in the previous assistant turn.`);
      }
      v.content.forEach((c, i) => {
        if (!isObject(c) || Object.keys(c).length !== 1) throw invalid(`${path}.toolResult.content.${i} is invalid.`);
        if ('text' in c && typeof c.text !== 'string') throw invalid(`${path}.toolResult.content.${i}.text must be a string.`);
      });
      break;
    default: break;
  }
  return key;
}

function validateConverse(body) {
  if (!isObject(body)) throw new AwsError(400, 'SerializationException', 'Body must be a JSON object.');
  for (const key of Object.keys(body)) {
    if (!CONVERSE_FIELDS.has(key)) throw invalid(`Malformed input request: extraneous key [${key}] is not permitted.`);
  }
  const { messages } = body;
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('The messages field is required and must not be empty.');
  let toolBlocks = false;
  let previousToolUses = new Set();
  messages.forEach((m, i) => {
    if (!isObject(m) || !['user', 'assistant'].includes(m.role)) throw invalid(`messages.${i}.role must be user or assistant.`);
    if (i === 0 && m.role !== 'user') {
      throw invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    }
    if (i > 0 && messages[i - 1].role === m.role) {
      throw invalid('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
    }
    if (!Array.isArray(m.content) || m.content.length === 0) throw invalid(`messages.${i}.content must be a non-empty array.`);
    const toolUses = new Set();
    m.content.forEach((b, j) => {
      const kind = checkBlock(b, m.role, `messages.${i}.content.${j}`, m.role === 'assistant' ? toolUses : previousToolUses);
      if (kind === 'toolUse' || kind === 'toolResult') toolBlocks = true;
    });
    previousToolUses = toolUses;
  });
  if (body.system !== undefined) {
    if (!Array.isArray(body.system)) throw invalid('system must be an array.');
    body.system.forEach((s, i) => {
      if (!isObject(s) || Object.keys(s).length !== 1) throw invalid(`system.${i} must hold one member.`);
      if ('text' in s) checkText(s.text, `system.${i}`);
    });
  }
  const ic = body.inferenceConfig;
  if (ic !== undefined) {
    if (!isObject(ic)) throw invalid('inferenceConfig must be an object.');
    for (const key of Object.keys(ic)) {
      if (!INFERENCE_FIELDS.has(key)) throw invalid(`Malformed input request: extraneous key [inferenceConfig.${key}] is not permitted.`);
    }
    if (ic.maxTokens !== undefined && (!Number.isInteger(ic.maxTokens) || ic.maxTokens < 1)) throw invalid('inferenceConfig.maxTokens must be a positive integer.');
    for (const key of ['temperature', 'topP']) {
      if (ic[key] !== undefined && (typeof ic[key] !== 'number' || ic[key] < 0 || ic[key] > 1)) {
        throw invalid(`inferenceConfig.${key} must be between 0 and 1.`);
      }
    }
    if (ic.stopSequences !== undefined && (!Array.isArray(ic.stopSequences) || ic.stopSequences.length > 4 ||
        !ic.stopSequences.every((s) => typeof s === 'string'))) {
      throw invalid('inferenceConfig.stopSequences must be at most 4 strings.');
    }
  }
  const tc = body.toolConfig;
  if (toolBlocks && tc === undefined) {
    throw invalid('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  if (tc !== undefined) {
    if (!isObject(tc) || !Array.isArray(tc.tools) || tc.tools.length === 0) throw invalid('toolConfig.tools must be a non-empty array.');
    const names = new Set();
    tc.tools.forEach((t, i) => {
      if (isObject(t) && isObject(t.cachePoint)) return;
      const s = isObject(t) ? t.toolSpec : undefined;
      if (!isObject(s) || typeof s.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(s.name) ||
          !isObject(s.inputSchema) || !isObject(s.inputSchema.json)) {
        throw invalid(`toolConfig.tools.${i}.toolSpec needs a valid name and inputSchema.json.`);
      }
      names.add(s.name);
    });
    if (tc.toolChoice !== undefined) {
      const keys = isObject(tc.toolChoice) ? Object.keys(tc.toolChoice) : [];
      if (keys.length !== 1 || !['auto', 'any', 'tool'].includes(keys[0])) throw invalid('toolConfig.toolChoice must be one of auto, any, tool.');
      if (keys[0] === 'tool' && !names.has(tc.toolChoice.tool?.name)) throw invalid('toolConfig.toolChoice.tool.name names no tool.');
    }
  }
  const oc = body.outputConfig;
  if (oc !== undefined) {
    const schema = oc?.textFormat?.structure?.jsonSchema?.schema;
    if (oc?.textFormat?.type !== 'json_schema' || typeof schema !== 'string') throw invalid('outputConfig.textFormat is invalid.');
    try { JSON.parse(schema); } catch { throw invalid('outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON.'); }
  }
}

// ---- Converse answers ------------------------------------------------------------------------

let toolCounter = 0;

function blockText(blocks) {
  return blocks.filter((b) => typeof b.text === 'string').map((b) => b.text).join(' ');
}

function answer(body, headers) {
  const last = body.messages[body.messages.length - 1];
  const results = last.role === 'user' ? last.content.filter((b) => b.toolResult) : [];
  const userText = last.role === 'user' ? blockText(last.content) : '';
  let text = results.length > 0
    ? 'tool said: ' + results.map((r) => blockText(r.toolResult.content)).join(' ')
    : 'echo: ' + userText;
  if (body.outputConfig) text = JSON.stringify({ echo: userText });
  let toolUse = null;
  const tc = body.toolConfig;
  const choice = tc?.toolChoice ?? {};
  if (tc && results.length === 0 && (/use the tool/i.test(userText) || choice.any || choice.tool)) {
    const spec = choice.tool
      ? tc.tools.find((t) => t.toolSpec?.name === choice.tool.name).toolSpec
      : tc.tools.find((t) => t.toolSpec).toolSpec;
    const input = {};
    for (const [name, prop] of Object.entries(spec.inputSchema.json.properties ?? {})) {
      input[name] = prop?.type === 'number' || prop?.type === 'integer' ? 1 : 'Paris';
    }
    toolUse = { toolUseId: `tooluse_fake${++toolCounter}`, name: spec.name, input };
    text = 'Using the tool.';
  }
  let stopReason = toolUse ? 'tool_use' : 'end_turn';
  const max = body.inferenceConfig?.maxTokens;
  if (!toolUse && max !== undefined && words(text).length > max) {
    text = words(text).slice(0, max).join(' ');
    stopReason = 'max_tokens';
  }
  const allText = [
    ...(body.system ?? []).map((s) => s.text ?? ''),
    ...body.messages.flatMap((m) => m.content.map((b) => b.text ?? (b.toolResult ? blockText(b.toolResult.content) : ''))),
  ].join(' ');
  const usage = {
    inputTokens: words(allText).length,
    outputTokens: words(text).length + (toolUse ? 1 : 0),
  };
  usage.totalTokens = usage.inputTokens + usage.outputTokens;
  const cacheRead = Number(headers['x-fake-cache-read'] ?? 0);
  const cacheWrite = Number(headers['x-fake-cache-write'] ?? 0);
  if (cacheRead || cacheWrite) {
    usage.cacheReadInputTokens = cacheRead;
    usage.cacheWriteInputTokens = cacheWrite;
    usage.totalTokens += cacheRead + cacheWrite;
  }
  return { text, toolUse, stopReason, usage };
}

function converseBody(a) {
  const content = [{ text: a.text }];
  if (a.toolUse) content.push({ toolUse: a.toolUse });
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: a.stopReason,
    usage: a.usage,
    metrics: { latencyMs: 7 },
  };
}

function streamFrames(a) {
  const frames = [eventFrame('messageStart', { role: 'assistant' })];
  const pieces = a.text.split(/(?<= )/);
  for (const piece of pieces) {
    frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: piece } }));
  }
  frames.push(eventFrame('contentBlockStop', { contentBlockIndex: 0 }));
  if (a.toolUse) {
    const { toolUseId, name, input } = a.toolUse;
    frames.push(eventFrame('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId, name } } }));
    const json = JSON.stringify(input);
    const half = Math.ceil(json.length / 2);
    for (const part of [json.slice(0, half), json.slice(half)]) {
      if (part) frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: part } } }));
    }
    frames.push(eventFrame('contentBlockStop', { contentBlockIndex: 1 }));
  }
  frames.push(eventFrame('messageStop', { stopReason: a.stopReason }));
  frames.push(eventFrame('metadata', { usage: a.usage, metrics: { latencyMs: 7 } }));
  return frames;
}

// ---- Embeddings ------------------------------------------------------------------------------

function vector(text, dims) {
  const seed = createHash('sha256').update(text).digest();
  const v = Array.from({ length: dims }, (_, i) => (seed[i % 32] - 127.5) / 127.5);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Number((x / norm).toFixed(6)));
}

function invoke(modelId, body) {
  if (!isObject(body)) throw new AwsError(400, 'SerializationException', 'Body must be a JSON object.');
  if (modelId.includes('amazon.titan-embed')) {
    const allowed = new Set(['inputText', 'dimensions', 'normalize', 'embeddingTypes']);
    for (const key of Object.keys(body)) {
      if (!allowed.has(key)) throw invalid(`Malformed input request: extraneous key [${key}] is not permitted, please reformat your input and try again.`);
    }
    if (typeof body.inputText !== 'string' || body.inputText === '') throw invalid('Malformed input request: #: required key [inputText] not found or empty.');
    const dims = body.dimensions ?? 1024;
    if (![256, 512, 1024].includes(dims)) throw invalid('Malformed input request: #/dimensions: 256, 512 or 1024 expected.');
    const embedding = vector(body.inputText, dims);
    return { embedding, inputTextTokenCount: words(body.inputText).length, embeddingsByType: { float: embedding } };
  }
  if (modelId.includes('cohere.embed')) {
    if (!Array.isArray(body.texts) || body.texts.length > 96 || !body.texts.every((t) => typeof t === 'string')) {
      throw invalid('Malformed input request: texts must be an array of at most 96 strings.');
    }
    if (typeof body.input_type !== 'string') throw invalid('Malformed input request: #: required key [input_type] not found.');
    const embeddings = body.texts.map((t) => vector(t, body.output_dimension ?? 1024));
    const byType = Array.isArray(body.embedding_types);
    return {
      id: `emb-${++toolCounter}`,
      response_type: byType ? 'embeddings_by_type' : 'embeddings_floats',
      embeddings: byType ? { float: embeddings } : embeddings,
      texts: body.texts,
    };
  }
  throw invalid('The provided model identifier is invalid.');
}

// ---- HTTP ------------------------------------------------------------------------------------

function sendError(res, error, requestId) {
  const body = JSON.stringify({ message: error.message });
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'x-amzn-errortype': `${error.type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    'x-amzn-requestid': requestId,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) reject(new AwsError(413, 'ValidationException', 'Request body too large.'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startFakeBedrock({ port = 0, accessKeyId, secretAccessKey, region = 'us-east-1', sessionToken } = {}) {
  if (!accessKeyId || !secretAccessKey) throw new Error('startFakeBedrock needs accessKeyId and secretAccessKey');
  const requests = [];
  const sockets = new Set();
  let requestCount = 0;

  const server = http.createServer(async (req, res) => {
    const requestId = `fake-${++requestCount}`;
    const record = { method: req.method, path: req.url, headers: req.headers };
    requests.push(record);
    try {
      const raw = await readBody(req);
      record.rawBody = raw.toString('utf8');
      verifySignature(req, raw, { accessKeyId, secretAccessKey, region, sessionToken });
      record.signatureValid = true;

      const m = /^\/model\/([^/?]+)\/(converse|converse-stream|invoke)(?:\?.*)?$/.exec(req.url);
      if (req.method !== 'POST' || !m) throw new AwsError(404, 'UnknownOperationException', 'Unknown operation.');
      record.modelId = decodeURIComponent(m[1]);
      record.operation = m[2];
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        throw new AwsError(415, 'UnsupportedMediaTypeException', 'Unsupported Media Type');
      }
      let body;
      try { body = JSON.parse(record.rawBody); } catch {
        throw new AwsError(400, 'SerializationException', 'Could not parse the request body as JSON.');
      }
      record.body = body;

      const delay = Number(req.headers['x-fake-delay-ms'] ?? 0);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const status = Number(req.headers['x-fake-status'] ?? 0);
      if (status >= 400) {
        const [type, message] = ERRORS[status] ?? [status >= 500 ? 'InternalServerException' : 'ValidationException', `fake status ${status}`];
        throw new AwsError(status, type, message);
      }
      const cutAfter = req.headers['x-fake-cut-after'] === undefined ? -1 : Number(req.headers['x-fake-cut-after']);

      if (record.operation === 'invoke') {
        const out = JSON.stringify(invoke(record.modelId, body));
        if (cutAfter >= 0) { req.socket.destroy(); return; }
        res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
        res.end(out);
        return;
      }
      validateConverse(body);
      const a = answer(body, req.headers);
      if (record.operation === 'converse') {
        if (cutAfter >= 0) { req.socket.destroy(); return; }
        const out = JSON.stringify(converseBody(a));
        res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
        res.end(out);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId });
      const frames = streamFrames(a);
      const errorAfter = req.headers['x-fake-error-after'] === undefined ? -1 : Number(req.headers['x-fake-error-after']);
      for (let i = 0; i < frames.length; i++) {
        if (i === cutAfter) { req.socket.destroy(); return; }
        if (i === errorAfter) {
          res.end(exceptionFrame(req.headers['x-fake-error-type'] ?? 'throttlingException',
            'Too many tokens, please wait before trying again.'));
          return;
        }
        res.write(frames[i]);
        await new Promise((r) => setImmediate(r));  // frames in separate TCP writes, as the service does
      }
      res.end();
    } catch (error) {
      if (!(error instanceof AwsError)) {
        error = new AwsError(500, 'InternalServerException', String(error?.message ?? error));
      }
      record.error = { status: error.status, type: error.type, message: error.message, detail: error.detail };
      if (!res.headersSent) sendError(res, error, requestId);
      else res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
