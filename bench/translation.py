# The translation benchmark (bench/translation.sh calls this): what
# translating between OpenAI chat and Anthropic Messages costs a streamed
# request, against passing the provider's own API through. One mock-llm and
# one tollgate (1 worker, store none, anonymous) with two providers on that
# mock, one of type openai and one of type anthropic, and four streamed
# cases under wrk (bench/chat.lua: the same 16-token conversation, which is
# a valid request of both APIs):
#
#   chat -> openai          POST /v1/chat/completions, OpenAI provider (passthrough)
#   chat -> anthropic       POST /v1/chat/completions, Anthropic provider (translated)
#   messages -> anthropic   POST /v1/messages, Anthropic provider (passthrough; its usage read through a translation)
#   messages -> openai      POST /v1/messages, OpenAI provider (translated)
#
# Rounds alternate the order of the cases. CPU per request is the
# tollgate process's utime + stime over a run (every thread) divided by the
# answers wrk counted; translated / passthrough is taken per round, for each
# client API. Writes the "Translation: Anthropic <-> OpenAI" section of
# bench/RESULTS.md.

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (binaries, cpu_seconds, free_port, machine, median, run_wrk, start_mock,
                      start_server, stop_process, write_section)

HEADING = "## Translation: Anthropic ↔ OpenAI"
# case -> (client path, model, label)
CASES = {
    "chat-openai": ("/v1/chat/completions", "gpt-4o-mini", "OpenAI chat → openai provider (passthrough)"),
    "chat-anthropic": ("/v1/chat/completions", "claude", "OpenAI chat → anthropic provider (translated)"),
    "messages-anthropic": ("/v1/messages", "claude", "Anthropic messages → anthropic provider (passthrough)"),
    "messages-openai": ("/v1/messages", "gpt-4o-mini", "Anthropic messages → openai provider (translated)"),
}
# client API -> (translated case, passthrough case)
PAIRS = {"OpenAI chat": ("chat-anthropic", "chat-openai"),
         "Anthropic messages": ("messages-openai", "messages-anthropic")}


def config(port, mock_port):
    return ('{server: {listen: "127.0.0.1:%d", workers: 1}, logging: {format: json, level: info},\n'
            ' store: {driver: none}, auth: {allow_anonymous: true},\n'
            ' providers: [{name: oai, base_url: "http://127.0.0.1:%d/v1", max_connections: 256},\n'
            '             {name: ant, type: anthropic, base_url: "http://127.0.0.1:%d/v1", max_connections: 256}],\n'
            ' models: [{name: gpt-4o-mini, routes: [{provider: oai, model: gpt-4o-mini}],\n'
            '           pricing: {input: 0.15, cached_input: 0.075, output: 0.60}},\n'
            '          {name: claude, routes: [{provider: ant, model: claude-sonnet-4-5}],\n'
            '           pricing: {input: 3.00, cached_input: 0.30, cache_write: 3.75, output: 15.00}}]}\n'
            % (port, mock_port, mock_port))


