# End-to-end: the OpenAI surfaces beyond chat and embeddings (Responses,
# legacy completions, images, audio transcriptions and speech, one model by
# id) through tollgate, against mock-llm and a recording upstream written
# here. Each answer is what the provider sent (a reference mock-llm answers
# the same request directly for comparison); each call's tokens, cost and
# operation are exact in the metrics and in its ledger row, priced from the
# config by operation (tokens, images, seconds of audio, characters); the
# llm_* series exist for the operations used and no others. Streams: the
# Responses stream ends with response.completed and no [DONE], a client
# that leaves one mid-way is billed estimated tokens. Transcriptions: the
# form's model field is routed and replaced, the rest of the body goes on
# byte for byte; a form without a model, or a body that is no form, is
# refused. On /v1/responses a provider answering 500 falls back to the
# next route, and so does one whose stream opens at once but whose first
# output is late (the first-token deadline). "stream": true on an operation
# the gateway does not stream is the provider's to judge. Unknown members
# pass through both ways untouched.

import json
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from harness import (ADMIN_ENV, OPERATIONS, GatewayTestCase, free_port, gateway_config,
                     hang_up_mid_stream, model, poll, provider, sse_events, tenancy_sections,
                     unbounded_labels)

CHEAP = {"input": 0.15, "cached_input": 0.075, "output": 0.60}
INSTRUCT = {"input": 1.50, "output": 2.00}
IMAGE_AND_TOKENS = {"input": 5.00, "output": 40.00, "image": 0.04}
IMAGE_ONLY = {"image": 0.08}
PER_SECOND = {"audio_second": 0.0001}
SECONDS_AND_TOKENS = {"audio_second": 0.0001, "input": 2.50, "output": 10.00}
SPEECH = {"characters": 15.00}

# client model -> (provider, upstream model, pricing)
MODELS = {
    "resp": ("mock", "gpt-4o-mini", CHEAP),
    "resp-stream": ("mock", "gpt-4o-mini", CHEAP),
    "resp-leave": ("mock", "gpt-4o-mini", CHEAP),
    "instruct": ("mock", "gpt-3.5-turbo-instruct", INSTRUCT),
    "instruct-stream": ("mock", "gpt-3.5-turbo-instruct", INSTRUCT),
    "instruct-leave": ("mock", "gpt-3.5-turbo-instruct", INSTRUCT),
    "gpt-image-1": ("mock", "gpt-image-1", IMAGE_AND_TOKENS),
    "dall-e-3": ("mock", "dall-e-3", IMAGE_ONLY),
    "whisper-1": ("mock", "whisper-1", PER_SECOND),
    # a client name routed to another upstream name, which the mock answers
    # with token usage (whisper-1 would get seconds)
    "transcriber": ("mock", "gpt-4o-mini-transcribe", SECONDS_AND_TOKENS),
    "tts-1": ("mock", "tts-1", SPEECH),
    "recorded-whisper": ("recorder", "upstream-whisper", PER_SECOND),
    "recorded-resp": ("recorder", "upstream-resp", CHEAP),
}
FALLBACK_PRICING = CHEAP    # "resilient": flaky (500), then backup
FORWARD = ["x-mock-token-delay-ms", "x-mock-output-tokens"]


def price(p, prompt=0, completion=0, images=0, seconds=0, characters=0):
    return ((prompt * p.get("input", 0) + completion * p.get("output", 0)
             + characters * p.get("characters", 0)) / 1e6
            + images * p.get("image", 0) + seconds * p.get("audio_second", 0))


def words(s):
    return len(s.split())


def responses_prompt(text):
    """mock-llm's input tokens of a Responses string input: one message."""
    return words(text) + 3 + 3


def wav(seconds, rate=16000):
    """A silent 16-bit mono WAV file of that length."""
    data = b"\0\0" * int(seconds * rate)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + fmt + b"data" \
        + struct.pack("<I", len(data)) + data


BOUNDARY = "----tollgateE2E7MA4YWxkTrZu0gW"


