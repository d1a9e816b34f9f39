// The official `openai` npm SDK as a real client of tollgate: plain and
// streamed chat completions, embeddings and the model list, checked against
// mock-llm's deterministic answers, and the SDK's typed errors built from
// tollgate's error JSON. Started by tests/e2e/test_sdk.py, which passes the
// gateway's URL in TOLLGATE_URL and a key made through the admin API in
// TOLLGATE_API_KEY; exits non-zero on any failure.

import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.TOLLGATE_URL;
const apiKey = process.env.TOLLGATE_API_KEY;
if (!baseURL || !apiKey) {
  console.error('TOLLGATE_URL and TOLLGATE_API_KEY must be set');
  process.exit(2);
}

const options = { baseURL: `${baseURL}/v1`, maxRetries: 0, timeout: 20000 };
const client = new OpenAI({ ...options, apiKey });

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name three colours please' },
];
// mock-llm: sum over messages of (words + 3), plus 3.
const promptTokens = (3 + 3) + (4 + 3) + 3;
const expectedContent = (n) => Array.from({ length: n }, (_, i) => `tok${i + 1}`).join(' ');

async function plainChat() {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages,
                                                     max_tokens: 6 });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, expectedContent(6));
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.deepEqual(
    { p: res.usage.prompt_tokens, c: res.usage.completion_tokens, t: res.usage.total_tokens },
    { p: promptTokens, c: 6, t: promptTokens + 6 });
}

async function streamedChat(includeUsage) {
  const params = { model: 'gpt-4o-mini', messages, max_tokens: 5, stream: true };
  if (includeUsage) params.stream_options = { include_usage: true };
  const stream = await client.chat.completions.create(params);
  let content = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) content += choice.delta?.content ?? '';
  }
  assert.equal(content, expectedContent(5));
  if (includeUsage) {
    assert.ok(usage, 'usage chunk missing although requested');
    assert.equal(usage.prompt_tokens, promptTokens);
    assert.equal(usage.completion_tokens, 5);
    assert.equal(chunks, 5 + 2);
  } else {
    assert.equal(usage, null, 'usage chunk reached a client that did not ask for it');
    assert.equal(chunks, 5 + 1);
  }
}

async function embeddings() {
  // encoding_format given: without it the SDK asks for base64.
  const res = await client.embeddings.create({ model: 'text-embedding-3-small',
                                               input: ['hello world', 'x'],
                                               encoding_format: 'float' });
  assert.equal(res.data.length, 2);
  for (const item of res.data) {
    assert.equal(item.embedding.length, 8);
    for (const v of item.embedding) assert.equal(typeof v, 'number');
  }
  assert.equal(res.usage.prompt_tokens, (2 + 1) + (1 + 1));
}

async function models() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gpt-4o-mini'), `models: ${ids}`);
}

async function errorShape() {
  // The SDK turns tollgate's error JSON into its own typed errors.
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini' }),
    (err) => err instanceof OpenAI.BadRequestError && err.code === 'invalid_request');
}

async function wrongKey() {
  // A key of tollgate's shape that its store does not know.
  const stranger = new OpenAI({ ...options, apiKey: `tg-${'A'.repeat(43)}` });
  await assert.rejects(
    stranger.chat.completions.create({ model: 'gpt-4o-mini', messages }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(err.type, 'authentication_error');
      return true;
    });
}

async function brokenStream() {
  // The model 'broken-stream' is served by a mock that cuts every stream
  // after half its tokens: the SDK must raise tollgate's closing error
  // event, never end the iteration as if the answer were whole.
  const stream = await client.chat.completions.create({ model: 'broken-stream', messages, max_tokens: 8,
                                                        stream: true });
  let content = '';
  await assert.rejects(
    (async () => {
      for await (const chunk of stream)
        for (const choice of chunk.choices) content += choice.delta?.content ?? '';
    })(),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `got ${err}`);
      assert.equal(err.code, 'upstream_stream_broken');
      assert.equal(err.type, 'upstream_error');
      return true;
    });
  assert.equal(content, expectedContent(4));
}

const cases = { plainChat, streamedWithoutUsage: () => streamedChat(false),
                streamedWithUsage: () => streamedChat(true), embeddings, models, errorShape, wrongKey,
                brokenStream };
let failed = 0;
for (const [name, fn] of Object.entries(cases)) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.stack || err}`);
  }
}
process.exit(failed ? 1 : 0);
