-- wrk script: the streamed chat request to a model served by an Anthropic upstream (translated SSE).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-client"
wrk.body = '{"model":"bench-anthropic-stream","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarize the plot of Hamlet in one sentence."}],"max_tokens":64,"temperature":0.2}'

-- the BENCH summary line for run.sh
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
