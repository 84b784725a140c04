// The real `@anthropic-ai/sdk` pointed at the gateway (baseURL without /v1: the SDK adds
// /v1/messages) with a tenant key: messages.create and messages.stream, tool use round trips and
// errors, routed (1) to an OpenAI-format upstream and (2) to the strict Anthropic fake. The
// `--mock-upstream` answers no tool calls, so the OpenAI-format tool round trip goes to an
// openai-compatible provider on the Azure fake's OpenAI-shaped `/openai/v1` endpoint.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockUpstream, startGateway, baseConfig, CLIENT_KEY, UPSTREAM_KEY } from './lib/harness.mjs';
import { startFakeAnthropic } from './fakes/anthropic.mjs';
import { startFakeAzure } from './fakes/azure.mjs';

const TIMEOUTS = { connect: '1s', first_byte: '3s', total: '10s' };
const TOOL_RESULT = '22 degrees and sunny';
const TOOLS = [{
  name: 'get_weather',
  description: 'The current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}];
const words = (s) => String(s).split(/\s+/).filter(Boolean);

let mock;
let fakeAnthropic;
let fakeAzure;
let gw;
let client;

before(async () => {
  [mock, fakeAnthropic, fakeAzure] = await Promise.all([
    startMockUpstream(),
    startFakeAnthropic({ apiKey: UPSTREAM_KEY }),
    startFakeAzure({ deployments: ['gpt4o-deploy'] }),
  ]);
  const cfg = baseConfig(mock.baseURL);
  const price = { input: 1.0, output: 2.0 };
  const anthropic = (headers = {}) => ({ type: 'anthropic', base_url: fakeAnthropic.url, keys: [UPSTREAM_KEY], headers, timeouts: TIMEOUTS });
  cfg.providers = {
    up: { type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], timeouts: TIMEOUTS },
    'up-cut': { type: 'openai-compatible', base_url: mock.baseURL, keys: [UPSTREAM_KEY], timeouts: TIMEOUTS, headers: { 'x-mock-reset-after': '3' } },
    tools: { type: 'openai-compatible', base_url: `${fakeAzure.url}/openai/v1`, keys: [UPSTREAM_KEY], timeouts: TIMEOUTS },
    claude: anthropic(),
    'claude-400': anthropic({ 'x-fake-status': '400' }),
    'claude-529': anthropic({ 'x-fake-status': '529' }),
    'claude-cut': anthropic({ 'x-fake-cut-after': '5' }),
  };
  cfg.models = {
    'gpt-test': { provider: 'up', model: 'mock-model', price },
    'gpt-cut': { provider: 'up-cut', model: 'mock-model', price },
    'gpt-tools': { provider: 'tools', model: 'gpt4o-deploy', price },
    'claude-test': { provider: 'claude', model: 'claude-3-5-haiku-20241022', price },
    'claude-400': { provider: 'claude-400', model: 'claude-3-5-haiku-20241022', price },
    'claude-529': { provider: 'claude-529', model: 'claude-3-5-haiku-20241022', price },
    'claude-cut': { provider: 'claude-cut', model: 'claude-3-5-haiku-20241022', price },
  };
  cfg.routes = { 'claude-529-route': { targets: [{ model: 'claude-529' }], retry: { attempts: 1 } } };
  cfg.tenants = { acme: { keys: [CLIENT_KEY] } };
  gw = await startGateway(cfg);
  client = new Anthropic({ baseURL: gw.url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15_000 });
});

after(async () => {
  await gw?.stop();
  await Promise.all([mock?.stop(), fakeAnthropic?.close(), fakeAzure?.close()]);
});

const TARGETS = [
  {
    what: 'an OpenAI-format upstream',
    model: 'gpt-test', toolModel: 'gpt-tools', provider: 'up', toolProvider: 'tools', cutModel: 'gpt-cut',
    reply: (t) => `echo: ${t}`,
    toolInput: (t) => ({ query: t }),
    toolReply: `fake: tool said ${TOOL_RESULT}`,
  },
  {
    what: 'the Anthropic fake',
    model: 'claude-test', toolModel: 'claude-test', provider: 'claude', toolProvider: 'claude', cutModel: 'claude-cut',
    reply: (t) => `echo: ${t}`,
    toolInput: () => ({ city: 'Paris' }),
    toolReply: `tool said: ${TOOL_RESULT}`,
  },
];

for (const target of TARGETS) {
  describe(`@anthropic-ai/sdk through /v1/messages to ${target.what}`, () => {
    test('messages.create: text, stop_reason, usage and gateway headers', async () => {
      const system = 'be brief';
      const prompt = `hello from the anthropic sdk to ${target.model}`;
      const { data, response } = await client.messages
        .create({ model: target.model, max_tokens: 256, system, messages: [{ role: 'user', content: prompt }] })
        .withResponse();
      const expected = target.reply(prompt);
      assert.equal(data.type, 'message');
      assert.equal(data.role, 'assistant');
      assert.match(data.id, /^msg_/);
      assert.equal(data.model, target.model);
      assert.deepEqual(data.content.map((b) => b.type), ['text']);
      assert.equal(data.content[0].text, expected);
      assert.equal(data.stop_reason, 'end_turn');
      assert.equal(data.usage.input_tokens, words(system).length + words(prompt).length);
      assert.equal(data.usage.output_tokens, words(expected).length);
      assert.equal(response.headers.get('x-switchboard-provider'), target.provider);
      assert.equal(response.headers.get('x-switchboard-model'), target.model);
    });

    test('messages.stream: text deltas, finalMessage text and usage, event order', async () => {
      const prompt = `stream five words to ${target.model}`;
      const stream = client.messages.stream({ model: target.model, max_tokens: 256, messages: [{ role: 'user', content: prompt }] });
      let text = '';
      const events = [];
      stream.on('text', (t) => { text += t; });
      stream.on('streamEvent', (e) => events.push(e.type));
      const final = await stream.finalMessage();
      const expected = target.reply(prompt);
      assert.equal(text, expected);
      assert.equal(final.content.length, 1);
      assert.equal(final.content[0].type, 'text');
      assert.equal(final.content[0].text, expected);
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.model, target.model);
      assert.equal(final.usage.input_tokens, words(prompt).length);
      assert.equal(final.usage.output_tokens, words(expected).length);
      assert.equal(events[0], 'message_start');
      assert.equal(events.at(-1), 'message_stop');
      assert.equal(events.at(-2), 'message_delta');
      assert.ok(events.includes('content_block_start') && events.includes('content_block_stop'), events.join(','));
      assert.ok(events.filter((e) => e === 'content_block_delta').length >= 2, `several deltas: ${events.join(',')}`);
    });

    test('tool use round trip: tool_use block, then tool_result quoted in the answer', async () => {
      const question = 'What is the weather in Paris? Please use the tool.';
      const user = { role: 'user', content: question };
      const first = await client.messages.create({ model: target.toolModel, max_tokens: 256, tools: TOOLS, messages: [user] });
      assert.equal(first.stop_reason, 'tool_use', JSON.stringify(first));
      const uses = first.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, 1, JSON.stringify(first.content));
      const [use] = uses;
      assert.match(use.id, /^[a-zA-Z0-9_-]+$/, `a valid tool_use id: ${use.id}`);
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, target.toolInput(question));

      const second = await client.messages.create({
        model: target.toolModel, max_tokens: 256, tools: TOOLS,
        messages: [
          user,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: TOOL_RESULT }] },
        ],
      });
      assert.equal(second.stop_reason, 'end_turn', JSON.stringify(second));
      const text = second.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      assert.equal(text, target.toolReply);
    });

    test('streamed tool use: finalMessage holds the tool_use with its parsed input', async () => {
      const question = 'Weather in Paris please, use the tool';
      const stream = client.messages.stream({
        model: target.toolModel, max_tokens: 256, tools: TOOLS, messages: [{ role: 'user', content: question }],
      });
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use', JSON.stringify(final));
      const uses = final.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, 1, JSON.stringify(final.content));
      assert.match(uses[0].id, /^[a-zA-Z0-9_-]+$/);
      assert.equal(uses[0].name, 'get_weather');
      assert.deepEqual(uses[0].input, target.toolInput(question));
    });

    test('a stream cut mid-way surfaces as an SDK error from an in-band error event', async () => {
      const prompt = 'please stream this rather long sentence so that the cut lands in the middle';
      const stream = client.messages.stream({ model: target.cutModel, max_tokens: 256, messages: [{ role: 'user', content: prompt }] });
      let text = '';
      stream.on('text', (t) => { text += t; });
      stream.on('error', () => {}); // the rejection of finalMessage() is what the test checks
      await assert.rejects(stream.finalMessage(), (err) => {
        assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.error?.type, 'error', `Anthropic error event: ${JSON.stringify(err.error)}`);
        assert.equal(typeof err.error?.error?.type, 'string');
        return true;
      });
      assert.ok(target.reply(prompt).startsWith(text), `a prefix of the answer arrived: ${JSON.stringify(text)}`);
    });
  });
}

