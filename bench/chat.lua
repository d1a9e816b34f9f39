-- wrk request script for the gateway benchmark: every request POSTs the
-- same small chat completion. STREAM=1 in the environment asks for a
-- Server-Sent Events answer instead of one JSON body.

local stream = os.getenv("STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","max_tokens":16,'
    .. '"messages":[{"role":"user","content":"Say hello to the benchmark"}]'
    .. (stream and ',"stream":true' or '') .. '}'
