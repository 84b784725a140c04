// A fake OpenTelemetry collector (OTLP/HTTP JSON receiver) that validates like the real one.
//
// Like the collector's otlphttp receiver: POST /v1/traces only (404 elsewhere, 405 for another
// method), Content-Type application/json (415 otherwise; protobuf is not spoken here), and a body
// that must decode as an ExportTraceServiceRequest in the OTLP/JSON mapping — hex trace and span
// ids, int64/fixed64 as decimal strings (numbers accepted), enums as integers, AnyValue with
// exactly one typed field — else 400. Accepted requests get 200 {"partialSuccess":{}}.
// `mode: 'hang'` accepts connections and bodies but never answers; `status` answers every
// request with that status instead. `mode: 'count'` (benchmarks) keeps nothing and validates
// nothing: it counts spans and answers 200, so the collector costs the machine little.
// Run directly (`node otlp_collector.mjs [mode]`) it prints its port and, on SIGTERM, the counts.
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const HEX32 = /^[0-9a-fA-F]{32}$/;
const HEX16 = /^[0-9a-fA-F]{16}$/;
const UINT = /^[0-9]+$/;
const INT = /^-?[0-9]+$/;

const SPAN_ID = Buffer.from('"spanId"');

class Invalid extends Error {}

function check(cond, what) {
  if (!cond) throw new Invalid(what);
}

function isUint64(v) {
  return (typeof v === 'string' && UINT.test(v) && BigInt(v) < 2n ** 64n) ||
    (Number.isSafeInteger(v) && v >= 0);
}

function anyValue(v, where) {
  check(v && typeof v === 'object' && !Array.isArray(v), `${where}: value must be an object`);
  const kinds = Object.keys(v).filter((k) => v[k] !== undefined);
  check(kinds.length === 1, `${where}: value must have exactly one field, has ${JSON.stringify(kinds)}`);
  const [kind] = kinds;
  const x = v[kind];
  switch (kind) {
    case 'stringValue': check(typeof x === 'string', `${where}: stringValue must be a string`); return x;
    case 'boolValue': check(typeof x === 'boolean', `${where}: boolValue must be a boolean`); return x;
    case 'intValue':
      check((typeof x === 'string' && INT.test(x)) || Number.isSafeInteger(x), `${where}: intValue must be an int64`);
      return Number(x);
    case 'doubleValue':
      check(typeof x === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(x), `${where}: doubleValue must be a number`);
      return Number(x);
    case 'arrayValue':
      check(Array.isArray(x?.values ?? []), `${where}: arrayValue.values must be an array`);
      return (x.values ?? []).map((e, i) => anyValue(e, `${where}[${i}]`));
    default: throw new Invalid(`${where}: unknown AnyValue field ${kind}`);
  }
}

function attributes(list, where) {
  check(list === undefined || Array.isArray(list), `${where}.attributes must be an array`);
  const out = {};
  for (const [i, kv] of (list ?? []).entries()) {
    check(typeof kv?.key === 'string' && kv.key, `${where}.attributes[${i}].key must be a non-empty string`);
    out[kv.key] = anyValue(kv.value, `${where}.attributes[${i}] (${kv.key})`);
  }
  return out;
}

