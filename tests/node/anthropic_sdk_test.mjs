// The official `@anthropic-ai/sdk` as a real client of tollgate's POST
// /v1/messages, routed to a provider of type anthropic (passed as it is) and
// to an OpenAI-compatible one (translated): messages.create, messages.stream
// (text events, finalMessage), a tool round trip (tool_use -> tool_result ->
// the final answer), usage in the SDK's objects, the SDK's typed errors from
// tollgate's Anthropic-shaped ones. Then the `openai` SDK's chat against the
// Anthropic provider (translated): plain, streamed with and without
// stream_options.include_usage, a tool round trip.
//
// Started by tests/e2e/test_anthropic_sdk.py with TOLLGATE_URL, a key made
// through the admin API in TOLLGATE_API_KEY, and MOCK_URL (the mock's
// /mock/config sets the cache knobs of some requests; others set them by
// header, which the providers forward). Every answer is checked against
// mock-llm's deterministic usage; the last line of stdout is the ledger
// rows the test then expects, one per request that reached a provider:
// EXPECTED [{model, operation, prompt, cached, written, completion,
// reasoning}, ...]. Exits non-zero on any failure.

import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const baseURL = process.env.TOLLGATE_URL;
const apiKey = process.env.TOLLGATE_API_KEY;
const mockURL = process.env.MOCK_URL;
if (!baseURL || !apiKey || !mockURL) {
  console.error('TOLLGATE_URL, TOLLGATE_API_KEY and MOCK_URL must be set');
  process.exit(2);
}

const anthropic = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const openai = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 20000 });

// The models of test_anthropic_sdk.py: claude on the anthropic-type
// provider, gpt on the openai-type one.
const MODELS = ['claude', 'gpt'];
const words = (s) => s.split(/\s+/).filter(Boolean).length;
const prose = (n) => Array.from({ length: n }, (_, i) => `tok${i + 1}`).join(' ');
const SYSTEM = 'You are terse.';
const QUESTION = 'Name three colours please';
// mock-llm: (words + 3) per message, the system prompt one more, plus 3
const PROMPT = (words(SYSTEM) + 3) + (words(QUESTION) + 3) + 3;
const user = (text) => [{ role: 'user', content: text }];

const expected = [];
function expect(model, operation, { prompt, cached = 0, written = 0, completion, reasoning = 0 }) {
  expected.push({ model, operation, prompt, cached, written, completion, reasoning });
}

async function mockConfig(settings) {
  const r = await fetch(`${mockURL}/mock/config`, { method: 'POST', body: JSON.stringify(settings),
                                                    headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, await r.text());
}

// Anthropic's usage as the gateway counts it: input_tokens excludes cache
// reads and writes; the prompt is all three.
function anthropicUsage(u, { input, read = 0, write = 0, output }) {
  assert.deepEqual({ input: u.input_tokens, read: u.cache_read_input_tokens ?? 0,
                     write: u.cache_creation_input_tokens ?? 0, output: u.output_tokens },
                   { input, read, write, output });
}

async function messagesCreate(model) {
  // claude: cache knobs by header; gpt: OpenAI's cached and reasoning tokens
  const headers = model === 'claude'
    ? { 'x-mock-cache-read': '50', 'x-mock-cache-write': '7', 'x-mock-output-tokens': '6' }
    : { 'x-mock-cached-tokens': '5', 'x-mock-reasoning-tokens': '2', 'x-mock-output-tokens': '6' };
  const msg = await anthropic.messages.create({ model, max_tokens: 100, system: SYSTEM,
                                                messages: user(QUESTION) }, { headers });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.content, [{ type: 'text', text: prose(6) }]);
  if (model === 'claude') {
    assert.equal(msg.model, 'claude-sonnet-4-5');   // passed as the provider sent it
    anthropicUsage(msg.usage, { input: PROMPT, read: 50, write: 7, output: 6 });
    expect(model, 'messages', { prompt: PROMPT + 57, cached: 50, written: 7, completion: 6 });
  } else {
    assert.equal(msg.model, 'gpt');                 // translated: the name the client asked for
    anthropicUsage(msg.usage, { input: PROMPT - 5, read: 5, output: 6 });
    // reasoning tokens have no place in Anthropic's usage, but are counted
    expect(model, 'messages', { prompt: PROMPT, cached: 5, completion: 6, reasoning: 2 });
  }
}

