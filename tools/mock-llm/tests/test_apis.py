#!/usr/bin/python3
"""End-to-end test of mock-llm's API shapes beyond plain chat: Anthropic
Messages, OpenAI Responses, chat tools / n / structured output, embeddings
dimensions, legacy completions, images, audio; plain and streamed (exact
event order), the usage knobs, and the faults on every new path. Then, when
node and tests/node's SDKs are installed, the official openai and
@anthropic-ai/sdk clients straight against the mock (sdk_mock.cjs).

usage: test_apis.py PATH/TO/mock-llm   (standard library only)
"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import unittest
import uuid
import wave
import io

import test_mock
from test_mock import Mock, MockTestCase, SANITIZER_MARKS, chat, sse_events

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "..", "..", "..", "tests", "node")

WORDS = lambda n: " ".join("tok%d" % i for i in range(1, n + 1))  # noqa: E731


def named_events(data):
    """Splits an SSE body of `event: NAME` + `data: JSON` events."""
    text = data.decode()
    assert text.endswith("\n\n"), "stream does not end with a blank line: %r" % text[-40:]
    out = []
    for e in text[:-2].split("\n\n"):
        lines = e.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), e
        name, payload = lines[0][len("event: "):], json.loads(lines[1][len("data: "):])
        assert payload["type"] == name, (name, payload)
        out.append(payload)
    return out


def validate(value, schema, root=None):
    """A JSON-schema subset, enough for what the mock must satisfy."""
    root = root or schema
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return validate(value, node, root)
    if "anyOf" in schema:
        errors = [validate(value, s, root) for s in schema["anyOf"]]
        return None if None in errors else "no anyOf branch: %s" % errors
    if "const" in schema:
        return None if value == schema["const"] else "not the const"
    if "enum" in schema:
        return None if value in schema["enum"] else "not in enum"
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types
    pytypes = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
               "boolean": bool, "null": type(None)}
    if types and not any(isinstance(value, pytypes[t]) and not (t in ("integer", "number") and
                                                                 isinstance(value, bool)) for t in types):
        return "%r is not of type %s" % (value, types)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return "missing %s" % name
            err = validate(value[name], schema.get("properties", {}).get(name, {}), root)
            if err:
                return "%s: %s" % (name, err)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return "too few items"
        for item in value:
            err = validate(item, schema.get("items", {}), root)
            if err:
                return err
    if isinstance(value, str):
        if schema.get("format") == "date-time" and not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", value):
            return "not a date-time"
        if len(value) < schema.get("minLength", 0):
            return "too short"
    if isinstance(value, (int, float)) and "minimum" in schema and value < schema["minimum"]:
        return "below minimum"
    return None


# What an SDK's generated schema looks like: $defs, $ref, anyOf with null,
# enums, formats, nested arrays of objects.
RICH_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 6},
        "when": {"type": "string", "format": "date-time"},
        "count": {"type": "integer", "minimum": 3},
        "ratio": {"type": "number"},
        "ok": {"type": "boolean"},
        "mood": {"type": "string", "enum": ["calm", "busy"]},
        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "people": {"type": "array", "items": {"$ref": "#/$defs/Person"}, "minItems": 2},
        "optional": {"type": "string"},
    },
    "required": ["title", "when", "count", "ratio", "ok", "mood", "note", "tags", "people"],
    "additionalProperties": False,
    "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"},
                                                          "age": {"type": ["integer", "null"]}},
                         "required": ["name", "age"]}},
}

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
           "required": ["city", "days"]}


def wav_bytes(seconds, rate=16000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


def multipart(fields, file_bytes=None, filename="a.wav"):
    boundary = "mockb" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (
            boundary.encode(), name.encode(), value.encode()))
    if file_bytes is not None:
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                     b'Content-Type: audio/wav\r\n\r\n%s\r\n' % (boundary.encode(), filename.encode(), file_bytes))
    body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
    return body, {"Content-Type": "multipart/form-data; boundary=%s" % boundary}


class Shared(MockTestCase):
    """One process for the tests that need no exact stats."""

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()

    @classmethod
    def tearDownClass(cls):
        code, err = cls.mock.stop()
        if code != 0 or any(m in err for m in SANITIZER_MARKS):
            raise AssertionError("unclean exit %r:\n%s" % (code, err))

    def post(self, path, body, headers=None):
        status, hdrs, data = self.mock.request("POST", path, body, headers)
        return status, hdrs, data


class Anthropic(Shared):
    HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}

    def messages(self, body=None, headers=None, **extra):
        b = {"model": "claude-sonnet-4-5", "max_tokens": 100,
             "messages": [{"role": "user", "content": "hello there"}]}
        b.update(body or {})
        b.update(extra)
        return self.post("/v1/messages", b, dict(self.HEADERS, **(headers or {})))

    def test_plain_message_shape_and_usage(self):
        status, hdrs, data = self.messages(
            {"system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
             "messages": [{"role": "user", "content": [{"type": "text", "text": "one two"},
                                                       {"type": "image", "source": {"type": "base64",
                                                                                    "media_type": "image/png",
                                                                                    "data": "AAAA"}}]},
                          {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f",
                                                             "input": {"a": "x y z"}}]},
                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                                        "content": "three four five"}]}],
             "temperature": 0.5, "top_p": 0.9, "metadata": {"user_id": "u1"}},
            {"X-Mock-Cache-Read": "40", "X-Mock-Cache-Write": "12"})
        self.assertEqual(status, 200, data)
        self.assertEqual(hdrs["content-type"], "application/json")
        body = json.loads(data)
        self.assertRegex(body.pop("id"), r"^msg_mock_\d+$")
        # system (2 + 3) + (2 + 3) + (0 + 3) + (3 + 3) + 3
        self.assertEqual(body, {"type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                                "content": [{"type": "text", "text": WORDS(16)}], "stop_reason": "end_turn",
                                "stop_sequence": None,
                                "usage": {"input_tokens": 22, "output_tokens": 16,
                                          "cache_creation_input_tokens": 12, "cache_read_input_tokens": 40}})
        last = self.mock.json("GET", "/mock/stats")[2]["last_headers"]
        self.assertEqual((last["x-api-key"], last["anthropic-version"]), ("sk-ant-test", "2023-06-01"))

    def test_stop_reasons(self):
        cases = [({"max_tokens": 3}, {}, WORDS(3), "max_tokens", None),
                 ({"max_tokens": 100}, {"X-Mock-Output-Tokens": "5"}, WORDS(5), "end_turn", None),
                 ({"max_tokens": 4}, {"X-Mock-Output-Tokens": "9"}, WORDS(4), "max_tokens", None),
                 ({"stop_sequences": ["zzz", "tok3", "tok5"]}, {}, "tok1 tok2 ", "stop_sequence", "tok3")]
        for body, headers, text, reason, seq in cases:
            body = json.loads(self.messages(body, headers)[2])
            self.assertEqual((body["content"][0]["text"], body["stop_reason"], body["stop_sequence"]),
                             (text, reason, seq), body)
            self.assertEqual(body["usage"]["output_tokens"], len(text.split(" ")))

    def test_stream_event_order(self):
        status, hdrs, data = self.messages({"max_tokens": 3, "stream": True}, {"X-Mock-Cache-Read": "5"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "text/event-stream")
        events = named_events(data)
        self.assertEqual([e["type"] for e in events],
                         ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 3 +
                         ["content_block_stop", "message_delta", "message_stop"])
        start = events[0]["message"]
        self.assertEqual(start["content"], [])
        self.assertIsNone(start["stop_reason"])
        self.assertEqual(start["usage"], {"input_tokens": 8, "output_tokens": 1, "cache_creation_input_tokens": 0,
                                          "cache_read_input_tokens": 5})
        self.assertEqual(events[1], {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}})
        self.assertEqual([e["delta"] for e in events[3:6]],
                         [{"type": "text_delta", "text": t} for t in ("tok1", " tok2", " tok3")])
        self.assertEqual(events[6], {"type": "content_block_stop", "index": 0})
        self.assertEqual(events[7], {"type": "message_delta", "usage": {"output_tokens": 3},
                                     "delta": {"stop_reason": "max_tokens", "stop_sequence": None}})

    def tools(self, choice=None, text="hello", stream=False):
        body = {"messages": [{"role": "user", "content": text}], "stream": stream,
                "tools": [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}},
                          {"name": "get_weather", "input_schema": WEATHER}]}
        if choice is not None:
            body["tool_choice"] = choice
        return self.messages(body)

    def test_tool_use(self):
        for choice, text, name in [(None, "hello", None), ({"type": "auto"}, "please USE TOOLS", "lookup"),
                                   (None, "use tool get_weather now", "get_weather"),
                                   ({"type": "any"}, "hi", "lookup"),
                                   ({"type": "tool", "name": "get_weather"}, "hi", "get_weather"),
                                   ({"type": "none"}, "use tool", None)]:
            status, _, data = self.tools(choice, text)
            body = json.loads(data)
            self.assertEqual(status, 200, data)
            if name is None:
                self.assertEqual((body["content"][0]["type"], body["stop_reason"]), ("text", "end_turn"))
                continue
            self.assertEqual(body["stop_reason"], "tool_use", (choice, text))
            block = body["content"][0]
            self.assertEqual((block["type"], block["name"]), ("tool_use", name))
            self.assertRegex(block["id"], r"^toolu_mock_\d+$")
            self.assertEqual(validate(block["input"], WEATHER if name == "get_weather" else {"type": "object"}), None)
            self.assertEqual(body["usage"]["output_tokens"], (len(json.dumps(block["input"], separators=(",", ":")))
                                                              + 3) // 4)
        status, _, data = self.tools({"type": "tool", "name": "nope"})
        self.assertEqual(status, 400)

    def test_tool_use_stream(self):
        events = named_events(self.tools({"type": "tool", "name": "get_weather"}, stream=True)[2])
        self.assertEqual(events[1]["content_block"]["type"], "tool_use")
        self.assertEqual(events[1]["content_block"]["input"], {})
        deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
        self.assertTrue(all(d["type"] == "input_json_delta" for d in deltas))
        self.assertEqual(validate(json.loads("".join(d["partial_json"] for d in deltas)), WEATHER), None)
        self.assertEqual(events[-2]["delta"]["stop_reason"], "tool_use")
        self.assertEqual(events[-2]["usage"]["output_tokens"], len(deltas))

    def test_errors_have_anthropic_shape(self):
        cases = [({"max_tokens": None}, "max_tokens: Field required"), ({"max_tokens": 0}, None),
                 ({"messages": []}, None), ({"messages": [{"role": "system", "content": "x"}]}, None),
                 ({"model": 5}, None), ({"tool_choice": {"type": "sometimes"}}, None),
                 ({"stop_sequences": "x"}, None), ({"system": 7}, None)]
        for change, message in cases:
            body = {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
            body.update(change)
            body = {k: v for k, v in body.items() if v is not None}
            status, _, data = self.post("/v1/messages", body)
            err = json.loads(data)
            self.assertEqual(status, 400, change)
            self.assertEqual(err["type"], "error")
            self.assertEqual(err["error"]["type"], "invalid_request_error")
            if message:
                self.assertEqual(err["error"]["message"], message)
        for code, kind in [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error"),
                           (401, "authentication_error")]:
            status, hdrs, data = self.messages(headers={"X-Mock-Status": str(code)})
            self.assertEqual((status, json.loads(data)["error"]["type"]), (code, kind))
            self.assertEqual(hdrs.get("retry-after"), "1" if code == 429 else None)
        self.assertEqual(json.loads(self.mock.request("GET", "/v1/messages")[2])["type"], "error")


class Responses(Shared):
    def responses(self, body=None, headers=None):
        b = {"model": "gpt-4o", "input": "hello there"}
        b.update(body or {})
        return self.post("/v1/responses", b, headers)

    def test_plain_response_shape(self):
        status, _, data = self.responses({"instructions": "be brief", "max_output_tokens": 4,
                                          "metadata": {"k": "v"}, "temperature": 0.2},
                                         {"X-Mock-Cached-Tokens": "3", "X-Mock-Reasoning-Tokens": "1"})
        self.assertEqual(status, 200, data)
        body = json.loads(data)
        self.assertRegex(body["id"], r"^resp_mock_\d+$")
        self.assertLessEqual(abs(body["created_at"] - time.time()), 2)
        for key, value in {"object": "response", "status": "completed", "error": None, "incomplete_details": None,
                           "instructions": "be brief", "max_output_tokens": 4, "model": "gpt-4o",
                           "metadata": {"k": "v"}, "temperature": 0.2, "tools": [], "tool_choice": "auto",
                           "text": {"format": {"type": "text"}}, "parallel_tool_calls": True}.items():
            self.assertEqual(body[key], value, key)
        item = body["output"][0]
        self.assertRegex(item.pop("id"), r"^msg_mock_\d+$")
        self.assertEqual(body["output"], [{"type": "message", "status": "completed", "role": "assistant",
                                           "content": [{"type": "output_text", "text": WORDS(4),
                                                        "annotations": []}]}])
        # input (2 + 3) + instructions (2 + 3) + 3
        self.assertEqual(body["usage"], {"input_tokens": 13, "input_tokens_details": {"cached_tokens": 3},
                                         "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 1},
                                         "total_tokens": 17})

    def test_input_items_and_incomplete(self):
        items = [{"role": "user", "content": [{"type": "input_text", "text": "a b c"}]},
                 {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "c1", "output": "d e"}]
        body = json.loads(self.responses({"input": items, "max_output_tokens": 2},
                                         {"X-Mock-Output-Tokens": "6"})[2])
        self.assertEqual(body["usage"]["input_tokens"], (3 + 3) + 3 + (2 + 3) + 3)
        self.assertEqual((body["status"], body["incomplete_details"]), ("incomplete", {"reason": "max_output_tokens"}))
        self.assertEqual(body["output"][0]["content"][0]["text"], WORDS(2))

    def check_stream(self, body):
        status, hdrs, data = self.responses(dict(body, stream=True))
        self.assertEqual((status, hdrs["content-type"]), (200, "text/event-stream"))
        events = named_events(data)
        self.assertEqual([e["sequence_number"] for e in events], list(range(len(events))))
        return events

    def test_stream_event_order(self):
        events = self.check_stream({"max_output_tokens": 3})
        self.assertEqual([e["type"] for e in events],
                         ["response.created", "response.in_progress", "response.output_item.added",
                          "response.content_part.added"] + ["response.output_text.delta"] * 3 +
                         ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"])
        self.assertEqual((events[0]["response"]["status"], events[0]["response"]["output"],
                          events[0]["response"]["usage"]), ("in_progress", [], None))
        item_id = events[2]["item"]["id"]
        self.assertEqual(events[2]["item"], {"type": "message", "id": item_id, "status": "in_progress",
                                             "role": "assistant", "content": []})
        self.assertEqual(events[3], {"type": "response.content_part.added", "item_id": item_id, "output_index": 0,
                                     "content_index": 0, "sequence_number": 3,
                                     "part": {"type": "output_text", "annotations": [], "text": ""}})
        self.assertEqual([e["delta"] for e in events[4:7]], ["tok1", " tok2", " tok3"])
        self.assertTrue(all(e["item_id"] == item_id and e["content_index"] == 0 for e in events[4:7]))
        self.assertEqual(events[7]["text"], WORDS(3))
        self.assertEqual(events[8]["part"]["text"], WORDS(3))
        final = events[-1]["response"]
        self.assertEqual(events[9]["item"], final["output"][0])
        self.assertEqual((final["status"], final["usage"]["output_tokens"]), ("completed", 3))
        self.assertEqual(final["id"], events[0]["response"]["id"])

    def test_function_call(self):
        tools = [{"type": "web_search"}, {"type": "function", "name": "get_weather", "parameters": WEATHER}]
        body = json.loads(self.responses({"tools": tools, "tool_choice": "required"})[2])
        item = body["output"][0]
        self.assertEqual((item["type"], item["name"], item["status"]), ("function_call", "get_weather", "completed"))
        self.assertRegex(item["call_id"], r"^call_mock_\d+$")
        self.assertEqual(validate(json.loads(item["arguments"]), WEATHER), None)
        self.assertEqual(body["usage"]["output_tokens"], (len(item["arguments"]) + 3) // 4)
        prose = json.loads(self.responses({"tools": tools})[2])
        self.assertEqual(prose["output"][0]["type"], "message")

        events = self.check_stream({"tools": tools, "input": "use tool please"})
        kinds = [e["type"] for e in events]
        self.assertEqual(kinds[:3] + kinds[-3:],
                         ["response.created", "response.in_progress", "response.output_item.added",
                          "response.function_call_arguments.done", "response.output_item.done",
                          "response.completed"])
        deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
        self.assertEqual("".join(deltas), events[-3]["arguments"])
        self.assertEqual(events[2]["item"]["arguments"], "")
        self.assertEqual(events[-1]["response"]["output"][0]["arguments"], events[-3]["arguments"])

    def test_structured_and_errors(self):
        fmt = {"format": {"type": "json_schema", "name": "rich", "schema": RICH_SCHEMA, "strict": True}}
        body = json.loads(self.responses({"text": fmt})[2])
        self.assertEqual(body["text"], fmt)
        self.assertEqual(validate(json.loads(body["output"][0]["content"][0]["text"]), RICH_SCHEMA), None)
        for bad in ({"input": 5}, {"input": None}, {"instructions": 3}, {"text": {"format": {"type": "yaml"}}},
                    {"tool_choice": {"type": "function", "name": "missing"},
                     "tools": [{"type": "function", "name": "f"}]}):
            status, _, data = self.responses(bad)
            self.assertEqual(status, 400, bad)
            self.assertEqual(json.loads(data)["error"]["type"], "invalid_request_error")


class ChatExtras(Shared):
    TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]

    def chat(self, headers=None, **extra):
        status, _, data = self.post("/v1/chat/completions", chat(**extra), headers)
        return status, json.loads(data) if status == 200 else data

    def test_tool_calls(self):
        for choice, text, name in [(None, "hi", None), ("auto", "Use tool get_weather", "get_weather"),
                                   ("required", "hi", "lookup"), ("none", "use tool", None),
                                   ({"type": "function", "function": {"name": "get_weather"}}, "hi", "get_weather")]:
            extra = {"tools": self.TOOLS, "messages": [{"role": "user", "content": text}]}
            if choice is not None:
                extra["tool_choice"] = choice
            status, body = self.chat(**extra)
            self.assertEqual(status, 200, body)
            choice0 = body["choices"][0]
            if name is None:
                self.assertEqual(choice0["finish_reason"], "stop")
                continue
            self.assertEqual(choice0["finish_reason"], "tool_calls")
            msg = choice0["message"]
            self.assertIsNone(msg["content"])
            call = msg["tool_calls"][0]
            self.assertEqual((call["type"], call["function"]["name"]), ("function", name))
            self.assertRegex(call["id"], r"^call_mock_\d+_0$")
            args = json.loads(call["function"]["arguments"])
            self.assertEqual(validate(args, WEATHER if name == "get_weather" else {"type": "object"}), None)
            self.assertEqual(body["usage"]["completion_tokens"], (len(call["function"]["arguments"]) + 3) // 4)
        for bad in ({"tool_choice": {"type": "function", "function": {"name": "nope"}}},
                    {"tool_choice": "sometimes"}, {"tools": [{"type": "function", "function": {}}]}):
            status, _ = self.chat(**dict({"tools": self.TOOLS}, **bad))
            self.assertEqual(status, 400, bad)

    def test_tool_calls_stream(self):
        status, _, data = self.post("/v1/chat/completions",
                                    chat(tools=self.TOOLS, tool_choice="required", stream=True, n=2,
                                         stream_options={"include_usage": True}))
        events = sse_events(data)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        args = {0: "", 1: ""}
        for c in chunks[:2]:
            delta = c["choices"][0]["delta"]
            call = delta["tool_calls"][0]
            self.assertEqual((delta["role"], delta["content"], call["index"], call["type"],
                              call["function"]["name"], call["function"]["arguments"]),
                             ("assistant", None, 0, "function", "lookup", ""))
        for c in chunks[2:-3]:
            (choice,) = c["choices"]
            self.assertIsNone(choice["finish_reason"])
            args[choice["index"]] += choice["delta"]["tool_calls"][0]["function"]["arguments"]
        self.assertEqual(args, {0: "{}", 1: "{}"})
        self.assertEqual([c["choices"] for c in chunks[-3:-1]],
                         [[{"index": i, "delta": {}, "finish_reason": "tool_calls"}] for i in (0, 1)])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 2)

    def test_n_choices(self):
        status, body = self.chat(n=3, max_tokens=4)
        self.assertEqual([c["index"] for c in body["choices"]], [0, 1, 2])
        self.assertTrue(all(c["message"]["content"] == WORDS(4) for c in body["choices"]))
        self.assertEqual(body["usage"]["completion_tokens"], 12)
        data = self.post("/v1/chat/completions", chat(n=2, max_tokens=2, stream=True))[2]
        chunks = [json.loads(e) for e in sse_events(data)[:-1]]
        self.assertEqual([(c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
                          for c in chunks],
                         [(0, {"role": "assistant", "content": "tok1"}, None),
                          (1, {"role": "assistant", "content": "tok1"}, None),
                          (0, {"content": " tok2"}, None), (1, {"content": " tok2"}, None),
                          (0, {}, "stop"), (1, {}, "stop")])
        for bad in (0, 129, "2", 1.5):
            self.assertEqual(self.chat(n=bad)[0], 400, bad)

    def test_response_format(self):
        _, body = self.chat(response_format={"type": "json_object"})
        self.assertEqual(json.loads(body["choices"][0]["message"]["content"]), {"text": WORDS(16)})
        fmt = {"type": "json_schema", "json_schema": {"name": "rich", "strict": True, "schema": RICH_SCHEMA}}
        _, body = self.chat(response_format=fmt, max_tokens=2)  # structured output is never cut
        content = body["choices"][0]["message"]["content"]
        value = json.loads(content)
        self.assertEqual(validate(value, RICH_SCHEMA), None)
        self.assertEqual(len(value["people"]), 2)
        self.assertNotIn("optional", value)
        self.assertEqual(body["usage"]["completion_tokens"], (len(content) + 3) // 4)
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        # streamed: the pieces rebuild the same JSON
        data = self.post("/v1/chat/completions", chat(response_format=fmt, stream=True))[2]
        pieces = [json.loads(e)["choices"][0]["delta"].get("content", "") for e in sse_events(data)[:-1]]
        self.assertEqual("".join(pieces), content)
        for bad in ({"type": "xml"}, {"type": "json_schema"}, {"type": "json_schema", "json_schema": {"schema": 1}}):
            self.assertEqual(self.chat(response_format=bad)[0], 400, bad)

    def test_output_tokens_knob_and_length(self):
        _, body = self.chat(max_tokens=3, headers={"X-Mock-Output-Tokens": "8"})
        self.assertEqual((body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]),
                         (WORDS(3), "length"))
        _, body = self.chat(headers={"X-Mock-Output-Tokens": "5"})
        self.assertEqual((body["usage"]["completion_tokens"], body["choices"][0]["finish_reason"]), (5, "stop"))


class OtherEndpoints(Shared):
    def test_embeddings_dimensions(self):
        status, _, data = self.post("/v1/embeddings", {"model": "m", "input": ["a", "b c", "d"], "dimensions": 3})
        body = json.loads(data)
        self.assertEqual([d["embedding"] for d in body["data"]],
                         [[0.01, 0.02, 0.03], [0.02, 0.04, 0.06], [0.03, 0.06, 0.09]])
        self.assertEqual(body["usage"], {"prompt_tokens": 2 + 3 + 2, "total_tokens": 7})
        body = json.loads(self.post("/v1/embeddings", {"model": "m", "input": "x", "dimensions": 300,
                                                       "encoding_format": "base64"})[2])
        floats = struct.unpack("<300f", base64.b64decode(body["data"][0]["embedding"]))
        self.assertAlmostEqual(floats[299], 0.0, places=6)  # 300 mod 100
        self.assertAlmostEqual(floats[150], 0.51, places=6)
        for dims in (0, 4097, "8"):
            self.assertEqual(self.post("/v1/embeddings", {"model": "m", "input": "x", "dimensions": dims})[0], 400)

    def test_completions(self):
        status, _, data = self.post("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": ["a b", "c"],
                                                        "n": 2, "max_tokens": 3})
        body = json.loads(data)
        self.assertEqual(status, 200)
        self.assertRegex(body["id"], r"^cmpl-mock-\d+$")
        self.assertEqual(body["object"], "text_completion")
        self.assertEqual(body["choices"], [{"text": WORDS(3), "index": i, "logprobs": None, "finish_reason": "stop"}
                                           for i in range(4)])
        self.assertEqual(body["usage"], {"prompt_tokens": 3 + 2, "completion_tokens": 12, "total_tokens": 17})
        body = json.loads(self.post("/v1/completions", {"model": "m", "prompt": "x", "stop": "tok2"})[2])
        self.assertEqual((body["choices"][0]["text"], body["choices"][0]["finish_reason"]), ("tok1 ", "stop"))
        body = json.loads(self.post("/v1/completions", {"model": "m", "prompt": "x"})[2])
        self.assertEqual(body["usage"]["completion_tokens"], 16)

        data = self.post("/v1/completions", {"model": "m", "prompt": "x", "max_tokens": 2, "stream": True,
                                             "stream_options": {"include_usage": True}})[2]
        events = sse_events(data)
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual([c["choices"] for c in chunks[:3]],
                         [[{"text": "tok1", "index": 0, "logprobs": None, "finish_reason": None}],
                          [{"text": " tok2", "index": 0, "logprobs": None, "finish_reason": None}],
                          [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]])
        self.assertEqual((chunks[3]["choices"], chunks[3]["usage"]),
                         ([], {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}))
        for bad in ({"prompt": 5}, {"prompt": []}, {"prompt": "x", "n": 0}, {"prompt": "x", "stop": 3}):
            self.assertEqual(self.post("/v1/completions", dict(bad, model="m"))[0], 400, bad)

    def test_images(self):
        status, _, data = self.post("/v1/images/generations", {"model": "gpt-image-1", "prompt": "a red cat",
                                                               "n": 2, "quality": "high", "size": "1024x1536"})
        body = json.loads(data)
        self.assertEqual(status, 200, data)
        self.assertLessEqual(abs(body["created"] - time.time()), 2)
        self.assertEqual(len(body["data"]), 2)
        png = base64.b64decode(body["data"][0]["b64_json"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", png[16:24]), (1, 1))
        self.assertEqual(body["usage"], {"input_tokens": 3, "input_tokens_details": {"text_tokens": 3,
                                                                                     "image_tokens": 0},
                                         "output_tokens": 2 * 4160, "total_tokens": 3 + 8320})
        body = json.loads(self.post("/v1/images/generations", {"model": "dall-e-3", "prompt": "x"})[2])
        self.assertNotIn("usage", body)
        url = body["data"][0]["url"]
        self.assertTrue(url.startswith("http://127.0.0.1:%d/mock/image.png" % self.mock.port), url)
        status, hdrs, image = self.mock.request("GET", url[url.index("/mock/"):])
        self.assertEqual((status, hdrs["content-type"], image), (200, "image/png", png))
        body = json.loads(self.post("/v1/images/generations", {"prompt": "x", "response_format": "b64_json"})[2])
        self.assertIn("b64_json", body["data"][0])
        for bad in ({}, {"prompt": "x", "n": 11}, {"prompt": "x", "size": "big"},
                    {"prompt": "x", "response_format": "gif"}, {"prompt": "x", "model": "gpt-image-1",
                                                                "quality": "ultra"}):
            self.assertEqual(self.post("/v1/images/generations", bad)[0], 400, bad)

    def transcribe(self, fields, audio=None, path="/v1/audio/transcriptions"):
        body, headers = multipart(fields, audio)
        return self.post(path, body, headers)

    def test_transcriptions(self):
        audio = wav_bytes(2.5)
        status, hdrs, data = self.transcribe({"model": "whisper-1"}, audio)
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data), {"text": WORDS(16), "usage": {"type": "duration", "seconds": 3}})
        body = json.loads(self.transcribe({"model": "gpt-4o-mini-transcribe", "prompt": "names: Ann Bo"}, audio)[2])
        self.assertEqual(body["usage"], {"type": "tokens", "input_tokens": 3 + 30, "output_tokens": 16,
                                         "input_token_details": {"text_tokens": 3, "audio_tokens": 30},
                                         "total_tokens": 49})
        body = json.loads(self.transcribe({"model": "whisper-1", "response_format": "verbose_json",
                                           "language": "fr"}, audio)[2])
        self.assertEqual((body["task"], body["language"], body["duration"], body["text"]),
                         ("transcribe", "fr", 2.5, WORDS(16)))
        self.assertEqual((body["segments"][0]["end"], body["segments"][0]["text"]), (2.5, WORDS(16)))
        _, hdrs, data = self.transcribe({"model": "whisper-1", "response_format": "text"}, audio)
        self.assertEqual((hdrs["content-type"], data.decode()), ("text/plain; charset=utf-8", WORDS(16) + "\n"))
        data = self.transcribe({"model": "whisper-1", "response_format": "srt"}, audio)[2].decode()
        self.assertEqual(data, "1\n00:00:00,000 --> 00:00:02,500\n%s\n\n" % WORDS(16))
        data = self.transcribe({"model": "whisper-1", "response_format": "vtt"}, audio)[2].decode()
        self.assertEqual(data, "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n%s\n\n" % WORDS(16))
        body = json.loads(self.transcribe({"model": "whisper-1", "response_format": "verbose_json"}, audio,
                                          "/v1/audio/translations")[2])
        self.assertEqual((body["task"], body["language"]), ("translate", "english"))
        body = json.loads(self.transcribe({"model": "whisper-1"}, b"x" * 40000)[2])  # not a WAV: 128 kbit/s
        self.assertEqual(body["usage"]["seconds"], 3)
        for fields, file_bytes in (({"model": "whisper-1"}, None), ({}, audio),
                                   ({"model": "whisper-1", "response_format": "xml"}, audio)):
            self.assertEqual(self.transcribe(fields, file_bytes)[0], 400, fields)
        self.assertEqual(self.post("/v1/audio/transcriptions", {"model": "whisper-1"})[0], 400)
        body, headers = multipart({"model": "whisper-1"}, audio)
        self.assertEqual(self.post("/v1/audio/transcriptions", body[:-30], headers)[0], 400)  # cut short

    def test_speech(self):
        status, hdrs, data = self.post("/v1/audio/speech", {"model": "tts-1", "input": "one two three four",
                                                            "voice": "alloy", "response_format": "wav"})
        self.assertEqual((status, hdrs["content-type"]), (200, "audio/wav"))
        with wave.open(io.BytesIO(data)) as w:
            self.assertEqual((w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()),
                             (1, 2, 24000, 4 * 1200))
        status, hdrs, data = self.post("/v1/audio/speech", {"model": "tts-1", "input": "one two", "voice": "alloy",
                                                            "speed": 2.0})
        self.assertEqual(hdrs["content-type"], "audio/mpeg")
        self.assertEqual(len(data) % 417, 0)
        self.assertEqual(data[:4], b"\xff\xfb\x90\xc4")
        self.assertEqual(data[417:421], b"\xff\xfb\x90\xc4")
        status, hdrs, data = self.post("/v1/audio/speech", {"model": "tts-1", "input": "one", "voice": "alloy",
                                                            "response_format": "pcm"})
        self.assertEqual((hdrs["content-type"], len(data)), ("audio/pcm", 2400))
        for fmt, magic in (("flac", b"fLaC"), ("opus", b"OggS")):
            data = self.post("/v1/audio/speech", {"model": "tts-1", "input": "x", "voice": "v",
                                                  "response_format": fmt})[2]
            self.assertEqual(data[:4], magic)
        for bad in ({"input": "x"}, {"voice": "v"}, {"input": "x", "voice": "v", "response_format": "ogg"},
                    {"input": "x", "voice": "v", "speed": 9}, {"input": "x" * 4097, "voice": "v"}):
            self.assertEqual(self.post("/v1/audio/speech", dict(bad, model="tts-1"))[0], 400, bad)


# Each new path with a minimal valid body, and whether it can stream.
PATHS = [
    ("/v1/messages", {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}, True),
    ("/v1/responses", {"model": "m", "input": "x", "max_output_tokens": 8}, True),
    ("/v1/completions", {"model": "m", "prompt": "x", "max_tokens": 8}, True),
    ("/v1/images/generations", {"prompt": "x"}, False),
    ("/v1/audio/speech", {"model": "tts-1", "input": "x", "voice": "v"}, False),
]


class Faults(MockTestCase):
    """The faults on the new paths; a fresh process so stats are exact."""

    def setUp(self):
        self.mock = Mock()

    def tearDown(self):
        self.stopped_cleanly(self.mock)

    def test_status_latency_malformed_reset_hang(self):
        for path, body, _ in PATHS:
            with self.subTest(path=path):
                status, hdrs, data = self.mock.request("POST", path, body, {"X-Mock-Status": "503"})
                self.assertEqual(status, 503)
                self.assertIn("error", json.loads(data))
                start = time.monotonic()
                self.assertEqual(self.mock.request("POST", path, body, {"X-Mock-Latency-Ms": "200"})[0], 200)
                self.assertGreaterEqual(time.monotonic() - start, 0.19)
                self.assertEqual(self.mock.request("POST", path, body, {"X-Mock-Fault": "malformed"})[2],
                                 b'{"id": "broken')
                with self.assertRaises(ConnectionResetError):
                    self.mock.request("POST", path, body, {"X-Mock-Fault": "reset"})
                with self.assertRaises(socket.timeout):
                    self.mock.request("POST", path, body, {"X-Mock-Fault": "hang"}, timeout=0.3)
                with self.assertRaises(http.client.IncompleteRead):
                    self.mock.request("POST", path, body, {"X-Mock-Fault": "truncate"})
        # audio transcriptions take a form
        form, headers = multipart({"model": "whisper-1"}, wav_bytes(0.1))
        self.assertEqual(self.mock.request("POST", "/v1/audio/transcriptions", form,
                                           dict(headers, **{"X-Mock-Status": "429"}))[0], 429)
        stats = self.mock.json("GET", "/mock/stats")[2]
        self.assertEqual(stats["requests"], len(PATHS) * 6 + 1)
        self.assertEqual(stats["faults"], len(PATHS) * 5 + 1)
        for path, _, _ in PATHS:
            self.assertEqual(stats["paths"][path], 6, path)
        self.assertEqual(stats["paths"]["/v1/audio/transcriptions"], 1)
        self.assertEqual(stats["chat"], 0)

    def test_truncated_streams_stop_halfway_through_the_content(self):
        prefix = {"/v1/messages": ["message_start", "content_block_start", "ping"],
                  "/v1/responses": ["response.created", "response.in_progress", "response.output_item.added",
                                    "response.content_part.added"],
                  "/v1/completions": []}
        for path, body, streams in PATHS:
            if not streams:
                continue
            for delay in ("0", "20"):
                with self.subTest(path=path, delay=delay):
                    with self.assertRaises(http.client.IncompleteRead) as caught:
                        self.mock.request("POST", path, dict(body, stream=True),
                                          {"X-Mock-Fault": "truncate", "X-Mock-Token-Delay-Ms": delay})
                    partial = caught.exception.partial
                    if path == "/v1/completions":
                        self.assertEqual(len(sse_events(partial)), 4)
                    else:
                        names = [e["type"] for e in named_events(partial)]
                        self.assertEqual(names[:-4], prefix[path])
                        self.assertEqual(len(names), len(prefix[path]) + 4)

    def test_token_delay_paces_named_events(self):
        start = time.monotonic()
        data = self.mock.request("POST", "/v1/messages", dict(PATHS[0][1], max_tokens=2, stream=True),
                                 {"X-Mock-Token-Delay-Ms": "50"})[2]
        self.assertEqual(len(named_events(data)), 8)
        self.assertGreaterEqual(time.monotonic() - start, 7 * 0.05 - 0.01)

    def test_config_knobs_and_fail_first(self):
        status, _, cfg = self.mock.json("POST", "/mock/config", {"cache_read_tokens": 30, "cache_write_tokens": 4,
                                                                 "output_tokens": 2, "cached_tokens": 1})
        self.assertEqual(status, 200)
        self.assertEqual((cfg["cache_read_tokens"], cfg["output_tokens"]), (30, 2))
        body = json.loads(self.mock.request("POST", "/v1/messages", PATHS[0][1])[2])
        self.assertEqual(body["usage"], {"input_tokens": 7, "output_tokens": 2, "cache_creation_input_tokens": 4,
                                         "cache_read_input_tokens": 30})
        body = json.loads(self.mock.request("POST", "/v1/messages", PATHS[0][1],
                                            {"X-Mock-Cache-Read": "0", "X-Mock-Output-Tokens": "3"})[2])
        self.assertEqual((body["usage"]["cache_read_input_tokens"], body["usage"]["output_tokens"]), (0, 3))
        body = json.loads(self.mock.request("POST", "/v1/chat/completions", chat())[2])
        self.assertEqual((body["usage"]["completion_tokens"], body["usage"]["prompt_tokens_details"]),
                         (2, {"cached_tokens": 1}))
        for bad in ({"output_tokens": 4097}, {"cache_read_tokens": -1}, {"cache_write_tokens": "3"}):
            self.assertEqual(self.mock.request("POST", "/mock/config", bad)[0], 400, bad)
        self.assertEqual(self.mock.json("GET", "/mock/config")[2]["output_tokens"], 2)

        self.mock.json("POST", "/mock/config", {"status": 529, "fail_first": 2, "output_tokens": 0})
        got = [self.mock.request("POST", p, b)[0] for p, b, _ in PATHS[:3]]
        self.assertEqual(got, [529, 529, 200])


class Sdk(MockTestCase):
    """The official SDKs as clients: their parsers are the judges of shape."""

    def test_official_sdks(self):
        node = shutil.which("node")
        modules = os.path.join(NODE_DIR, "node_modules")
        if node is None or not all(os.path.isdir(os.path.join(modules, m)) for m in ("openai", "@anthropic-ai/sdk")):
            self.skipTest("node or tests/node's openai and @anthropic-ai/sdk are not installed")
        mock = Mock()
        try:
            proc = subprocess.run([node, os.path.join(HERE, "sdk_mock.cjs")], capture_output=True, text=True,
                                  timeout=90, env=dict(os.environ, MOCK_URL="http://127.0.0.1:%d" % mock.port,
                                                       NODE_MODULES=modules))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            print(proc.stdout, end="", file=sys.stderr)
        finally:
            self.stopped_cleanly(mock)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    test_mock.MOCK = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