def measured(pid, port, case, conns, seconds, label):
    path, model, _ = CASES[case]
    cpu0 = cpu_seconds(pid)
    r = run_wrk(port, path, conns, seconds, "translation-" + label, {"STREAM": "1", "MODEL": model})
    r["cpu_s"] = cpu_seconds(pid) - cpu0
    if r["errors"] or r["requests"] == 0:
        sys.exit("%s: %d non-2xx answers of %d (%s)" % (case, r["errors"], r["requests"], r["socket_errors"]))
    r["us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
    return r


def check_answers(port):
    """Each case answers a whole stream in its client's API before anything
    is measured: a broken translation would otherwise be measured as fast."""
    for case, (path, model, _) in CASES.items():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", path, '{"model":"%s","max_tokens":16,"stream":true,'
                     '"messages":[{"role":"user","content":"Say hello to the benchmark"}]}' % model,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        end = "data: [DONE]" if path.endswith("completions") else "event: message_stop"
        if resp.status != 200 or end not in body or len(re.findall(r"\btok\d+", body)) != 16:
            sys.exit("%s: not a whole stream (%d): %s" % (case, resp.status, body[:500]))


def run(args):
    tollgate, mock = binaries(args.build_dir)
    tmp = tempfile.mkdtemp(prefix="tollgate-translation-")
    procs = []
    try:
        mock_proc, mock_port = start_mock(mock, tmp, 2)
        procs.append(mock_proc)
        port = free_port()
        conf = os.path.join(tmp, "tollgate.yaml")
        with open(conf, "w") as f:
            f.write("# written by bench/translation.py\n" + config(port, mock_port))
        gw = start_server("tollgate", [tollgate, "serve", "--config", conf], port, tmp, cwd=tmp)
        procs.append(gw)
        check_answers(port)
        for case in CASES:
            measured(gw.pid, port, case, 8, 1, "warmup-" + case)
        rounds = []
        names = list(CASES)
        for i in range(args.rounds):
            order = names if i % 2 == 0 else names[::-1]
            rnd = {}
            for conns in (args.connections, 1):
                for case in order:
                    r = measured(gw.pid, port, case, conns, args.seconds, "%s-c%d-r%d" % (case, conns, i + 1))
                    rnd[(case, conns)] = r
                    print("round %d %-19s c=%-3d %8.0f req/s  %6.1f us CPU/req  p50 %7.0f us"
                          % (i + 1, case, conns, r["rps"], r["us_per_req"], r["p50"] or 0), flush=True)
            rounds.append(rnd)
        return rounds
    finally:
        for p in reversed(procs):
            stop_process(p)
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def report(rounds, args):
    c = args.connections
    cell = lambda case, conns, key: median(r[(case, conns)][key] for r in rounds)
    commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    lines = [HEADING, "",
             "`bench/translation.sh %s`, %s UTC, commit %s. Machine: %s. One mock-llm (2 threads) and one "
             "tollgate (Release, 1 worker, `store: none`, anonymous, JSON access log to a file) with two "
             "providers on that mock, `type: openai` and `type: anthropic`. wrk (1 thread, `bench/chat.lua` "
             "with `STREAM=1`: one user message, `max_tokens: 16`, so 16 content events; the same body "
             "is a valid request of both APIs) on the four cases below, all in the same run; %d rounds, "
             "the cases' order reversed every other round, %d s per run at %d connections and at 1. "
             "CPU: the tollgate process's `utime + stime` (every thread) from `/proc` over the run, "
             "divided by the answers wrk counted (the mock's work not included)."
             % (" ".join(sys.argv[1:]), time.strftime("%Y-%m-%d %H:%M", time.gmtime()), commit, machine(),
                args.rounds, args.seconds, c), "",
             "| case (streamed) | req/s @%d | CPU us / req @%d | p50 @1 (us) | CPU us / req @1 |" % (c, c),
             "|---|---|---|---|---|"]
    for case, (_, _, label) in CASES.items():
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, fmt(cell(case, c, "rps")), fmt(cell(case, c, "us_per_req"), "%.1f"),
            fmt(cell(case, 1, "p50")), fmt(cell(case, 1, "us_per_req"), "%.1f")))
    lines += ["", "(medians of the rounds)", "",
              "| translated / passthrough, CPU per request @%d | %s | median |"
              % (c, " | ".join("round %d" % (i + 1) for i in range(len(rounds)))),
              "|---|" + "---|" * (len(rounds) + 1)]
    for api, (translated, passthrough) in PAIRS.items():
        ratios = [r[(translated, c)]["us_per_req"] / r[(passthrough, c)]["us_per_req"] for r in rounds]
        lines.append("| %s (%s / %s) | %s | **%.3f** |" % (
            api, translated, passthrough, " | ".join("%.3f" % x for x in ratios), median(ratios)))
    lines += ["",
              "A translated stream is parsed event by event (jansson), rewritten in the other API's "
              "shape and serialised again. The Anthropic passthrough sends the provider's bytes but runs "
              "every event through the same translator (to read its usage and see its first output), so "
              "it costs about what a translation costs; the chat passthrough reads its events with the "
              "gateway's own scanner (`tg_usage_scan`, no DOM)."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(prog="bench/translation.sh")
    parser.add_argument("build_dir")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed")
    rounds = run(args)
    section = report(rounds, args)
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