async function messagesStream(model) {
  // the cache knobs through /mock/config this time
  if (model === 'claude') await mockConfig({ cache_read_tokens: 7, cache_write_tokens: 9 });
  const stream = anthropic.messages.stream({ model, max_tokens: 5, messages: user(QUESTION) });
  let text = '';
  let events = 0;
  stream.on('text', (delta) => { text += delta; events++; });
  const final = await stream.finalMessage();
  if (model === 'claude') await mockConfig({ cache_read_tokens: 0, cache_write_tokens: 0 });
  assert.equal(text, prose(5));
  assert.equal(events, 5);
  assert.deepEqual(final.content.map((b) => [b.type, b.text]), [['text', prose(5)]]);
  const prompt = words(QUESTION) + 3 + 3;
  if (model === 'claude') {
    assert.equal(final.stop_reason, 'max_tokens');  // Anthropic's mock: 16 words, cut at 5
    anthropicUsage(final.usage, { input: prompt, read: 7, write: 9, output: 5 });
    expect(model, 'messages', { prompt: prompt + 16, cached: 7, written: 9, completion: 5 });
  } else {
    assert.equal(final.stop_reason, 'end_turn');    // OpenAI's mock: max_tokens words
    anthropicUsage(final.usage, { input: prompt, output: 5 });
    expect(model, 'messages', { prompt, completion: 5 });
  }
}

const weatherTool = {
  name: 'get_weather',
  description: 'The weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const TOOL_QUESTION = 'What is the weather in Paris';
const TOOL_RESULT = 'Sunny and 21 degrees';
// '{"city":"mock"}': 15 bytes of generated JSON, 4 bytes a token
const TOOL_INPUT_TOKENS = 4;

async function messagesToolRoundTrip(model) {
  // the call streamed: a tool_use block built from input_json_delta events
  const first = await anthropic.messages.stream({
    model, max_tokens: 200, tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' },
    messages: user(TOOL_QUESTION),
  }).finalMessage();
  assert.equal(first.stop_reason, 'tool_use');
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.deepEqual(uses[0].input, { city: 'mock' });
  assert.ok(uses[0].id);
  assert.equal(first.usage.output_tokens, TOOL_INPUT_TOKENS);
  const askPrompt = words(TOOL_QUESTION) + 3 + 3;
  expect(model, 'messages', { prompt: askPrompt, completion: TOOL_INPUT_TOKENS });

  const second = await anthropic.messages.create({
    model, max_tokens: 200, tools: [weatherTool],
    messages: [
      ...user(TOOL_QUESTION),
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: TOOL_RESULT }] },
    ],
  }, { headers: { 'x-mock-output-tokens': '7' } });
  assert.equal(second.stop_reason, 'end_turn');
  assert.deepEqual(second.content, [{ type: 'text', text: prose(7) }]);
  // the tool call counts 0, its turn 3; the result counts its words
  const prompt = (words(TOOL_QUESTION) + 3) + 3 + (words(TOOL_RESULT) + 3) + 3;
  anthropicUsage(second.usage, { input: prompt, output: 7 });
  expect(model, 'messages', { prompt, completion: 7 });
}