def form(fields, boundary=BOUNDARY):
    """A multipart/form-data body of (name, value) or (name, (filename,
    bytes)) fields, in order; returns (body, content type)."""
    out = b""
    for name, value in fields:
        out += b"--" + boundary.encode() + b"\r\n"
        if isinstance(value, tuple):
            out += (b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                    b"Content-Type: audio/wav\r\n\r\n" % (name.encode(), value[0].encode()))
            out += value[1]
        else:
            out += b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode()
            out += value.encode()
        out += b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def mask(body):
    """A raw answer with the per-response values of mock-llm (ids, times)
    blanked, for comparing two answers byte for byte."""
    body = re.sub(rb"\b(resp|msg|cmpl)[-_]mock[-_]\d+", b"ID", body)
    return re.sub(rb'"(created|created_at)":\d+', b'"created":0', body)


# --- a recording upstream ------------------------------------------------------

# What the recorder answers, by path: bodies with members no API defines, so
# that the test can see them reach the client untouched.
RECORDED_ANSWERS = {
    "/v1/audio/transcriptions": (b'{"task":"transcribe","language":"english","duration":7.25,'
                                 b'"text":"hello \\"quoted\\" world","x_vendor":{"a":[1,2,{"b":null}]}}'),
    "/v1/responses": (b'{"id":"resp_rec","object":"response","status":"completed","output":[],'
                      b'"x_vendor":{"nested":["\\u00e9",true]},'
                      b'"usage":{"input_tokens":11,"output_tokens":5,"total_tokens":16}}'),
}


class Recorder:
    """An OpenAI-compatible provider that records every request (path,
    headers, body) and answers RECORDED_ANSWERS; stop() fits the harness's
    process list."""

    def __init__(self):
        self.requests = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()},
                                          body))
                answer = RECORDED_ANSWERS.get(self.path)
                self.send_response(200 if answer else 404)
                answer = answer or b'{"error":{"message":"no","type":"x","param":null,"code":null}}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def stop(self, fail):
        self.server.shutdown()
        self.server.server_close()


class OpenAISurfacesTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.ref = cls.start_mock()          # answers the same requests directly
        cls.flaky = cls.start_mock("--status", "500")
        cls.slow = cls.start_mock("--token-delay-ms", "1500")   # its events 1.5 s apart
        cls.backup = cls.start_mock()
        cls.recorder = Recorder()
        cls._procs.append(cls.recorder)
        providers = [provider("mock", cls.mock, forward_headers=FORWARD),
                     provider("flaky", cls.flaky), provider("backup", cls.backup),
                     provider("slow", cls.slow, first_token_timeout_ms=400),
                     provider("recorder", cls.recorder)]
        models = [model(name, [(p, upstream)], pricing) for name, (p, upstream, pricing) in MODELS.items()]
        models.append(model("resilient", [("flaky", "gpt-4o-mini"), ("backup", "gpt-4o-mini")],
                            FALLBACK_PRICING))
        models.append(model("resp-deadline", [("slow", "gpt-4o-mini"), ("mock", "gpt-4o-mini")], CHEAP))
        cls.model_names = [m["name"] for m in models]
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), providers, models, **tenancy_sections(cls.workdir)), ADMIN_ENV)
        cls.tollgate.create_org("surf", "paid")
        cls.key = cls.tollgate.create_key("surf", "k")
        cls.auth = {"Authorization": "Bearer " + cls.key["key"]}
        cls.expected = {}     # request id -> the ledger row's expected fields
        cls.answers = {}      # request id -> Response
        cls.sent = {}         # request id -> (content type, body bytes) as sent
        cls.send_traffic()

    # --- the traffic, all sent before any test looks -----------------------------

    @classmethod
    def send(cls, rid, path, body, headers=None, content_type="application/json", expect=None):
        """POSTs body (an object: JSON; bytes: as they are) with the key;
        expect: the call's (prompt, completion, cost) for its ledger row."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        hdrs = dict(cls.auth, **{"X-Request-ID": rid, "Content-Type": content_type})
        hdrs.update(headers or {})
        r = cls.tollgate.request("POST", path, body, hdrs)
        cls.answers[rid] = r
        cls.sent[rid] = (content_type, body)
        return r

    @classmethod
    def expect(cls, rid, name, operation, prompt, completion, dollars, stream=False, provider_name=None):
        p, upstream, _ = MODELS.get(name, ("backup", "gpt-4o-mini", None))
        cls.expected[rid] = {"org": "surf", "key_id": cls.key["id"], "model_requested": name,
                             "model_used": upstream, "provider": provider_name or p,
                             "operation": operation, "prompt_tokens": prompt,
                             "completion_tokens": completion, "cached_tokens": 0,
                             "cost_usd": dollars, "status": 200, "estimated": 0, "stream": stream}

    @classmethod
    def send_traffic(cls):
        text = "hello there you"
        p_resp = responses_prompt(text)
        cls.send("resp-plain", "/v1/responses",
                 {"model": "resp", "input": text, "max_output_tokens": 3})
        cls.expect("resp-plain", "resp", "responses", p_resp, 3, price(CHEAP, p_resp, 3))
        cls.send("resp-stream", "/v1/responses",
                 {"model": "resp-stream", "input": text, "max_output_tokens": 4, "stream": True})
        # the row is in the journal before the stream's end goes out: usage,
        # which moves the journal's rows into the ledger first, counts it
        # with no waiting
        cls.usage_at_stream_end = cls.tollgate.admin(
            "GET", "/usage?group_by=model&key=" + cls.key["id"]).json()
        cls.expect("resp-stream", "resp-stream", "responses", p_resp, 4, price(CHEAP, p_resp, 4),
                   stream=True)

        p_cmpl = words(text) + 1
        cls.send("cmpl-plain", "/v1/completions",
                 {"model": "instruct", "prompt": text, "max_tokens": 3})
        cls.expect("cmpl-plain", "instruct", "completions", p_cmpl, 3, price(INSTRUCT, p_cmpl, 3))
        cls.send("cmpl-stream", "/v1/completions",
                 {"model": "instruct-stream", "prompt": text, "max_tokens": 5, "stream": True})
        cls.expect("cmpl-stream", "instruct-stream", "completions", p_cmpl, 5,
                   price(INSTRUCT, p_cmpl, 5), stream=True)

        # gpt-image-1: b64_json and token usage (quality auto: 1056 a image)
        prompt = "a red cat"
        cls.send("img-tokens", "/v1/images/generations",
                 {"model": "gpt-image-1", "prompt": prompt, "n": 2})
        cls.expect("img-tokens", "gpt-image-1", "image", words(prompt), 2 * 1056,
                   price(IMAGE_AND_TOKENS, words(prompt), 2 * 1056, images=2))
        cls.send("img-urls", "/v1/images/generations",
                 {"model": "dall-e-3", "prompt": prompt, "n": 2})
        cls.expect("img-urls", "dall-e-3", "image", 0, 0, price(IMAGE_ONLY, images=2))
        # "stream" on an operation the gateway does not stream is the
        # provider's to judge; its plain answer is relayed
        cls.send("img-stream-member", "/v1/images/generations",
                 {"model": "dall-e-3", "prompt": prompt, "n": 1, "stream": True})
        cls.expect("img-stream-member", "dall-e-3", "image", 0, 0, price(IMAGE_ONLY, images=1))

        # 2.5 s of audio; whisper-1's usage says ceil(2.5) = 3 seconds
        cls.audio = wav(2.5)
        for rid, name, fmt in (("stt-json", "whisper-1", "json"),
                               ("stt-verbose", "whisper-1", "verbose_json"),
                               ("stt-text", "whisper-1", "text"),
                               ("stt-tokens", "transcriber", "json")):
            body, ctype = form([("file", ("a.wav", cls.audio)), ("model", name),
                                ("response_format", fmt)])
            cls.send(rid, "/v1/audio/transcriptions", body, content_type=ctype)
        cls.expect("stt-json", "whisper-1", "audio_transcription", 0, 0, price(PER_SECOND, seconds=3))
        cls.expect("stt-verbose", "whisper-1", "audio_transcription", 0, 0,
                   price(PER_SECOND, seconds=3))
        # a text answer says nothing of its length: 0 seconds, nothing to pay
        cls.expect("stt-text", "whisper-1", "audio_transcription", 0, 0, 0.0)
        # token usage and no seconds: the tokens' price only
        cls.expect("stt-tokens", "transcriber", "audio_transcription", 30, 16,
                   price(SECONDS_AND_TOKENS, 30, 16))
        # the recorder answers verbose_json without usage: its duration counts
        body, ctype = form([("model", "recorded-whisper"), ("x_unknown", "kept as it is"),
                            ("file", ("b.wav", cls.audio))], boundary="b0undary")
        cls.send("stt-recorded", "/v1/audio/transcriptions", body, content_type=ctype)
        cls.expect("stt-recorded", "recorded-whisper", "audio_transcription", 0, 0,
                   price(PER_SECOND, seconds=7.25))

        cls.speech_inputs = {"tts-ascii": "Hello there, how are you today?",
                             "tts-escaped": 'Caf\u00e9 "na\u00efve" \\ r\u00e9sum\u00e9\n',
                             "tts-utf8": "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u4f60\u597d"}
        for rid, text_in in cls.speech_inputs.items():
            body = {"model": "tts-1", "input": text_in, "voice": "alloy", "response_format": "wav"}
            raw = json.dumps(body, ensure_ascii=rid != "tts-utf8").encode()
            cls.send(rid, "/v1/audio/speech", raw)
            cls.expect(rid, "tts-1", "audio_speech", 0, 0, price(SPEECH, characters=len(text_in)))
        cls.send("tts-mp3", "/v1/audio/speech", {"model": "tts-1", "input": "one two three",
                                                 "voice": "alloy", "response_format": "mp3"})
        cls.expect("tts-mp3", "tts-1", "audio_speech", 0, 0, price(SPEECH, characters=13))
        cls.send("tts-stream-member", "/v1/audio/speech", {"model": "tts-1", "input": "one two",
                                                           "voice": "alloy", "stream": True})
        cls.expect("tts-stream-member", "tts-1", "audio_speech", 0, 0, price(SPEECH, characters=7))

        # unknown members, both ways, through the recorder
        cls.unknown_body = ('{"model": "recorded-resp", "input": [{"role": "user", "content": "hi"}],'
                            ' "x_future": {"deep": [1, 2.50, "\\u00e9\\"", null]}, "store": false}').encode()
        cls.send("resp-recorded", "/v1/responses", cls.unknown_body)
        cls.expect("resp-recorded", "recorded-resp", "responses", 11, 5, price(CHEAP, 11, 5))

        # a provider that answers 500, then the next route
        for rid, stream in (("resp-fallback", False), ("resp-fallback-stream", True)):
            body = {"model": "resilient", "input": text, "max_output_tokens": 2}
            if stream:
                body["stream"] = True
            cls.send(rid, "/v1/responses", body)
            cls.expect(rid, "resilient", "responses", p_resp, 2, price(CHEAP, p_resp, 2),
                       stream=stream, provider_name="backup")

        # a provider that opens its stream at once (response.created) and is
        # slow to its first output: the first-token deadline moves on
        cls.send("resp-deadline", "/v1/responses",
                 {"model": "resp-deadline", "input": text, "max_output_tokens": 2, "stream": True})
        cls.expect("resp-deadline", "resp-deadline", "responses", p_resp, 2, price(CHEAP, p_resp, 2),
                   stream=True, provider_name="mock")

        # clients that leave mid-stream
        t = cls.tollgate
        cls.leave_inputs = {"resp-leave": "please go slowly now", "cmpl-leave": "slowly please"}
        # the Responses stream's first four events wait for its first output
        hang_up_mid_stream(t.port, {"model": "resp-leave", "input": cls.leave_inputs["resp-leave"],
                                    "max_output_tokens": 40, "stream": True},
                           dict(cls.auth, **{"X-Request-ID": "resp-leave",
                                             "X-Mock-Token-Delay-Ms": "100"}),
                           events=6, path="/v1/responses")
        hang_up_mid_stream(t.port, {"model": "instruct-leave", "prompt": cls.leave_inputs["cmpl-leave"],
                                    "max_tokens": 40, "stream": True},
                           dict(cls.auth, **{"X-Request-ID": "cmpl-leave",
                                             "X-Mock-Token-Delay-Ms": "100"}),
                           events=2, path="/v1/completions")
        for rid in ("resp-leave", "cmpl-leave"):
            poll(lambda: t.db("SELECT 1 FROM ledger WHERE request_id = ?", rid), timeout=10)

        # refused before any provider
        no_model, ctype = form([("file", ("a.wav", cls.audio)), ("response_format", "json")])
        cls.send("stt-no-model", "/v1/audio/transcriptions", no_model, content_type=ctype)
        model_as_file, ctype = form([("model", ("whisper-1", b"whisper-1")), ("file", ("a.wav", b"x"))])
        cls.send("stt-model-is-a-file", "/v1/audio/transcriptions", model_as_file, content_type=ctype)
        cls.send("stt-json-body", "/v1/audio/transcriptions", {"model": "whisper-1", "file": "x"})
        no_boundary, _ = form([("model", "whisper-1"), ("file", ("a.wav", b"x"))])
        cls.send("stt-no-boundary", "/v1/audio/transcriptions", no_boundary,
                 content_type="multipart/form-data")
        unknown, ctype = form([("model", "whisper-9"), ("file", ("a.wav", b"x"))])
        cls.send("stt-unknown-model", "/v1/audio/transcriptions", unknown, content_type=ctype)
        cls.send("resp-no-input", "/v1/responses", {"model": "resp"})
        cls.send("cmpl-no-prompt", "/v1/completions", {"model": "instruct"})
        cls.send("img-no-prompt", "/v1/images/generations", {"model": "gpt-image-1", "n": 1})
        cls.send("tts-no-input", "/v1/audio/speech", {"model": "tts-1", "voice": "alloy"})
        cls.model_by_id = t.request("GET", "/v1/models/gpt-image-1", headers=cls.auth)
        cls.model_by_unknown_id = t.request("GET", "/v1/models/gpt-9", headers=cls.auth)

    # --- helpers ---------------------------------------------------------------------

    def direct(self, path, body, content_type="application/json"):
        """The reference mock's own answer to body."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        r = self.ref.request("POST", path, body, {"Content-Type": content_type})
        self.assertEqual(r.status, 200, r.body)
        return r

    def answer(self, rid, status=200):
        r = self.answers[rid]
        self.assertEqual(r.status, status, (rid, r.body))
        return r

    def row(self, rid):
        rows = self.tollgate.db("SELECT * FROM ledger WHERE request_id = ?", rid)
        self.assertEqual(len(rows), 1, (rid, rows))
        return rows[0]

    # --- the tests -------------------------------------------------------------------

    def test_responses_plain_is_the_providers_answer(self):
        r = self.answer("resp-plain")
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.header("X-Tollgate-Provider"), "mock")
        direct = self.direct("/v1/responses", {"model": "gpt-4o-mini", "input": "hello there you",
                                               "max_output_tokens": 3})
        self.assertEqual(mask(r.body), mask(direct.body))
        got = r.json()
        self.assertEqual((got["object"], got["status"]), ("response", "completed"))
        self.assertEqual(got["output"][0]["content"][0]["text"], "tok1 tok2 tok3")
        self.assertEqual(got["usage"]["input_tokens"], responses_prompt("hello there you"))

    def test_responses_stream_ends_with_completed_and_no_done(self):
        r = self.answer("resp-stream")
        self.assertTrue(r.header("Content-Type").startswith("text/event-stream"))
        direct = self.direct("/v1/responses", {"model": "gpt-4o-mini", "input": "hello there you",
                                               "max_output_tokens": 4, "stream": True})
        self.assertEqual(mask(r.body), mask(direct.body))
        self.assertNotIn(b"[DONE]", r.body)
        events = [json.loads(e) for e in sse_events(r.body)]
        self.assertEqual(events[-1]["type"], "response.completed")
        self.assertEqual([e["sequence_number"] for e in events], list(range(len(events))))
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        self.assertEqual("".join(deltas), "tok1 tok2 tok3 tok4")
        self.assertEqual(events[-1]["response"]["usage"]["output_tokens"], 4)
        # its usage is in its ledger row, written before the end went out
        at_end = {d["group"]: d for d in self.usage_at_stream_end["data"]}
        self.assertEqual((at_end["resp-stream"]["requests"], at_end["resp-stream"]["completion_tokens"]),
                         (1, 4), at_end)
        m = self.tollgate.metrics()
        self.assertEqual(m.value("tollgate_llm_ttft_seconds_count", model="resp-stream"), 1)
        self.assertEqual(m.value("tollgate_llm_requests_total", model="resp-stream",
                                 operation="responses", stream_mode="streaming", status="success"), 1)

    def test_completions_plain_and_streamed(self):
        body = {"model": "gpt-3.5-turbo-instruct", "prompt": "hello there you", "max_tokens": 3}
        r = self.answer("cmpl-plain")
        self.assertEqual(mask(r.body), mask(self.direct("/v1/completions", body).body))
        self.assertEqual(r.json()["choices"][0]["text"], "tok1 tok2 tok3")
        # streamed without include_usage: the gateway asked for usage and
        # kept it from the client, whose stream is what it asked for
        r = self.answer("cmpl-stream")
        direct = self.direct("/v1/completions", dict(body, max_tokens=5, stream=True))
        self.assertEqual(mask(r.body), mask(direct.body))
        self.assertEqual(sse_events(r.body)[-1], "[DONE]")
        self.assertNotIn(b'"usage"', r.body)
        self.assertEqual(self.tollgate.metrics().value("tollgate_llm_ttft_seconds_count",
                                                        model="instruct-stream"), 1)

    def test_images_are_priced_per_image(self):
        r = self.answer("img-tokens")
        got = r.json()
        self.assertEqual(len(got["data"]), 2)
        self.assertTrue(all("b64_json" in d for d in got["data"]))
        self.assertEqual(got["usage"]["output_tokens"], 2 * 1056)
        direct = self.direct("/v1/images/generations", {"model": "gpt-image-1", "prompt": "a red cat",
                                                        "n": 2})
        self.assertEqual(mask(r.body), mask(direct.body))
        urls = self.answer("img-urls").json()
        self.assertEqual(len(urls["data"]), 2)
        self.assertTrue(all("url" in d for d in urls["data"]))
        self.assertNotIn("usage", urls)
        self.assertAlmostEqual(self.row("img-urls")["cost_usd"], 2 * IMAGE_ONLY["image"], places=12)
        self.assertAlmostEqual(self.row("img-tokens")["cost_usd"],
                               2 * 0.04 + (3 * 5.00 + 2112 * 40.00) / 1e6, places=12)

    def test_transcriptions_billed_by_the_seconds_the_answer_gives(self):
        self.assertEqual(self.answer("stt-json").json(),
                         {"text": " ".join("tok%d" % i for i in range(1, 17)),
                          "usage": {"type": "duration", "seconds": 3}})
        verbose = self.answer("stt-verbose").json()
        self.assertEqual((verbose["task"], verbose["duration"]), ("transcribe", 2.5))
        text = self.answer("stt-text")
        self.assertTrue(text.body.startswith(b"tok1 tok2"), text.body)
        self.assertFalse(text.header("Content-Type").startswith("application/json"))
        for rid, seconds in (("stt-json", 3), ("stt-verbose", 3), ("stt-text", 0)):
            self.assertAlmostEqual(self.row(rid)["cost_usd"], price(PER_SECOND, seconds=seconds),
                                   places=12, msg=rid)
        self.assertAlmostEqual(self.row("stt-recorded")["cost_usd"], 7.25 * PER_SECOND["audio_second"],
                               places=12)

    def test_transcription_model_is_replaced_upstream(self):
        # The mock answers gpt-* transcription models with token usage: it
        # was asked for gpt-4o-mini-transcribe, not "transcriber".
        got = self.answer("stt-tokens").json()
        self.assertEqual(got["usage"]["type"], "tokens")
        self.assertEqual(got["usage"]["input_token_details"]["audio_tokens"], 30)
        # The recorder saw the client's body with only the model's value
        # changed, under the client's content type (its boundary).
        ctype, sent = self.sent["stt-recorded"]
        (path, headers, body), = [q for q in self.recorder.requests
                                  if q[0] == "/v1/audio/transcriptions"]
        self.assertEqual(headers["content-type"], ctype)
        self.assertEqual(body, sent.replace(b"\r\n\r\nrecorded-whisper\r\n",
                                            b"\r\n\r\nupstream-whisper\r\n", 1))
        self.assertIn(self.audio, body)
        self.assertEqual(self.answer("stt-recorded").body, RECORDED_ANSWERS["/v1/audio/transcriptions"])

    def test_refused_transcriptions(self):
        self.assertOpenAIError(self.answers["stt-no-model"], 400, "invalid_request_error",
                               "missing_model")
        self.assertOpenAIError(self.answers["stt-model-is-a-file"], 400, "invalid_request_error",
                               "missing_model")
        for rid in ("stt-json-body", "stt-no-boundary"):
            self.assertOpenAIError(self.answers[rid], 400, "invalid_request_error", "invalid_request")
        self.assertOpenAIError(self.answers["stt-unknown-model"], 404, "invalid_request_error",
                               "model_not_found")
        # none reached a provider: the mock saw the five good ones only
        self.assertEqual(self.mock.stats()["paths"]["/v1/audio/transcriptions"], 4)

    def test_refused_json_bodies(self):
        for rid, member in (("resp-no-input", "input"), ("cmpl-no-prompt", "prompt"),
                            ("img-no-prompt", "prompt"), ("tts-no-input", "input")):
            err = self.assertOpenAIError(self.answers[rid], 400, "invalid_request_error",
                                         "invalid_request")
            self.assertEqual(err["param"], member, rid)

    def test_speech_audio_passes_through(self):
        for rid, fmt, ctype in (("tts-ascii", "wav", "audio/wav"), ("tts-mp3", "mp3", "audio/mpeg")):
            r = self.answer(rid)
            text_in = self.speech_inputs.get(rid, "one two three")
            direct = self.direct("/v1/audio/speech", {"model": "tts-1", "input": text_in,
                                                      "voice": "alloy", "response_format": fmt})
            self.assertEqual(r.header("Content-Type"), ctype)
            self.assertEqual(direct.header("Content-Type"), ctype)
            self.assertEqual(r.body, direct.body, rid)
        self.assertEqual(self.answers["tts-ascii"].body[:4], b"RIFF")
        # characters, however the JSON spells them (escapes, raw UTF-8)
        for rid, text_in in self.speech_inputs.items():
            self.assertAlmostEqual(self.row(rid)["cost_usd"], len(text_in) * 15.0 / 1e6, places=12,
                                   msg=rid)

    def test_stream_member_of_an_operation_that_does_not_stream(self):
        r = self.answer("img-stream-member")
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(len(r.json()["data"]), 1)
        r = self.answer("tts-stream-member")
        self.assertEqual(r.header("Content-Type"), "audio/mpeg")
        m = self.tollgate.metrics()
        for name in ("dall-e-3", "tts-1"):
            self.assertEqual(m.value("tollgate_llm_requests_total", model=name, stream_mode="streaming"), 0)
            self.assertEqual(m.value("tollgate_llm_requests_total", model=name, status="error"), 0)
        self.assertEqual(m.value("tollgate_llm_retries_total", provider="mock"), 0)

    def test_model_by_id(self):
        r = self.model_by_id
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"id": "gpt-image-1", "object": "model", "created": 0,
                                    "owned_by": "tollgate"})
        self.assertOpenAIError(self.model_by_unknown_id, 404, "invalid_request_error", "model_not_found")
        m = self.tollgate.metrics()
        self.assertEqual(m.value("tollgate_http_requests_total", path="/v1/models/{id}", status="200"), 1)
        self.assertEqual(m.value("tollgate_http_requests_total", path="/v1/models/{id}", status="404"), 1)

    def test_fallback_on_responses(self):
        for rid in ("resp-fallback", "resp-fallback-stream"):
            r = self.answer(rid)
            self.assertEqual(r.header("X-Tollgate-Provider"), "backup", rid)
        events = [json.loads(e) for e in sse_events(self.answers["resp-fallback-stream"].body)]
        self.assertEqual(events[-1]["type"], "response.completed")
        flaky = self.flaky.stats()
        self.assertEqual((flaky["paths"]["/v1/responses"], flaky["faults"]), (2, 2))
        self.assertEqual(self.backup.stats()["paths"]["/v1/responses"], 2)
        m = self.tollgate.metrics()
        self.assertEqual(m.value("tollgate_llm_fallbacks_total", **{"from": "flaky", "to": "backup"}), 2)
        self.assertEqual(m.value("tollgate_llm_requests_total", model="resilient", provider="backup",
                                 operation="responses", status="success"), 2)

    def test_first_token_deadline_on_a_responses_stream(self):
        # response.created and the empty item and part before the first
        # delta are held, so the stream could still be left for the next route
        r = self.answer("resp-deadline")
        self.assertEqual(r.header("X-Tollgate-Fallback"), "slow->mock")
        events = [json.loads(e) for e in sse_events(r.body)]
        self.assertEqual([e["type"] for e in events][0], "response.created")
        self.assertEqual(events[-1]["type"], "response.completed")
        self.assertEqual(len({e["response"]["id"] for e in events if "response" in e}), 1)
        self.assertLess(self.row("resp-deadline")["ttft_seconds"], 1.4)
        m = self.tollgate.metrics()
        self.assertEqual(m.value("tollgate_llm_retries_total", provider="slow"), 0)
        self.assertEqual(m.value("tollgate_llm_fallbacks_total", **{"from": "slow", "to": "mock"}), 1)

    def test_unknown_members_pass_through(self):
        (path, headers, body), = [q for q in self.recorder.requests if q[0] == "/v1/responses"]
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(body, self.unknown_body.replace(b'"recorded-resp"', b'"upstream-resp"', 1))
        self.assertEqual(self.answer("resp-recorded").body, RECORDED_ANSWERS["/v1/responses"])

    def test_client_that_left_mid_stream_is_billed_estimated(self):
        m = self.tollgate.metrics()
        for rid, name, pricing in (("resp-leave", "resp-leave", CHEAP),
                                   ("cmpl-leave", "instruct-leave", INSTRUCT)):
            row = self.row(rid)
            self.assertEqual(row["estimated"], 1, row)
            self.assertEqual(row["operation"], "responses" if rid == "resp-leave" else "completions")
            # the prompt: a token per 4 bytes of its JSON; the completion: a
            # token per content event that arrived
            self.assertEqual(row["prompt_tokens"], (len(json.dumps(self.leave_inputs[rid])) + 3) // 4, rid)
            self.assertGreaterEqual(row["completion_tokens"], 1, row)
            self.assertLess(row["completion_tokens"], 40, row)
            self.assertAlmostEqual(row["cost_usd"], price(pricing, row["prompt_tokens"],
                                                          row["completion_tokens"]), places=12)
            self.assertEqual(m.value("tollgate_llm_requests_total", model=name, stream_mode="streaming",
                                     status="client_disconnect"), 1, rid)
            self.assertEqual(m.value("tollgate_llm_tokens_total", model=name, type="prompt"),
                             row["prompt_tokens"])

    def test_ledger_rows_tokens_and_cost(self):
        for rid, want in self.expected.items():
            row = self.row(rid)
            for field, value in want.items():
                if field == "stream":
                    continue
                if field == "cost_usd":
                    self.assertAlmostEqual(row[field], value, places=12, msg=rid)
                else:
                    self.assertEqual(row[field], value, "%s.%s: %r" % (rid, field, row))
            if want["stream"]:
                self.assertGreater(row["ttft_seconds"], 0, rid)
                self.assertLessEqual(row["ttft_seconds"], row["latency_seconds"], rid)
        # refused requests left no row
        refused = [rid for rid in self.answers if self.answers[rid].status != 200]
        self.assertEqual(len(refused), 9)
        for rid in refused:
            self.assertEqual(self.tollgate.db("SELECT 1 FROM ledger WHERE request_id = ?", rid), [], rid)

    def test_metrics_equal_the_ledger(self):
        m = self.tollgate.metrics()
        rows = self.tollgate.db("SELECT * FROM ledger")
        by_model = {}
        for row in rows:
            by_model.setdefault(row["model_requested"], []).append(row)
        for name, model_rows in by_model.items():
            for kind, column in (("prompt", "prompt_tokens"), ("completion", "completion_tokens")):
                self.assertEqual(m.value("tollgate_llm_tokens_total", model=name, type=kind),
                                 sum(r[column] for r in model_rows), (name, kind))
            self.assertAlmostEqual(m.value("tollgate_llm_cost_dollars_sum", model=name),
                                   sum(r["cost_usd"] for r in model_rows), places=12, msg=name)
            self.assertEqual(m.value("tollgate_llm_cost_dollars_count", model=name), len(model_rows))
            ops = {s.labels["operation"] for s in m.find("tollgate_llm_requests_total", model=name)}
            self.assertEqual(ops, {r["operation"] for r in model_rows}, name)

    def test_operation_series_exist_for_the_operations_used_only(self):
        m = self.tollgate.metrics()
        used = {"responses", "completions", "image", "audio_transcription", "audio_speech"}
        for family in ("tollgate_llm_requests_total", "tollgate_llm_request_duration_seconds_count"):
            ops = {s.labels["operation"] for s in m.find(family)}
            self.assertEqual(ops, used, family)
        self.assertLessEqual(used, OPERATIONS)
        counts = {op: m.value("tollgate_llm_requests_total", operation=op) for op in used}
        rows = self.tollgate.db("SELECT operation, count(*) AS n FROM ledger GROUP BY operation")
        self.assertEqual(counts, {r["operation"]: r["n"] for r in rows})
        providers = ["mock", "flaky", "backup", "slow", "recorder"]
        self.assertEqual(unbounded_labels(m, providers, self.model_names), [])
        for path in ("/v1/responses", "/v1/completions", "/v1/images/generations",
                     "/v1/audio/transcriptions", "/v1/audio/speech"):
            self.assertGreater(m.value("tollgate_http_requests_total", path=path, status="200"), 0, path)


if __name__ == "__main__":
    harness.main()
