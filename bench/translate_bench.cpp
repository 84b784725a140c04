// Cost of the OpenAI -> Anthropic translation path per request (issue 3: translation within 10%
// of pass-through), on the fixed bodies bench/run.sh serves: build_chat, the response translation
// as forward.cpp runs it, and a whole streamed answer through the stream translator, its chunks
// framed as relay_stream frames them, and a longer one of 100 text deltas (the per-token cost).
// Run: build/switchboard_translate_bench [runs] [name filter]  (prints ns/op p50 and p99).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/providers/anthropic.hpp"

using namespace switchboard;
using nlohmann::json;

namespace {

// bench/post_chat_translate.lua and post_chat_translate_stream.lua.
constexpr const char* kRequest =
    R"({"model":"bench-anthropic","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarize the plot of Hamlet in one sentence."}],"max_tokens":64,"temperature":0.2})";
constexpr const char* kStreamRequest =
    R"({"model":"bench-anthropic-stream","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarize the plot of Hamlet in one sentence."}],"max_tokens":64,"temperature":0.2})";

// ANT_JSON_BODY and ANT_SSE_BODY of bench/run.sh.
constexpr const char* kMessage =
    R"({"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"Prince Hamlet avenges his father by killing his uncle Claudius, but the revenge costs nearly everyone their life, including his own."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":27,"output_tokens":26,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})";

std::string event(const char* type, const std::string& data) {
  return std::string("event: ") + type + "\ndata: " + data + "\n\n";
}

std::string stream_body() {
  std::string sse = event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-bench","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":27,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}})");
  sse += event(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  for (const char* piece : {"Prince Hamlet avenges his father ", "by killing his uncle Claudius, ",
                            "but the revenge costs nearly everyone their life."}) {
    sse += event(
        "content_block_delta",
        std::string(
            R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")") +
            piece + "\"}}");
  }
  sse += event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  sse += event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":22}})");
  sse += event("message_stop", R"({"type":"message_stop"})");
  return sse;
}

// A longer answer: message_start, 100 text deltas, the stop events (per-token cost dominates).
std::string long_stream_body() {
  std::string sse = event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_bench0002","type":"message","role":"assistant","model":"claude-bench","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":27,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}})");
  sse += event(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  for (int i = 0; i < 100; ++i) {
    sse += event(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token )" +
            std::to_string(i) + R"( and\nmore "}})");
  }
  sse += event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  sse += event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":300}})");
  sse += event("message_stop", R"({"type":"message_stop"})");
  return sse;
}

struct Stats {
  double p50 = 0, p99 = 0;
};

template <typename F>
Stats measure(int runs, F&& f) {
  std::vector<double> ns(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs / 10; ++i) f();  // warm up
  for (auto& v : ns) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    v = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2], ns[ns.size() * 99 / 100]};
}

const char* only = nullptr;  // argv[2]: run only the operations whose name contains it

template <typename F>
void run(const char* what, int runs, F&& f) {
  if (only && !std::strstr(what, only)) return;
  Stats s = measure(runs, f);
  std::printf("%-52s p50 %8.0f ns/op   p99 %8.0f ns/op\n", what, s.p50, s.p99);
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 200000;
  if (argc > 2) only = argv[2];
  auto adapter = providers::make_anthropic_adapter();
  config::ProviderConfig provider;
  provider.name = "upstream-anthropic";
  provider.type = config::ProviderType::anthropic;
  providers::ProviderTarget target;
  target.provider = &provider;
  target.key = "bench-key";
  target.model_id = "claude-bench";
  providers::ResponseContext context{"chatcmpl-bench", "bench-anthropic", 1732400000, false};
  providers::ResponseContext stream_context = context;
  stream_context.include_usage = true;

  // forward.cpp sets "model" to the provider's model id before build_chat.
  json request = json::parse(kRequest);
  request["model"] = "claude-bench";
  json stream_request = json::parse(kStreamRequest);
  stream_request["model"] = "claude-bench";
  const std::string sse = stream_body();

  upstream::UpstreamRequest out;
  std::size_t sink = 0;
  run("build_chat (plain request)", runs, [&] {
    out = {};
    if (adapter->build_chat(request, false, target, out)) std::abort();
    sink += out.body.size();
  });
  run("build_chat (stream request)", runs, [&] {
    out = {};
    if (adapter->build_chat(stream_request, true, target, out)) std::abort();
    sink += out.body.size();
  });

  // What forward.cpp calls: the client's bytes (its own model name; stream_options as serve_chat
  // forwards it), no DOM.
  run("build_chat_text (plain request, forward.cpp)", runs, [&] {
    out = {};
    if (adapter->build_chat_text(kRequest, false, target, out)) std::abort();
    sink += out.body.size();
  });
  run("build_chat_text (stream request, forward.cpp)", runs, [&] {
    out = {};
    if (adapter->build_chat_text(kStreamRequest, true, target, out)) std::abort();
    sink += out.body.size();
  });

  std::string text;
  run("translate_chat, DOM + dump (the DOM path)", runs, [&] {
    json translated;
    accounting::Usage usage;
    if (adapter->translate_chat(kMessage, context, translated, usage)) std::abort();
    text = translated.dump(-1, ' ', false, json::error_handler_t::replace);
    sink += text.size();
  });

  run("translate_chat_text (forward.cpp, OpenAI client)", runs, [&] {
    text.clear();
    accounting::Usage usage;
    if (adapter->translate_chat_text(kMessage, context, text, usage)) std::abort();
    sink += text.size();
  });

  // As relay_stream takes them: each chunk framed as an SSE data line into a reused batch.
  struct FramingSink final : providers::ChunkSink {
    std::string batch;
    std::size_t output = 0;
    void chunk(std::string_view json, std::size_t output_chars) override {
      batch.append("data: ", 6).append(json).append("\n\n", 2);
      output += output_chars;
    }
  } framing;
  run("stream: 8 events -> 6 chunks (new translator each)", runs / 4, [&] {
    auto translator = adapter->chat_stream(stream_context);
    framing.batch.clear();
    if (translator->feed(sse, framing) || !translator->done()) std::abort();
    sink += framing.batch.size();
  });
  const std::string long_sse = long_stream_body();
  run("stream: 104 events (100 text deltas) -> 103 chunks", runs / 40, [&] {
    auto translator = adapter->chat_stream(stream_context);
    framing.batch.clear();
    if (translator->feed(long_sse, framing) || !translator->done()) std::abort();
    sink += framing.batch.size();
  });
  std::printf("(%zu)\n", sink % 10);
  return 0;
}
