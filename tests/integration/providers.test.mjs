// The real `openai` npm SDK through the gateway to every provider type, each behind its strict fake
// (tests/integration/fakes/): plain chat, streamed chat, tool call round trips (whole and
// streamed), upstream errors steered by the fakes' fault headers (set in the provider's `headers`),
// a stream cut mid-way, and embeddings. The openai-compatible provider against `--mock-upstream`
// is the baseline; as the mock answers no tool calls, the baseline's tool round trip goes to an
// openai-compatible provider on the Azure fake's OpenAI-shaped `/openai/v1` endpoint.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { startMockUpstream, startGateway, baseConfig, CLIENT_KEY, UPSTREAM_KEY } from './lib/harness.mjs';
import { startFakeAnthropic } from './fakes/anthropic.mjs';
import { startFakeGemini } from './fakes/gemini.mjs';
import { startFakeAzure } from './fakes/azure.mjs';
import { startFakeMistral } from './fakes/mistral.mjs';
import { startFakeBedrock } from './fakes/bedrock.mjs';

const AWS = { accessKeyId: 'AKIDEXAMPLEPROVIDERS', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'us-east-1' };
const TIMEOUTS = { connect: '1s', first_byte: '3s', total: '10s' };
const FAST_RETRY = { attempts: 2, backoff: '10ms', max_backoff: '100ms' };
const TOOL_RESULT = '22 degrees and sunny';
const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

const words = (s) => String(s).split(/\s+/).filter(Boolean);

let mock;
let fakes = {};
let gw;
let client;

/**
 * Every provider under test. `base(faultHeaders)` is the provider config (the fault headers go in
 * its `headers`); `chatModel` / `embedModel` the provider's own ids; `reply(text)` the fake's
 * answer to a user text; `toolArgs(text)` the arguments its tool call carries; `toolReply` the
 * answer after the tool result; `fault` the headers that make it fail.
 */
function providerSpecs() {
  const { anthropic, gemini, azure, mistral, bedrock } = fakes;
  return {
    openai: {
      base: (headers = {}) => ({ type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], headers }),
      chatModel: 'mock-model',
      reply: (t) => `echo: ${t}`,
      fault: {
        status400: { 'x-mock-status': '400' }, message400: 'mock forced status 400',
        status5xx: { 'x-mock-status': '503' }, code5xx: 503,
        cut: { 'x-mock-reset-after': '3' },
      },
      // The mock answers no tool calls: the baseline's tools go to an OpenAI-shaped upstream that does.
      toolModel: 'openai-tools-chat',
      toolArgs: (t) => ({ query: t }),
      toolReply: `fake: tool said ${TOOL_RESULT}`,
    },
    anthropic: {
      base: (headers = {}) => ({ type: 'anthropic', base_url: anthropic.url, keys: [UPSTREAM_KEY], headers }),
      chatModel: 'claude-3-5-haiku-20241022',
      reply: (t) => `echo: ${t}`,
      toolArgs: () => ({ city: 'Paris' }),
      toolReply: `tool said: ${TOOL_RESULT}`,
      fault: {
        status400: { 'x-fake-status': '400' }, message400: 'fake status 400',
        status5xx: { 'x-fake-status': '529' }, code5xx: 529,
        cut: { 'x-fake-cut-after': '5' },
      },
    },
    gemini: {
      base: (headers = {}) => ({ type: 'gemini', base_url: gemini.url, keys: [UPSTREAM_KEY], headers }),
      chatModel: 'gemini-2.0-flash',
      embedModel: 'text-embedding-004',
      reply: (t) => `fake: ${t}`,
      toolArgs: (t) => ({ query: t }),
      toolReply: null, // "fake: tool said <the functionResponse.response as JSON>": checked by substring
      fault: {
        status400: { 'x-fake-status': '400' }, message400: 'fake failure 400',
        status5xx: { 'x-fake-status': '503' }, code5xx: 503,
        cut: { 'x-fake-cut-after': '2' },
      },
      embedding: (text) => hashVector(text, 8),
    },
    azure: {
      base: (headers = {}) => ({ type: 'azure', base_url: azure.url, api_version: '2024-10-21', keys: [UPSTREAM_KEY], headers }),
      chatModel: 'gpt4o-deploy',
      embedModel: 'embed-deploy',
      reply: (t) => `fake: ${t}`,
      toolArgs: (t) => ({ query: t }),
      toolReply: `fake: tool said ${TOOL_RESULT}`,
      fault: {
        status400: { 'x-fake-status': '400' }, message400: 'fake failure 400',
        status5xx: { 'x-fake-status': '503' }, code5xx: 503,
        cut: { 'x-fake-cut-after': '4' },
      },
      embedding: (text) => hashVector(text, 8),
    },
    mistral: {
      base: (headers = {}) => ({ type: 'mistral', base_url: mistral.baseURL, keys: [UPSTREAM_KEY], headers }),
      chatModel: 'mistral-small-latest',
      embedModel: 'mistral-embed',
      reply: (t) => `fake: ${t}`,
      toolArgs: (t) => ({ query: t }),
      toolReply: `fake: tool said ${TOOL_RESULT}`,
      fault: {
        status400: { 'x-fake-status': '400' }, message400: 'fake failure 400',
        status5xx: { 'x-fake-status': '503' }, code5xx: 503,
        cut: { 'x-fake-cut-after': '3' },
      },
      embedding: (text) => hashVector(text, 8),
    },
    bedrock: {
      base: (headers = {}) => ({
        type: 'bedrock', base_url: bedrock.url, region: AWS.region,
        access_key_id: AWS.accessKeyId, secret_access_key: AWS.secretAccessKey, headers,
      }),
      chatModel: 'anthropic.claude-3-haiku-20240307-v1:0',
      embedModel: 'amazon.titan-embed-text-v2:0',
      reply: (t) => `echo: ${t}`,
      toolArgs: () => ({ city: 'Paris' }),
      toolReply: `tool said: ${TOOL_RESULT}`,
      fault: {
        status400: { 'x-fake-status': '400' }, message400: 'Malformed input request, please reformat your input and try again.',
        status5xx: { 'x-fake-status': '503' }, code5xx: 503,
        cut: { 'x-fake-cut-after': '3' },
      },
      embedding: (text) => titanVector(text, 1024),
      singleInputEmbeddings: true, // Titan embeds one text per InvokeModel call
    },
  };
}

