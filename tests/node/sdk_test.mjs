// The official `openai` npm SDK as a real client of tollgate: chat
// completions (plain, streamed, a tool call's round trip, n, structured
// output through parse()), the Responses API (plain, streamed, parse()),
// legacy completions, embeddings (with dimensions), images, audio
// transcriptions (a WAV file made here) and speech, the model list and one
// model, checked against mock-llm's deterministic answers, and the SDK's
// typed errors built from tollgate's error JSON. Started by
// tests/e2e/test_sdk.py, which passes the gateway's URL in TOLLGATE_URL and
// a key made through the admin API in TOLLGATE_API_KEY, and then checks the
// ledger rows these calls left; exits non-zero on any failure.

import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';

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
  // base64 (the SDK's default), decoded by the SDK: value j of input i is
  // ((i+1)*(j+1) mod 100) / 100
  const small = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'],
                                                 dimensions: 5 });
  assert.deepEqual(small.data.map((d) => d.embedding.length), [5, 5]);
  assert.ok(Math.abs(small.data[1].embedding[4] - 0.1) < 1e-6, `${small.data[1].embedding}`);
}

async function models() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gpt-4o-mini'), `models: ${ids}`);
  const one = await client.models.retrieve('gpt-image-1');
  assert.deepEqual({ id: one.id, object: one.object }, { id: 'gpt-image-1', object: 'model' });
  await assert.rejects(client.models.retrieve('gpt-9'),
                       (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found');
}

const weather = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city', 'days'],
  additionalProperties: false,
};

async function toolRoundTrip() {
  // forced, the mock calls the tool with an example of its schema; then,
  // given the result, it answers in prose
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weather } }];
  const ask = [{ role: 'user', content: 'weather in Paris' }];
  const first = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: ask, tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  const call = first.choices[0].message.tool_calls[0];
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'mock', days: 0 });
  const result = 'sunny and mild';
  const second = await client.chat.completions.create({
    model: 'gpt-4o-mini', tools, max_tokens: 3,
    messages: [...ask, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: result }],
  });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.equal(second.choices[0].message.content, expectedContent(3));
  // the user's words, the tool call (0 words) and the tool's result
  assert.equal(second.usage.prompt_tokens, (3 + 3) + 3 + (3 + 3) + 3);
}

async function severalChoices() {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 2, n: 2 });
  assert.deepEqual(res.choices.map((c) => [c.index, c.message.content]),
                   [[0, expectedContent(2)], [1, expectedContent(2)]]);
  assert.equal(res.usage.completion_tokens, 2 * 2);
}

async function structuredOutput() {
  // zod is not installed: the schema is given as JSON, and parse() parses
  // the content of a json_schema answer itself
  assert.equal(typeof client.beta.chat.completions.parse, 'function');
  const res = await client.beta.chat.completions.parse({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'the weather please' }],
    response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: weather } },
  });
  assert.deepEqual(res.choices[0].message.parsed, { city: 'mock', days: 0 });
  assert.deepEqual(JSON.parse(res.choices[0].message.content), { city: 'mock', days: 0 });
}

async function responsesPlain() {
  const res = await client.responses.create({ model: 'gpt-4o-mini', input: 'Name three colours please',
                                              max_output_tokens: 5, metadata: { via: 'sdk' } });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  assert.equal(res.output_text, expectedContent(5));
  // a string input is one message: words + 3, plus 3
  assert.deepEqual({ i: res.usage.input_tokens, o: res.usage.output_tokens, t: res.usage.total_tokens },
                   { i: 4 + 3 + 3, o: 5, t: 4 + 3 + 3 + 5 });
  const parsed = await client.responses.parse({
    model: 'gpt-4o-mini', input: 'the weather please',
    text: { format: { type: 'json_schema', name: 'weather', schema: weather, strict: true } },
  });
  assert.deepEqual(parsed.output_parsed, { city: 'mock', days: 0 });
}

async function responsesStreamed() {
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Name three colours please',
                                                 max_output_tokens: 4, stream: true });
  const types = [];
  let text = '';
  let last = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    last = event;
  }
  assert.equal(text, expectedContent(4));
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 4);
  assert.equal(last.response.usage.output_tokens, 4);
  assert.equal(last.response.usage.input_tokens, 4 + 3 + 3);
  // the SDK's accumulating helper, over the same stream shape
  const helper = client.responses.stream({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 2 });
  const final = await helper.finalResponse();
  assert.equal(final.output[0].content[0].text, expectedContent(2));
  assert.equal(final.usage.output_tokens, 2);
}

async function legacyCompletions() {
  const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test',
                                                max_tokens: 3 });
  assert.equal(res.object, 'text_completion');
  assert.equal(res.choices[0].text, expectedContent(3));
  assert.deepEqual({ p: res.usage.prompt_tokens, c: res.usage.completion_tokens }, { p: 5 + 1, c: 3 });
  let text = '';
  for await (const chunk of await client.completions.create({ model: 'gpt-3.5-turbo-instruct',
                                                              prompt: 'x', max_tokens: 3, stream: true })) {
    text += chunk.choices[0]?.text ?? '';
  }
  assert.equal(text, expectedContent(3));
}

async function images() {
  const res = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red cat', n: 2 });
  assert.equal(res.data.length, 2);
  for (const d of res.data)
    assert.equal(Buffer.from(d.b64_json, 'base64').subarray(1, 4).toString(), 'PNG');
  assert.equal(res.usage.input_tokens, 3);
}

// A silent 16-bit mono 16 kHz WAV file of `seconds`.
function wav(seconds) {
  const data = 2 * 16000 * seconds;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0); b.writeUInt32LE(36 + data, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24); b.writeUInt32LE(32000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(data, 40);
  return b;
}

async function transcription() {
  const file = await toFile(wav(2), 'speech.wav', { type: 'audio/wav' });
  const verbose = await client.audio.transcriptions.create({ model: 'whisper-1', file,
                                                             response_format: 'verbose_json' });
  assert.equal(verbose.text, expectedContent(16));
  assert.equal(verbose.duration, 2);
  const plain = await client.audio.transcriptions.create({
    model: 'whisper-1', file: await toFile(wav(1), 'short.wav', { type: 'audio/wav' }) });
  assert.equal(plain.text, expectedContent(16));
  assert.deepEqual(plain.usage, { type: 'duration', seconds: 1 });
}

async function speech() {
  const input = 'one two three four';
  const res = await client.audio.speech.create({ model: 'tts-1', input, voice: 'alloy', response_format: 'wav' });
  assert.equal(res.headers.get('content-type'), 'audio/wav');
  const audio = Buffer.from(await res.arrayBuffer());
  // 50 ms of 24 kHz 16-bit silence per word
  assert.equal(audio.subarray(0, 4).toString(), 'RIFF');
  assert.equal(audio.length, 44 + 4 * 2 * 1200);
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
                brokenStream, toolRoundTrip, severalChoices, structuredOutput, responsesPlain,
                responsesStreamed, legacyCompletions, images, transcription, speech };
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
