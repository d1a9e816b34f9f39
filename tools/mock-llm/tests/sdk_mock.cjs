// The official `openai` and `@anthropic-ai/sdk` npm clients straight against
// mock-llm: their parsers and stream accumulators judge the mock's shapes
// (chat tools, n, structured parse(), Responses plain, streamed and parse(),
// legacy completions, embeddings dimensions, images, audio, Anthropic
// messages plain, streamed, with tools, and its errors). Started by
// test_apis.py with MOCK_URL (the mock) and NODE_MODULES (tests/node's);
// exits non-zero on any failure.
'use strict';

const assert = require('node:assert/strict');
const { createRequire } = require('node:module');
const path = require('node:path');

const requireSdk = createRequire(path.join(process.env.NODE_MODULES, 'package.json'));
const OpenAI = requireSdk('openai');
const AnthropicModule = requireSdk('@anthropic-ai/sdk');
const Anthropic = AnthropicModule.default || AnthropicModule;

const baseURL = process.env.MOCK_URL;
const openai = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'sk-test', maxRetries: 0, timeout: 20000 });
const anthropic = new Anthropic({ baseURL, apiKey: 'sk-ant-test', maxRetries: 0, timeout: 20000 });

const words = (n) => Array.from({ length: n }, (_, i) => `tok${i + 1}`).join(' ');
const weather = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const user = (content) => [{ role: 'user', content }];

async function chatTools() {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weather } }];
  const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi'), tools,
                                                     tool_choice: 'required', n: 2 });
  assert.equal(res.choices.length, 2);
  for (const [i, choice] of res.choices.entries()) {
    assert.equal(choice.index, i);
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), { city: 'mock', days: 0 });
  }
  // the SDK's stream helper accumulates tool-call deltas into a message
  const stream = openai.beta.chat.completions.stream({ model: 'gpt-4o-mini', messages: user('use tool'), tools });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(JSON.parse(final.choices[0].message.tool_calls[0].function.arguments), { city: 'mock', days: 0 });
}

async function chatParse() {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
    required: ['name', 'tags'],
    additionalProperties: false,
  };
  const res = await openai.beta.chat.completions.parse({
    model: 'gpt-4o-mini', messages: user('hi'),
    response_format: { type: 'json_schema', json_schema: { name: 'thing', strict: true, schema } },
  });
  assert.deepEqual(res.choices[0].message.parsed, { name: 'mock', tags: ['mock'] });
  const streamed = await openai.beta.chat.completions.stream({ model: 'gpt-4o-mini', messages: user('hi'),
                                                               max_tokens: 3, n: 2 }).finalChatCompletion();
  assert.deepEqual(streamed.choices.map((c) => c.message.content), [words(3), words(3)]);
}

async function responses() {
  const res = await openai.responses.create({ model: 'gpt-4o', input: 'hello', max_output_tokens: 5 });
  assert.equal(res.output_text, words(5));
  assert.equal(res.usage.total_tokens, res.usage.input_tokens + 5);

  const stream = openai.responses.stream({ model: 'gpt-4o', input: 'hello', max_output_tokens: 4 });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(deltas, words(4));
  assert.equal(final.output[0].content[0].text, words(4));
  assert.equal(final.usage.output_tokens, 4);

  const tools = [{ type: 'function', name: 'get_weather', parameters: weather, strict: true }];
  const call = await openai.responses.create({ model: 'gpt-4o', input: 'use tool', tools });
  assert.equal(call.output[0].type, 'function_call');
  assert.deepEqual(JSON.parse(call.output[0].arguments), { city: 'mock', days: 0 });

  const parsed = await openai.responses.parse({
    model: 'gpt-4o', input: 'hi',
    text: { format: { type: 'json_schema', name: 'weather', schema: weather, strict: true } },
  });
  assert.deepEqual(parsed.output_parsed, { city: 'mock', days: 0 });
}