// The vectors the Gemini, Azure and Mistral fakes compute.
function hashVector(text, dims) {
  const digest = createHash('sha256').update(String(text)).digest();
  return Array.from({ length: dims }, (_, k) => (digest[k % digest.length] - 128) / 128);
}

// The Bedrock fake's Titan vector.
function titanVector(text, dims) {
  const seed = createHash('sha256').update(text).digest();
  const v = Array.from({ length: dims }, (_, i) => (seed[i % 32] - 127.5) / 127.5);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Number((x / norm).toFixed(6)));
}

let SPECS;

function gatewayConfig() {
  const cfg = baseConfig(mock.baseURL);
  cfg.providers = {};
  cfg.models = {};
  cfg.routes = {};
  const price = { input: 1.0, output: 2.0 };
  for (const [name, spec] of Object.entries(SPECS)) {
    const withTimeouts = (p) => ({ ...p, timeouts: TIMEOUTS });
    cfg.providers[name] = withTimeouts(spec.base());
    cfg.providers[`${name}-400`] = withTimeouts(spec.base(spec.fault.status400));
    cfg.providers[`${name}-5xx`] = withTimeouts(spec.base(spec.fault.status5xx));
    cfg.providers[`${name}-cut`] = withTimeouts(spec.base(spec.fault.cut));
    cfg.models[`${name}-chat`] = { provider: name, model: spec.chatModel, price };
    cfg.models[`${name}-400`] = { provider: `${name}-400`, model: spec.chatModel, price };
    cfg.models[`${name}-5xx`] = { provider: `${name}-5xx`, model: spec.chatModel, price };
    cfg.models[`${name}-cut`] = { provider: `${name}-cut`, model: spec.chatModel, price };
    if (spec.embedModel) {
      cfg.models[`${name}-embed`] = { provider: name, model: spec.embedModel, kind: 'embedding', price: { input: 0.1, output: 0 } };
    }
    cfg.routes[`${name}-failover`] = {
      targets: [{ model: `${name}-5xx` }], fallbacks: [`${name}-chat`], retry: FAST_RETRY,
    };
  }
  // The baseline's tool round trip: an openai-compatible provider on the Azure fake's /openai/v1.
  cfg.providers['openai-tools'] = {
    type: 'openai-compatible', base_url: `${fakes.azure.url}/openai/v1`, keys: [UPSTREAM_KEY], timeouts: TIMEOUTS,
  };
  cfg.models['openai-tools-chat'] = { provider: 'openai-tools', model: 'gpt4o-deploy', price };
  cfg.tenants = { acme: { keys: [CLIENT_KEY] } };
  return cfg;
}

