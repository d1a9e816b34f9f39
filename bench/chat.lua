-- wrk request script for the gateway benchmark: every request POSTs the
-- same small chat completion. STREAM=1 in the environment asks for a
-- Server-Sent Events answer instead of one JSON body; AUTH, when set, is
-- sent as the Authorization header (bench/tenancy.py: "Bearer tg-...");
-- CACHEABLE=1 adds "temperature": 0, which makes the request one the
-- response cache keeps (bench/cache_bench.py), and to a stream a seed: its
-- own entry, recorded from a stream, not the plain runs' entry converted
-- at each hit. MODEL names the model (default gpt-4o-mini). Without
-- CACHEABLE the body is a valid Anthropic Messages request as well
-- (max_tokens is there), which bench/translation.py sends to
-- POST /v1/messages as it is.

local stream = os.getenv("STREAM") == "1"
local auth = os.getenv("AUTH")
local cacheable = os.getenv("CACHEABLE") == "1"
local model = os.getenv("MODEL") or "gpt-4o-mini"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
    wrk.headers["Authorization"] = auth
end
wrk.body = '{"model":"' .. model .. '","max_tokens":16,'
    .. '"messages":[{"role":"user","content":"Say hello to the benchmark"}]'
    .. (stream and ',"stream":true' or '')
    .. (cacheable and ',"temperature":0' or '')
    .. (cacheable and stream and ',"seed":1' or '') .. '}'

-- WRK_STOP_AFTER=N (bench/reliability.py): after N responses, create the
-- file named by WRK_DONE_FILE and stop; wrk itself waits out its -d, so
-- the caller then ends it with SIGINT, which prints the statistics. Unset
-- (the gateway benchmark), wrk calls no Lua per response.
local stop_after = tonumber(os.getenv("WRK_STOP_AFTER") or "")
if stop_after then
    local done = 0
    function response()
        done = done + 1
        if done == stop_after then
            io.open(os.getenv("WRK_DONE_FILE"), "w"):close()
            wrk.thread:stop()
        end
    end
end