async function messagesErrors() {
  await assert.rejects(
    anthropic.messages.create({ model: 'gpt', max_tokens: 5, top_k: 3, messages: user('x') }),
    (e) => e instanceof Anthropic.BadRequestError && e.error.type === 'error' &&
           e.error.error.type === 'invalid_request_error' && e.message.includes('top_k'));
  await assert.rejects(
    anthropic.messages.create({ model: 'no-such-model', max_tokens: 5, messages: user('x') }),
    (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === 'not_found_error');
  const stranger = new Anthropic({ baseURL, apiKey: 'sk-ant-made-up', maxRetries: 0 });
  await assert.rejects(stranger.messages.create({ model: 'claude', max_tokens: 5, messages: user('x') }),
                       (e) => e instanceof Anthropic.AuthenticationError);
}

// ---- the openai SDK on the Anthropic provider (translated) ---------------

const chatMessages = [{ role: 'system', content: SYSTEM }, { role: 'user', content: QUESTION }];

async function chatPlain() {
  const res = await openai.chat.completions.create(
    { model: 'claude', max_tokens: 50, messages: chatMessages },
    { headers: { 'x-mock-cache-read': '3', 'x-mock-cache-write': '4', 'x-mock-output-tokens': '6' } });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.model, 'claude');
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, prose(6));
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.deepEqual({ p: res.usage.prompt_tokens, c: res.usage.completion_tokens, t: res.usage.total_tokens,
                     cached: res.usage.prompt_tokens_details.cached_tokens },
                   { p: PROMPT + 7, c: 6, t: PROMPT + 13, cached: 3 });
  expect('claude', 'chat', { prompt: PROMPT + 7, cached: 3, written: 4, completion: 6 });
}

async function chatStream(includeUsage) {
  const params = { model: 'claude', max_tokens: 4, messages: chatMessages, stream: true };
  if (includeUsage) params.stream_options = { include_usage: true };
  const stream = await openai.chat.completions.create(params, { headers: { 'x-mock-cache-write': '2' } });
  let content = '';
  let usage = null;
  let finish = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, 'claude');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      content += choice.delta?.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.equal(content, prose(4));
  assert.equal(finish, 'length');
  if (includeUsage) {
    assert.ok(usage, 'usage chunk missing although requested');
    assert.deepEqual({ p: usage.prompt_tokens, c: usage.completion_tokens }, { p: PROMPT + 2, c: 4 });
  } else {
    assert.equal(usage, null, 'usage chunk reached a client that did not ask for it');
  }
  expect('claude', 'chat', { prompt: PROMPT + 2, written: 2, completion: 4 });
  return chunks;
}

async function chatToolRoundTrip() {
  const tools = [{ type: 'function', function: { name: weatherTool.name, description: weatherTool.description,
                                                 parameters: weatherTool.input_schema } }];
  const first = await openai.chat.completions.create({
    model: 'claude', max_tokens: 200, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    messages: [{ role: 'user', content: TOOL_QUESTION }],
  });
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  const calls = first.choices[0].message.tool_calls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].type, 'function');
  assert.equal(calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'mock' });
  assert.equal(first.usage.completion_tokens, TOOL_INPUT_TOKENS);
  expect('claude', 'chat', { prompt: words(TOOL_QUESTION) + 3 + 3, completion: TOOL_INPUT_TOKENS });

  const stream = await openai.chat.completions.create({
    model: 'claude', max_tokens: 3, tools, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: TOOL_QUESTION }, first.choices[0].message,
               { role: 'tool', tool_call_id: calls[0].id, content: TOOL_RESULT }],
  });
  let content = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) content += choice.delta?.content ?? '';
  }
  assert.equal(content, prose(3));
  const prompt = (words(TOOL_QUESTION) + 3) + 3 + (words(TOOL_RESULT) + 3) + 3;
  assert.deepEqual({ p: usage.prompt_tokens, c: usage.completion_tokens }, { p: prompt, c: 3 });
  expect('claude', 'chat', { prompt, completion: 3 });
}

async function chatRefused() {
  await assert.rejects(
    openai.chat.completions.create({ model: 'claude', max_tokens: 5, n: 3, messages: chatMessages }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'n' && e.message.includes('one choice'));
}

const checks = [];
for (const model of MODELS) {
  checks.push([`messages.create ${model}`, () => messagesCreate(model)],
              [`messages.stream ${model}`, () => messagesStream(model)],
              [`tool round trip ${model}`, () => messagesToolRoundTrip(model)]);
}
checks.push(['messages errors', messagesErrors],
            ['openai chat plain', chatPlain],
            ['openai chat stream', async () => assert.equal(await chatStream(false), 4 + 2)],
            ['openai chat stream with usage', async () => assert.equal(await chatStream(true), 4 + 3)],
            ['openai chat tool round trip', chatToolRoundTrip],
            ['openai chat refused', chatRefused]);

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}
console.log('EXPECTED ' + JSON.stringify(expected));
process.exit(failed ? 1 : 0);