before(async () => {
  const [m, anthropic, gemini, azure, mistral, bedrock] = await Promise.all([
    startMockUpstream(),
    startFakeAnthropic({ apiKey: UPSTREAM_KEY }),
    startFakeGemini(),
    startFakeAzure({ deployments: ['gpt4o-deploy', 'embed-deploy'] }),
    startFakeMistral(),
    startFakeBedrock(AWS),
  ]);
  mock = m;
  fakes = { anthropic, gemini, azure, mistral, bedrock };
  SPECS = providerSpecs();
  gw = await startGateway(gatewayConfig());
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15_000 });
});

after(async () => {
  await gw?.stop();
  await Promise.all([mock?.stop(), ...Object.values(fakes).map((f) => f?.close())]);
});

let seq = 0;
const rid = (what) => `providers-${what}-${++seq}-${process.pid}`;

/** Drains an SDK stream into its chunks, the concatenated text and, on failure, the error. */
async function drain(stream) {
  const chunks = [];
  let text = '';
  let error = null;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
  } catch (err) {
    error = err;
  }
  return { chunks, text, error };
}

/** The tool calls of a streamed answer, reassembled from their deltas by index. */
function reassembleToolCalls(chunks) {
  const calls = [];
  for (const c of chunks) {
    for (const d of c.choices[0]?.delta?.tool_calls ?? []) {
      const call = (calls[d.index] ??= { ids: [], name: '', arguments: '' });
      if (d.id) call.ids.push(d.id);
      if (d.function?.name) call.name += d.function.name;
      if (d.function?.arguments) call.arguments += d.function.arguments;
    }
  }
  return calls;
}

const NAMES = ['openai', 'anthropic', 'gemini', 'azure', 'mistral', 'bedrock'];