describe('@anthropic-ai/sdk errors come back Anthropic-shaped', () => {
  const ask = (c, body) => c.messages.create({ max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...body });

  function anthropicShaped(err, status, type) {
    assert.equal(err.status, status, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.error?.type, 'error', `body: ${JSON.stringify(err.error)}`);
    assert.equal(err.error?.error?.type, type, `body: ${JSON.stringify(err.error)}`);
    assert.equal(typeof err.error?.error?.message, 'string');
  }

  test('a wrong key is an AuthenticationError', async () => {
    const bad = new Anthropic({ baseURL: gw.url, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(ask(bad, { model: 'gpt-test' }), (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err.constructor.name}`);
      anthropicShaped(err, 401, 'authentication_error');
      return true;
    });
  });

  test('an unknown model is a NotFoundError', async () => {
    await assert.rejects(ask(client, { model: 'no-such-model' }), (err) => {
      assert.ok(err instanceof Anthropic.NotFoundError, `got ${err.constructor.name}`);
      anthropicShaped(err, 404, 'not_found_error');
      assert.ok(err.message.includes('no-such-model'), err.message);
      return true;
    });
  });

  test('a missing max_tokens is a BadRequestError', async () => {
    const before = fakeAnthropic.requests.length;
    await assert.rejects(
      client.messages.create({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof Anthropic.BadRequestError, `got ${err.constructor.name}`);
        anthropicShaped(err, 400, 'invalid_request_error');
        assert.ok(err.message.includes('max_tokens'), err.message);
        return true;
      });
    assert.equal(fakeAnthropic.requests.length, before, 'refused before any upstream call');
  });

  test('an upstream 400 from Anthropic is a BadRequestError with the provider\'s message', async () => {
    await assert.rejects(ask(client, { model: 'claude-400' }), (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError, `got ${err.constructor.name}`);
      anthropicShaped(err, 400, 'invalid_request_error');
      assert.ok(err.message.includes('fake status 400'), err.message);
      return true;
    });
  });

  test('an upstream that stays overloaded is a 5xx the SDK maps to InternalServerError', async () => {
    await assert.rejects(ask(client, { model: 'claude-529-route' }), (err) => {
      assert.ok(err instanceof Anthropic.InternalServerError, `got ${err.constructor.name}`);
      assert.equal(err.status, 502);
      assert.equal(err.error?.type, 'error', `body: ${JSON.stringify(err.error)}`);
      assert.equal(typeof err.error?.error?.type, 'string');
      return true;
    });
  });
});
