// The output guard on streams: content deltas through a hold-back per choice, the rest of each
// chunk as it came; a block ends the stream with a content_filter chunk.
#include "guard_internal.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using config::GuardrailStage;
using guardrails::Guardrail;
using nlohmann::json;
using namespace guard_detail;

struct StreamGuard::Choice {
  Choice(int i, std::span<const Guardrail* const> gs) : index(i), hold(gs) {}
  int index;
  guardrails::HoldBack hold;
  bool finished = false;
};

StreamGuard::StreamGuard(Services& services, RequestContext& ctx,
                         std::vector<const Guardrail*> guardrails)
    : services_(services), ctx_(ctx), guardrails_(std::move(guardrails)) {
  remote_ = any_remote(guardrails_);
}

StreamGuard::~StreamGuard() = default;

StreamGuard::Choice& StreamGuard::choice(int index) {
  for (auto& c : choices_) {
    if (c->index == index) return *c;
  }
  choices_.push_back(std::make_unique<Choice>(index, guardrails_));
  if (remote_) choices_.back()->hold.hold_all();
  return *choices_.back();
}

std::string StreamGuard::content_chunk(int index, std::string content) const {
  json chunk = {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", model_},
                {"choices", json::array({{{"index", index},
                                          {"delta", {{"content", std::move(content)}}},
                                          {"finish_reason", nullptr}}})}};
  return chunk.dump(-1, ' ', false, json::error_handler_t::replace);
}

void StreamGuard::block(std::vector<std::string>& out) {
  json finished = json::array();
  for (const auto& c : choices_) {
    if (!c->finished) {
      finished.push_back(
          {{"index", c->index}, {"delta", json::object()}, {"finish_reason", "content_filter"}});
    }
  }
  if (finished.empty()) {
    finished.push_back(
        {{"index", 0}, {"delta", json::object()}, {"finish_reason", "content_filter"}});
  }
  json chunk = {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", model_},
                {"choices", std::move(finished)}};
  out.push_back(chunk.dump(-1, ' ', false, json::error_handler_t::replace));
  deferred_.clear();
  blocked_ = true;
}

bool StreamGuard::on_chunk(std::string_view data, std::vector<std::string>& out) {
  if (blocked_) return false;
  auto chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) {
    out.emplace_back(data);
    return true;
  }
  if (id_.is_null()) {
    id_ = chunk.value("id", json());
    created_ = chunk.value("created", json());
    model_ = chunk.value("model", json());
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) {
    (deferring_ ? deferred_ : out).emplace_back(data);
    return true;
  }
  json kept = json::array();
  for (auto& c : *choices) {
    if (!c.is_object()) continue;
    auto& state = choice(c.value("index", 0));
    auto delta = c.find("delta");
    std::string released;
    bool had_content = false;
    if (delta != c.end() && delta->is_object()) {
      auto content = delta->find("content");
      if (content != delta->end() && content->is_string()) {
        had_content = true;
        if (state.hold.feed(content->get_ref<const std::string&>(), released, hits_)) {
          block(out);
          return false;
        }
        delta->erase(content);
      }
    }
    const bool finishing = c.contains("finish_reason") && !c["finish_reason"].is_null();
    if (finishing && !remote_) {
      if (state.hold.finish(released, hits_)) {
        block(out);
        return false;
      }
      state.finished = true;
      if (!released.empty()) out.push_back(content_chunk(state.index, std::move(released)));
      released.clear();
    } else if (finishing) {
      state.finished = true;
      deferring_ = true;  // the held text goes out before this, once the classifier has seen it
    }
    if (had_content && !released.empty()) (*delta)["content"] = std::move(released);
    const bool empty_delta = delta == c.end() || !delta->is_object() || delta->empty();
    const bool has_logprobs = c.contains("logprobs") && !c["logprobs"].is_null();
    if (empty_delta && !finishing && !has_logprobs) continue;  // it carried only held text
    kept.push_back(std::move(c));
  }
  const bool has_usage = chunk.contains("usage") && !chunk["usage"].is_null();
  if (kept.empty() && !has_usage) return true;
  *choices = std::move(kept);
  (deferring_ ? deferred_ : out)
      .push_back(chunk.dump(-1, ' ', false, json::error_handler_t::replace));
  return true;
}

net::awaitable<bool> StreamGuard::finish(std::vector<std::string>& out) {
  if (blocked_) co_return false;
  if (!remote_) {
    for (auto& c : choices_) {
      if (c->finished) continue;
      std::string rest;
      if (c->hold.finish(rest, hits_)) {
        block(out);
        co_return false;
      }
      c->finished = true;
      if (!rest.empty()) out.push_back(content_chunk(c->index, std::move(rest)));
    }
    co_return true;
  }
  std::vector<std::string> texts(choices_.size());
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    if (choices_[i]->hold.finish(texts[i], hits_)) {
      block(out);
      co_return false;
    }
  }
  if (co_await run_remote(services_, ctx_, GuardrailStage::output, guardrails_, texts)) {
    block(out);
    co_return false;
  }
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    choices_[i]->finished = true;
    if (!texts[i].empty()) out.push_back(content_chunk(choices_[i]->index, std::move(texts[i])));
  }
  for (auto& d : deferred_) out.push_back(std::move(d));
  deferred_.clear();
  deferring_ = false;
  co_return true;
}

void StreamGuard::close() {
  if (closed_) return;
  closed_ = true;
  record_hits(services_, ctx_, GuardrailStage::output, hits_);
}

std::unique_ptr<StreamGuard> make_stream_guard(Services& services, RequestContext& ctx) {
  if (!ctx.runtime || ctx.runtime->guardrails().empty()) return nullptr;
  std::vector<const Guardrail*> gs;
  select(ctx, GuardrailStage::output, gs);
  if (gs.empty()) return nullptr;
  return std::make_unique<StreamGuard>(services, ctx, std::move(gs));
}

}  // namespace switchboard::gateway