for (const name of NAMES) {
  describe(`${name} provider through the openai SDK`, () => {
    const spec = () => SPECS[name];
    const model = `${name}-chat`;

    test('plain chat: the fake\'s answer, usage, cost and gateway headers', async () => {
      const prompt = `hello from the ${name} test`;
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: prompt }] })
        .withResponse();
      const expected = spec().reply(prompt);
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices.length, 1);
      assert.equal(data.choices[0].message.role, 'assistant');
      assert.equal(data.choices[0].message.content, expected);
      assert.equal(data.choices[0].finish_reason, 'stop');
      assert.ok(data.usage, 'usage present');
      assert.ok(data.usage.prompt_tokens >= words(prompt).length, `prompt_tokens ${data.usage.prompt_tokens}`);
      assert.equal(data.usage.completion_tokens, words(expected).length);
      assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
      assert.equal(response.headers.get('x-switchboard-provider'), name);
      assert.equal(response.headers.get('x-switchboard-model'), model);
      assert.equal(response.headers.get('x-switchboard-attempts'), '1');
      assert.ok(Number(response.headers.get('x-switchboard-cost-usd')) > 0,
        `cost header ${response.headers.get('x-switchboard-cost-usd')}`);
    });

    test('streamed chat: chunks concatenate to the full text, finish_reason, no usage unless asked', async () => {
      const prompt = `stream these five words ${name}`;
      const { data: stream, response } = await client.chat.completions
        .create({ model, stream: true, messages: [{ role: 'user', content: prompt }] })
        .withResponse();
      assert.equal(response.headers.get('x-switchboard-provider'), name);
      const { chunks, text, error } = await drain(stream);
      assert.equal(error, null, `stream failed: ${error?.message}`);
      assert.equal(text, spec().reply(prompt));
      assert.ok(chunks.length >= 3, `several chunks, got ${chunks.length}`);
      // Azure opens with a choice-less chunk carrying only prompt_filter_results (object ""), as the
      // real service does; every chunk with a choice is a chat.completion.chunk.
      assert.ok(chunks.filter((c) => c.choices.length > 0).every((c) => c.object === 'chat.completion.chunk'),
        'every chunk with a choice is a chat.completion.chunk');
      assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'), 'a chunk finishes with stop');
      assert.ok(chunks.every((c) => c.usage == null),
        `no usage without include_usage: ${JSON.stringify(chunks.filter((c) => c.usage != null))}`);
    });

    test('streamed chat with include_usage ends with exactly one usage chunk', async () => {
      const prompt = `count my words ${name} please`;
      const stream = await client.chat.completions.create({
        model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: prompt }],
      });
      const { chunks, text, error } = await drain(stream);
      assert.equal(error, null, `stream failed: ${error?.message}`);
      const expected = spec().reply(prompt);
      assert.equal(text, expected);
      const withUsage = chunks.filter((c) => c.usage != null);
      assert.equal(withUsage.length, 1, `one usage chunk: ${JSON.stringify(withUsage)}`);
      const last = chunks.at(-1);
      assert.ok(last.usage, `the last chunk carries usage: ${JSON.stringify(last)}`);
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage.prompt_tokens, words(prompt).length);
      assert.equal(last.usage.completion_tokens, words(expected).length);
      assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
    });

    test('tool call round trip: tool_calls, then the tool result quoted in the answer', async () => {
      const toolModel = spec().toolModel ?? model;
      const question = 'What is the weather in Paris? Please use the tool.';
      const user = { role: 'user', content: question };
      const first = await client.chat.completions.create({ model: toolModel, messages: [user], tools: TOOLS });
      const choice = first.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(first));
      const calls = choice.message.tool_calls;
      assert.equal(calls?.length, 1, JSON.stringify(choice.message));
      const [call] = calls;
      assert.equal(typeof call.id, 'string');
      assert.ok(call.id.length > 0, 'a tool call id');
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), spec().toolArgs(question));
      if (name === 'mistral') assert.match(call.id, /^[a-zA-Z0-9]{9}$/, 'Mistral\'s own id passes through');

      // Send the assistant message back exactly as the SDK returned it, as applications do.
      const second = await client.chat.completions.create({
        model: toolModel, tools: TOOLS,
        messages: [user, choice.message, { role: 'tool', tool_call_id: call.id, content: TOOL_RESULT }],
      });
      const answer = second.choices[0].message.content;
      if (spec().toolReply) assert.equal(answer, spec().toolReply);
      else assert.ok(answer.includes(TOOL_RESULT), `the answer quotes the tool result: ${answer}`);
      assert.equal(second.choices[0].finish_reason, 'stop');
    });

    test('streamed tool call: deltas reassemble to one call with a stable id and JSON arguments', async () => {
      const toolModel = spec().toolModel ?? model;
      const question = 'Weather in Paris please, use the tool';
      const stream = await client.chat.completions.create({
        model: toolModel, stream: true, tools: TOOLS, messages: [{ role: 'user', content: question }],
      });
      const { chunks, error } = await drain(stream);
      assert.equal(error, null, `stream failed: ${error?.message}`);
      const calls = reassembleToolCalls(chunks);
      assert.equal(calls.length, 1, JSON.stringify(calls));
      const [call] = calls;
      assert.ok(call.ids.length >= 1, 'the id arrives');
      assert.equal(new Set(call.ids).size, 1, `one stable id: ${call.ids}`);
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), spec().toolArgs(question));
      assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'tool_calls'), 'finish_reason tool_calls');
    });

    test('upstream 400 reaches the client as a 400 with the provider\'s message', async () => {
      const requestId = rid(`${name}-400`);
      await assert.rejects(
        client.chat.completions.create({ model: `${name}-400`, messages: [{ role: 'user', content: 'fail please' }] },
          { headers: { 'x-request-id': requestId } }),
        (err) => {
          assert.ok(err instanceof OpenAI.BadRequestError, `got ${err.constructor.name} ${err.status}: ${err.message}`);
          assert.equal(err.status, 400);
          assert.ok(err.message.includes(spec().fault.message400), `message: ${err.message}`);
          return true;
        });
      const trace = await gw.waitForTrace((t) => t.request_id === requestId);
      assert.equal(trace.attempts.length, 1, `a 400 is not retried: ${JSON.stringify(trace.attempts)}`);
      assert.equal(trace.attempts[0].status, 400);
    });

    test('upstream overload is retried, then the route falls back to the healthy model', async () => {
      const requestId = rid(`${name}-failover`);
      const prompt = 'fall back please';
      const { data, response } = await client.chat.completions
        .create({ model: `${name}-failover`, messages: [{ role: 'user', content: prompt }] },
          { headers: { 'x-request-id': requestId } })
        .withResponse();
      assert.equal(data.choices[0].message.content, spec().reply(prompt));
      assert.equal(response.headers.get('x-switchboard-provider'), name);
      assert.equal(response.headers.get('x-switchboard-model'), model);
      assert.equal(response.headers.get('x-switchboard-attempts'), '3');
      const trace = await gw.waitForTrace((t) => t.request_id === requestId);
      const code = spec().fault.code5xx;
      assert.deepEqual(trace.attempts.map((a) => [a.model, a.status]),
        [[`${name}-5xx`, code], [`${name}-5xx`, code], [model, 200]]);
    });

    test('upstream overload on every attempt answers 502 upstream_error', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: `${name}-5xx`, messages: [{ role: 'user', content: 'x' }] }),
        (err) => {
          assert.ok(err instanceof OpenAI.InternalServerError, `got ${err.constructor.name} ${err.status}: ${err.message}`);
          assert.equal(err.status, 502);
          assert.equal(err.code, 'upstream_error');
          return true;
        });
    });

    test('a stream cut mid-way ends with an in-band error event', async () => {
      const requestId = rid(`${name}-cut`);
      const prompt = 'please stream this rather long sentence so that the cut lands in the middle';
      const stream = await client.chat.completions.create(
        { model: `${name}-cut`, stream: true, messages: [{ role: 'user', content: prompt }] },
        { headers: { 'x-request-id': requestId } });
      const { text, error } = await drain(stream);
      assert.ok(error, `the stream must fail, got text ${JSON.stringify(text)}`);
      assert.ok(error instanceof OpenAI.APIError, `got ${error.constructor.name}: ${error.message}`);
      assert.equal(error.type ?? error.error?.type, 'upstream_error', `error: ${JSON.stringify(error.error)}`);
      const full = spec().reply(prompt);
      assert.ok(text.length > 0, 'some text arrived before the cut');
      assert.ok(full.startsWith(text) && text !== full, `a strict prefix of the answer: ${JSON.stringify(text)}`);
      const trace = await gw.waitForTrace((t) => t.request_id === requestId);
      assert.equal(trace.status, 502);
      assert.equal(trace.error, 'stream_interrupted');
      // Output arrived, so there is a time to first token; a provider that had not yet reported
      // usage gets the estimate from the characters streamed (about 4 a token).
      assert.equal(typeof trace.ttft_ms, 'number', `ttft_ms: ${trace.ttft_ms}`);
      if (trace.usage.estimated) {
        assert.equal(trace.usage.output, Math.ceil(Buffer.byteLength(text) / 4), JSON.stringify(trace.usage));
      }
    });

    if (['gemini', 'azure', 'mistral', 'bedrock'].includes(name)) {
      test('embeddings: floats and the SDK\'s default base64 both decode to the fake\'s vectors', async () => {
        const inputs = spec().singleInputEmbeddings ? ['alpha beta gamma'] : ['alpha beta', 'gamma'];
        const embedModel = `${name}-embed`;
        const { data: floats, response } = await client.embeddings
          .create({ model: embedModel, input: inputs, encoding_format: 'float' })
          .withResponse();
        assert.equal(response.headers.get('x-switchboard-provider'), name);
        assert.equal(floats.object, 'list');
        assert.equal(floats.data.length, inputs.length);
        for (const [i, item] of floats.data.entries()) {
          assert.equal(item.index, i);
          const expected = spec().embedding(inputs[i]);
          assert.equal(item.embedding.length, expected.length);
          item.embedding.forEach((x, k) => assert.ok(Math.abs(x - expected[k]) < 1e-6, `dim ${k}: ${x} vs ${expected[k]}`));
        }
        assert.ok(floats.usage && typeof floats.usage.prompt_tokens === 'number', `usage: ${JSON.stringify(floats.usage)}`);

        const b64 = await client.embeddings.create({ model: embedModel, input: inputs });
        assert.equal(b64.data.length, inputs.length);
        for (const [i, item] of b64.data.entries()) {
          const expected = spec().embedding(inputs[i]);
          const vec = Array.from(item.embedding);
          assert.equal(vec.length, expected.length, `base64 vector has ${vec.length} dims, want ${expected.length}`);
          vec.forEach((x, k) => assert.ok(Math.abs(x - expected[k]) < 1e-6, `dim ${k}: ${x} vs ${expected[k]}`));
        }
      });
    }
  });
}