async function others() {
  const legacy = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 2 });
  assert.equal(legacy.choices[0].text, words(2));
  let streamed = '';
  for await (const chunk of await openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 3,
                                                              stream: true })) {
    streamed += chunk.choices[0]?.text ?? '';
  }
  assert.equal(streamed, words(3));

  // the SDK asks for base64 and decodes it into floats
  const emb = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 5 });
  assert.equal(emb.data.length, 2);
  assert.equal(emb.data[1].embedding.length, 5);
  assert.ok(Math.abs(emb.data[1].embedding[4] - 0.1) < 1e-6);

  const img = await openai.images.generate({ model: 'gpt-image-1', prompt: 'a cat', n: 2 });
  assert.equal(img.data.length, 2);
  assert.equal(Buffer.from(img.data[0].b64_json, 'base64').subarray(1, 4).toString(), 'PNG');

  const wav = Buffer.alloc(44 + 32000);
  wav.write('RIFF', 0); wav.writeUInt32LE(36 + 32000, 4); wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16); wav.writeUInt16LE(1, 20); wav.writeUInt16LE(1, 22);
  wav.writeUInt32LE(16000, 24); wav.writeUInt32LE(32000, 28); wav.writeUInt16LE(2, 32); wav.writeUInt16LE(16, 34);
  wav.write('data', 36); wav.writeUInt32LE(32000, 40);
  const file = await OpenAI.toFile(wav, 'a.wav', { type: 'audio/wav' });
  const text = await openai.audio.transcriptions.create({ model: 'whisper-1', file,
                                                          response_format: 'verbose_json' });
  assert.equal(text.text, words(16));
  assert.equal(text.duration, 1);

  const speech = await openai.audio.speech.create({ model: 'tts-1', input: 'one two', voice: 'alloy',
                                                    response_format: 'wav' });
  const audio = Buffer.from(await speech.arrayBuffer());
  assert.equal(audio.subarray(0, 4).toString(), 'RIFF');
  assert.equal(audio.length, 44 + 2 * 2400);
}

async function anthropicMessages() {
  const msg = await anthropic.messages.create({ model: 'claude-mock', max_tokens: 1024,
                                                system: 'be brief', messages: user('hello') },
                                              { headers: { 'x-mock-cache-read': '50', 'x-mock-cache-write': '7' } });
  assert.equal(msg.content[0].text, words(16));
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.usage, { input_tokens: 12, output_tokens: 16, cache_creation_input_tokens: 7,
                                cache_read_input_tokens: 50 });

  const stream = anthropic.messages.stream({ model: 'claude-mock', max_tokens: 3, messages: user('hello') });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(text, words(3));
  assert.equal(final.stop_reason, 'max_tokens');
  assert.equal(final.usage.output_tokens, 3);

  const tools = [{ name: 'get_weather', description: 'weather', input_schema: weather }];
  const toolStream = anthropic.messages.stream({ model: 'claude-mock', max_tokens: 100, tools,
                                                 tool_choice: { type: 'any' }, messages: user('hi') });
  const used = await toolStream.finalMessage();
  assert.equal(used.stop_reason, 'tool_use');
  assert.equal(used.content[0].type, 'tool_use');
  assert.deepEqual(used.content[0].input, { city: 'mock', days: 0 });

  await assert.rejects(anthropic.messages.create({ model: 'c', messages: user('x') }),
                       (e) => e instanceof Anthropic.BadRequestError && e.error.error.type === 'invalid_request_error');
  await assert.rejects(anthropic.messages.create({ model: 'c', max_tokens: 5, messages: user('x') },
                                                 { headers: { 'x-mock-status': '529' } }),
                       (e) => e.status === 529 && e.error.error.type === 'overloaded_error');
}

const checks = { chatTools, chatParse, responses, others, anthropicMessages };

(async () => {
  let failed = 0;
  for (const [name, check] of Object.entries(checks)) {
    try {
      await check();
      console.log(`sdk ok: ${name}`);
    } catch (e) {
      failed++;
      console.log(`sdk FAIL: ${name}: ${e.stack || e}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