function validateSpan(s, where) {
  check(s && typeof s === 'object', `${where} must be an object`);
  check(HEX32.test(s.traceId ?? '') && !/^0+$/.test(s.traceId), `${where}.traceId must be 32 hex digits, not all zero`);
  check(HEX16.test(s.spanId ?? '') && !/^0+$/.test(s.spanId), `${where}.spanId must be 16 hex digits, not all zero`);
  check(s.parentSpanId === undefined || s.parentSpanId === '' || HEX16.test(s.parentSpanId), `${where}.parentSpanId must be 16 hex digits`);
  check(typeof s.name === 'string' && s.name, `${where}.name must be a non-empty string`);
  check(s.kind === undefined || (Number.isInteger(s.kind) && s.kind >= 0 && s.kind <= 5), `${where}.kind must be an integer 0..5`);
  check(isUint64(s.startTimeUnixNano), `${where}.startTimeUnixNano must be a fixed64`);
  check(isUint64(s.endTimeUnixNano), `${where}.endTimeUnixNano must be a fixed64`);
  const attrs = attributes(s.attributes, where);
  if (s.status !== undefined) {
    check(typeof s.status === 'object', `${where}.status must be an object`);
    check(s.status.code === undefined || [0, 1, 2].includes(s.status.code), `${where}.status.code must be 0, 1 or 2`);
    check(s.status.message === undefined || typeof s.status.message === 'string', `${where}.status.message must be a string`);
  }
  return { ...s, attrs };
}

/** Decode and validate an ExportTraceServiceRequest; returns the spans with resource/scope. */
export function decodeExportRequest(body) {
  check(body && typeof body === 'object' && !Array.isArray(body), 'body must be an object');
  check(Array.isArray(body.resourceSpans ?? []), 'resourceSpans must be an array');
  const spans = [];
  for (const [ri, rs] of (body.resourceSpans ?? []).entries()) {
    const resource = attributes(rs?.resource?.attributes, `resourceSpans[${ri}].resource`);
    check(Array.isArray(rs.scopeSpans ?? []), `resourceSpans[${ri}].scopeSpans must be an array`);
    for (const [si, ss] of (rs.scopeSpans ?? []).entries()) {
      check(Array.isArray(ss?.spans ?? []), `scopeSpans[${si}].spans must be an array`);
      for (const [i, s] of (ss.spans ?? []).entries()) {
        spans.push({ ...validateSpan(s, `resourceSpans[${ri}].scopeSpans[${si}].spans[${i}]`), resource, scope: ss.scope });
      }
    }
  }
  return spans;
}

export async function startOtlpCollector({ mode = 'ok', status } = {}) {
  const requests = [];  // every request that reached the handler: {method, url, headers, raw}
  const rejected = [];  // {status, reason}
  const spans = [];     // accepted spans, validated, with `attrs`, `resource`, `scope`
  const sockets = new Set();
  let connections = 0;
  let counted = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    if (mode === 'count') {
      // Bytes, not text: no UTF-8 decoding of every body (a token cut by a chunk boundary is
      // missed: the count is approximate, the gateway's own counters are exact).
      req.on('data', (c) => {
        for (let i = c.indexOf(SPAN_ID); i >= 0; i = c.indexOf(SPAN_ID, i + SPAN_ID.length)) counted++;
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"partialSuccess":{}}');
      });
      return;
    }
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, raw });
      if (mode === 'hang') return; // never answers
      const reject = (code, reason) => {
        rejected.push({ status: code, reason });
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: code === 400 ? 3 : 12, message: reason }));
      };
      if (req.url !== '/v1/traces') return reject(404, `404 page not found: ${req.url}`);
      if (req.method !== 'POST') return reject(405, `${req.method} method not allowed, supported: [POST]`);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') {
        return reject(415, `${type} unsupported media type, supported: [application/json, application/x-protobuf]`);
      }
      let decoded;
      try {
        decoded = decodeExportRequest(JSON.parse(raw));
      } catch (err) {
        return reject(400, `malformed ExportTraceServiceRequest: ${err.message}`);
      }
      if (status) return reject(status, 'configured failure');
      spans.push(...decoded);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ partialSuccess: {} }));
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    rejected,
    spans,
    get connections() { return connections; },
    get counted() { return counted; },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const c = await startOtlpCollector({ mode: process.argv[2] ?? 'ok' });
  console.log(c.port);
  process.on('SIGTERM', async () => {
    console.error(`otlp collector: ${c.spans.length + c.counted} spans (approximate in count mode), ${c.connections} connections`);
    await c.close();
    process.exit(0);
  });
}
