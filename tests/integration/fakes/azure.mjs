// A strict fake of Azure OpenAI: deployment URLs, api-version, api-key, content filter, faults.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

const VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const FILTER_OK = {
  hate: { filtered: false, severity: 'safe' }, self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' },
};

function azureError(res, status, error) {
  res.writeHead(status, { 'content-type': 'application/json', 'apim-request-id': randomBytes(8).toString('hex') });
  res.end(JSON.stringify({ error }));
}

const words = (s) => String(s ?? '').split(/\s+/).filter(Boolean);

function textOf(content) {
  if (typeof content === 'string') return content;
  return Array.isArray(content) ? content.map((p) => p.text ?? '').join(' ') : '';
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') return textOf(messages[i].content);
  }
  return '';
}

function invalid(res, message, param = null) {
  azureError(res, 400, { message, type: 'invalid_request_error', param, code: null });
}

function chat(res, body, deployment, { cutAfter }) {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return invalid(res, "'messages' is a required property", 'messages');
  }
  if (body.stream_options !== undefined && !body.stream) {
    return invalid(res, 'The stream_options parameter is only allowed when stream is enabled.', 'stream_options');
  }
  const text = lastUserText(body.messages);
  if (/trigger the filter/i.test(text)) {
    return azureError(res, 400, {
      message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
      type: null, param: 'prompt', code: 'content_filter', status: 400,
      innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { ...FILTER_OK, violence: { filtered: true, severity: 'high' } } },
    });
  }
  const tools = (body.tools ?? []).filter((t) => t.type === 'function');
  const last = body.messages[body.messages.length - 1];
  const callTool = tools.length && body.tool_choice !== 'none' && last.role === 'user' && /use the tool/i.test(text);
  const toolCalls = callTool
    ? [{ id: `call_${randomBytes(12).toString('base64url')}`, type: 'function', function: { name: tools[0].function.name, arguments: JSON.stringify({ query: text }) } }]
    : undefined;
  const reply = last.role === 'tool' ? `fake: tool said ${textOf(last.content)}` : `fake: ${text}`;
  const prompt = body.messages.reduce((n, m) => n + words(textOf(m.content)).length, 0);
  const completion = toolCalls ? 5 : words(reply).length;
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
  const id = `chatcmpl-${randomBytes(10).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = 'gpt-4o-2024-11-20';  // Azure reports the underlying model, not the deployment
  const finish = toolCalls ? 'tool_calls' : 'stop';
  const promptFilter = [{ prompt_index: 0, content_filter_results: FILTER_OK }];
  if (!body.stream) {
    const payload = {
      id, object: 'chat.completion', created, model, system_fingerprint: 'fp_azure',
      prompt_filter_results: promptFilter,
      choices: [{ index: 0, finish_reason: finish, logprobs: null, content_filter_results: FILTER_OK,
        message: { role: 'assistant', content: toolCalls ? null : reply, refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) } }],
      usage,
    };
    res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-remaining-requests': '99', 'x-ratelimit-remaining-tokens': '99000' });
    if (cutAfter !== undefined) {
      const text = JSON.stringify(payload);
      res.write(text.slice(0, text.length >> 1));
      return cutConnection(res);
    }
    return res.end(JSON.stringify(payload));
  }
  // Azure opens a stream with a chunk that has no choices, only the prompt's filter results.
  const events = [{ id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: promptFilter }];
  const chunk = (delta, finishReason, extra = {}) => ({
    id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_azure',
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null,
      ...(finishReason || delta.content ? { content_filter_results: FILTER_OK } : {}) }], ...extra,
  });
  const withUsage = body.stream_options?.include_usage ? { usage: null } : {};
  events.push(chunk({ role: 'assistant', content: '', refusal: null }, null, withUsage));
  if (toolCalls) {
    events.push(chunk({ tool_calls: [{ index: 0, ...toolCalls[0], function: { name: toolCalls[0].function.name, arguments: '' } }] }, null, withUsage));
    events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: toolCalls[0].function.arguments } }] }, null, withUsage));
  } else {
    words(reply).forEach((w, i) => events.push(chunk({ content: (i ? ' ' : '') + w }, null, withUsage)));
  }
  events.push(chunk({}, finish, withUsage));
  if (body.stream_options?.include_usage) events.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for (const [i, event] of events.entries()) {
    if (cutAfter !== undefined && i >= cutAfter) return cutConnection(res);
    res.write(`data: ${JSON.stringify(event)}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}

function embeddings(res, body) {
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  if (body.input === undefined || inputs.length === 0) return invalid(res, "'input' is a required property", 'input');
  const dims = body.dimensions ?? 8;
  const data = inputs.map((text, index) => {
    const digest = createHash('sha256').update(String(text)).digest();
    const vector = Array.from({ length: dims }, (_, k) => (digest[k % digest.length] - 128) / 128);
    const embedding = body.encoding_format === 'base64'
      ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((n, s) => n + words(s).length, 0);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ object: 'list', model: 'text-embedding-3-small', data, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
}

/**
 * Start the fake. `deployments` (optional) limits the deployment names that exist. Every
 * request is recorded in `requests` as {method, url, headers, body}. Faults: `x-fake-status: N`
 * answers N in Azure's error shape; `x-fake-cut-after: N` destroys the socket after N SSE events
 * (a whole body is cut in half).
 */
export async function startFakeAzure({ port = 0, deployments } = {}) {
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
      if (!req.headers['api-key'] && !/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
        return azureError(res, 401, { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' });
      }
      const status = Number(req.headers['x-fake-status'] ?? 0);
      if (status === 429) {
        res.setHeader('retry-after', '1');
        return azureError(res, 429, { code: '429', message: 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.' });
      }
      if (status >= 400) return azureError(res, status, { code: String(status), message: `fake failure ${status}` });
      let m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(url.pathname);
      let deployment;
      let operation;
      if (m) {
        [, deployment, operation] = m;
        deployment = decodeURIComponent(deployment);
        const version = url.searchParams.get('api-version');
        if (!version) return azureError(res, 404, { code: '404', message: 'Resource not found' });
        if (!VERSION.test(version)) return azureError(res, 400, { code: 'BadRequest', message: 'API version not supported' });
      } else if ((m = /^\/openai\/v1\/(chat\/completions|embeddings)$/.exec(url.pathname))) {
        [, operation] = m;
        deployment = body?.model;
      } else {
        return azureError(res, 404, { code: '404', message: 'Resource not found' });
      }
      if (req.method !== 'POST') return azureError(res, 405, { code: '405', message: 'Method not allowed' });
      if (!deployment || (deployments && !deployments.includes(deployment))) {
        return azureError(res, 404, { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.' });
      }
      if (!(req.headers['content-type'] ?? '').startsWith('application/json') || body === undefined) {
        return invalid(res, 'Invalid JSON body');
      }
      const cutAfter = req.headers['x-fake-cut-after'] === undefined ? undefined : Number(req.headers['x-fake-cut-after']);
      if (operation === 'embeddings') return embeddings(res, body);
      return chat(res, body, deployment, { cutAfter });
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
