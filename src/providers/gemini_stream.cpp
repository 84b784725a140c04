// Gemini's `streamGenerateContent?alt=sse` body -> OpenAI chat.completion.chunk objects.
#include <map>
#include <string>
#include <utility>

#include "switchboard/protocol/sse.hpp"
#include "switchboard/providers/gemini.hpp"

namespace switchboard::providers {

namespace {

using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;

// Each SSE event is a whole GenerateContentResponse holding only the new parts; the last one
// carries finishReason and the final usageMetadata. There is no [DONE]: the stream is complete
// once every candidate seen has finished.
class GeminiStreamTranslator final : public StreamTranslator {
 public:
  explicit GeminiStreamTranslator(ResponseContext context) : context_(std::move(context)) {}

  std::optional<ApiError> feed(std::string_view bytes, ChunkSink& sink) override {
    if (failed_) return std::nullopt;
    reader_.feed(bytes);
    while (reader_.next(event_)) {
      if (event_.is_comment || event_.data.empty()) continue;
      auto j = json::parse(event_.data, nullptr, false);
      if (!j.is_object())
        return fail(protocol::make_error(ErrorCode::upstream_error,
                                         "Gemini sent a malformed stream event"));
      if (j.contains("error")) {
        bool retryable = false;
        return fail(gemini_error(200, event_.data, retryable));
      }
      if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object())
        usage_ = gemini_usage(*u);
      if (done_) continue;  // after the terminal event only usage may still change
      on_response(j, sink);
    }
    if (reader_.overflowed())
      return fail(
          protocol::make_error(ErrorCode::upstream_error, "Gemini sent an oversized event"));
    return std::nullopt;
  }

  bool done() const override { return done_; }
  const accounting::Usage& usage() const override { return usage_; }

 private:
  struct ChoiceState {
    int tool_calls = 0;
    bool finished = false;
  };

  std::optional<ApiError> fail(ApiError error) {
    failed_ = true;
    return error;
  }

  void on_response(const json& j, ChunkSink& sink) {
    if (response_id_.empty()) response_id_ = j.value("responseId", context_.id);
    auto candidates = j.find("candidates");
    if (candidates == j.end() || !candidates->is_array() || candidates->empty()) {
      if (j.contains("promptFeedback") && choices_.empty()) {  // the prompt itself was blocked
        start_choice(0, sink);
        choices_[0].finished = true;
        emit(0, json::object(), "content_filter", sink);
        finish(sink);
      }
      return;
    }
    for (std::size_t i = 0; i < candidates->size(); ++i) {
      const auto& c = (*candidates)[i];
      if (c.is_object()) on_candidate(c, c.value("index", static_cast<int>(i)), sink);
    }
    for (const auto& [index, state] : choices_) {
      if (!state.finished) return;
    }
    finish(sink);
  }

  void on_candidate(const json& c, int index, ChunkSink& sink) {
    start_choice(index, sink);
    auto& state = choices_[index];
    if (state.finished) return;
    if (auto content = c.find("content"); content != c.end() && content->is_object()) {
      if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
        for (const auto& p : *parts) {
          if (!p.is_object()) continue;
          if (p.contains("functionCall")) {
            auto call = gemini_tool_call(p, response_id_, index, state.tool_calls);
            call["index"] = state.tool_calls++;
            emit(index, {{"tool_calls", json::array({std::move(call)})}}, nullptr, sink);
          } else if (p.contains("text") && p["text"].is_string() && !p.value("thought", false) &&
                     !p["text"].get_ref<const std::string&>().empty()) {
            emit(index, {{"content", p["text"]}}, nullptr, sink);
          }
        }
      }
    }
    if (auto reason = c.find("finishReason"); reason != c.end() && reason->is_string()) {
      state.finished = true;
      emit(index, json::object(),
           json(gemini_finish_reason(reason->get<std::string>(), state.tool_calls > 0)), sink);
    }
  }

  void start_choice(int index, ChunkSink& sink) {
    if (choices_.contains(index)) return;
    choices_[index] = {};
    emit(index, {{"role", "assistant"}, {"content", ""}}, nullptr, sink);
  }

  json chunk(json choices) const {
    json c = {{"id", context_.id},
              {"object", "chat.completion.chunk"},
              {"created", context_.created},
              {"model", context_.model},
              {"choices", std::move(choices)}};
    if (context_.include_usage) c["usage"] = nullptr;
    return c;
  }

  void emit(int index, json delta, json finish_reason, ChunkSink& sink) const {
    const std::size_t output = delta_output_chars(delta);
    json choice = {{"index", index},
                   {"delta", std::move(delta)},
                   {"logprobs", nullptr},
                   {"finish_reason", std::move(finish_reason)}};
    sink.chunk(chunk(json::array({std::move(choice)}))
                   .dump(-1, ' ', false, json::error_handler_t::replace),
               output);
  }

  void finish(ChunkSink& sink) {
    done_ = true;
    if (!context_.include_usage || !usage_.known) return;
    auto c = chunk(json::array());
    c["usage"] = openai_usage_json(usage_);
    sink.chunk(c.dump(-1, ' ', false, json::error_handler_t::replace), 0);
  }

  ResponseContext context_;
  protocol::SseReader reader_;
  protocol::SseEvent event_;
  std::string response_id_;
  std::map<int, ChoiceState> choices_;
  accounting::Usage usage_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<StreamTranslator> make_gemini_stream(const ResponseContext& context) {
  return std::make_unique<GeminiStreamTranslator>(context);
}

}  // namespace switchboard::providers
