// Hedged requests: a second candidate starts when the first has not answered in time; whichever
// reaches the client first wins and the other is cancelled.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "switchboard/gateway/forward.hpp"
#include "switchboard/routing/router.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using nlohmann::json;

namespace {

struct HedgeRace;

// What one leg sees as its client: nothing reaches the real client until the leg claims the
// race by answering; the leg that did not claim it behaves as if its client had left.
class LegWriter final : public server::ResponseWriter {
 public:
  LegWriter(HedgeRace& race, int index) : race_(race), index_(index) {}

  net::awaitable<bool> send(int status, server::HttpHeaders headers, std::string body) override;
  net::awaitable<bool> start_stream(int status, server::HttpHeaders headers) override;
  net::awaitable<bool> write(std::string_view data) override;
  net::awaitable<bool> finish() override;
  bool started() const override;
  bool client_gone() const override;
  void on_client_gone(std::function<void()> callback) override;
  void abort() override;

  // The other leg won: cancel this one's upstream call.
  void lose() {
    if (auto cb = std::move(pending_)) cb();
  }

 private:
  bool claim();
  bool won() const;

  HedgeRace& race_;
  int index_;
  std::function<void()> pending_;
};

struct Leg {
  RequestContext ctx;
  json body;
  Resolved target;
  ForwardOptions options;
  std::unique_ptr<LegWriter> writer;
  AttemptResult result;
  bool running = false;
  bool finished = false;
};

struct HedgeRace {
  HedgeRace(net::any_io_executor ex, server::ResponseWriter& out) : real(out), wake(ex) {}
  server::ResponseWriter& real;
  int winner = -1;
  Leg legs[2];
  net::steady_timer wake;  // cancelled whenever a leg wins or finishes
};

bool LegWriter::won() const {
  return race_.winner == index_;
}

bool LegWriter::claim() {
  if (race_.winner == -1) {
    race_.winner = index_;
    race_.legs[1 - index_].writer->lose();
    race_.wake.cancel();
  }
  return won();
}

net::awaitable<bool> LegWriter::send(int status, server::HttpHeaders headers, std::string body) {
  if (!claim()) co_return false;
  bool ok = co_await race_.real.send(status, std::move(headers), std::move(body));
  co_return ok;
}

net::awaitable<bool> LegWriter::start_stream(int status, server::HttpHeaders headers) {
  if (!claim()) co_return false;
  bool ok = co_await race_.real.start_stream(status, std::move(headers));
  co_return ok;
}

net::awaitable<bool> LegWriter::write(std::string_view data) {
  if (!won()) co_return false;
  bool ok = co_await race_.real.write(data);
  co_return ok;
}

net::awaitable<bool> LegWriter::finish() {
  if (!won()) co_return false;
  bool ok = co_await race_.real.finish();
  co_return ok;
}

bool LegWriter::started() const {
  return won() && race_.real.started();
}

bool LegWriter::client_gone() const {
  return race_.winner != -1 && (!won() || race_.real.client_gone());
}

void LegWriter::on_client_gone(std::function<void()> callback) {
  if (won()) {
    race_.real.on_client_gone(std::move(callback));
  } else if (race_.winner != -1) {
    if (callback) callback();  // already lost
  } else {
    pending_ = std::move(callback);
  }
}

void LegWriter::abort() {
  if (won()) race_.real.abort();
}

net::awaitable<void> run_leg(Services& services, std::shared_ptr<HedgeRace> race, int index) {
  auto& leg = race->legs[index];
  routing::KeyHealth* key_health =
      leg.target.key_index >= 0
          ? leg.target.provider->key_health[static_cast<std::size_t>(leg.target.key_index)].get()
          : nullptr;
  if (key_health && index == 1) key_health->in_flight().fetch_add(1, std::memory_order_relaxed);
  leg.result =
      co_await attempt_once(services, leg.ctx, leg.body, leg.target, leg.options, *leg.writer);
  if (key_health && index == 1) key_health->in_flight().fetch_sub(1, std::memory_order_relaxed);
  leg.finished = true;
  race->wake.cancel();
}

void start_leg(Services& services, const std::shared_ptr<HedgeRace>& race, int index) {
  race->legs[index].running = true;
  net::co_spawn(race->wake.get_executor(), run_leg(services, race, index),
                [race, index](std::exception_ptr e) {
                  if (e) {  // never expected: keep the waiter from hanging
                    race->legs[index].finished = true;
                    race->wake.cancel();
                  }
                });
}

// Waits until `done()` holds or `deadline` passes; legs cancel the timer on every change.
net::awaitable<void> wait_until(HedgeRace& race, const std::function<bool()>& done,
                                Clock::time_point deadline) {
  while (!done() && Clock::now() < deadline) {
    race.wake.expires_at(deadline);
    co_await race.wake.async_wait(net::as_tuple(net::use_awaitable));
  }
}

}  // namespace

net::awaitable<AttemptResult> hedged_attempt(Services& services, RequestContext& ctx, json& body,
                                             const Resolved& first, const Resolved& second,
                                             std::chrono::milliseconds after,
                                             const ForwardOptions& options,
                                             server::ResponseWriter& out) {
  auto race = std::make_shared<HedgeRace>(co_await net::this_coro::executor, out);
  const auto attempts_before = ctx.attempts.size();
  for (int i = 0; i < 2; ++i) {
    auto& leg = race->legs[i];
    leg.ctx = ctx;
    leg.body = body;
    leg.target = i == 0 ? first : second;
    leg.options = options;
    leg.options.cancel_before_response = true;
    leg.writer = std::make_unique<LegWriter>(*race, i);
  }
  auto& a = race->legs[0];
  auto& b = race->legs[1];
  start_leg(services, race, 0);
  co_await wait_until(
      *race, [&] { return a.finished || race->winner != -1; }, Clock::now() + after);
  // Still nothing from the first leg: the second candidate starts too.
  auto far = Clock::now() + std::chrono::hours(24);
  if (!a.finished && race->winner == -1) {
    start_leg(services, race, 1);
    // Until one answers, or both have failed.
    co_await wait_until(
        *race, [&] { return race->winner != -1 || (a.finished && b.finished); }, far);
  }
  // The winner relays the whole answer; a loser was cancelled and ends soon.
  co_await wait_until(
      *race, [&] { return a.finished && (!b.running || b.finished); }, far);

  int winner = race->winner;
  // The request carries on as the leg that answered (or, when none did, the first candidate's
  // failure, so its key and circuit bookkeeping stay its own).
  int main = winner != -1 ? winner : 0;
  int other = 1 - main;
  auto& chosen = race->legs[main];
  auto& loser = race->legs[other];
  RequestContext merged = std::move(chosen.ctx);
  if (loser.running) {
    for (std::size_t i = attempts_before; i < loser.ctx.attempts.size(); ++i) {
      auto attempt = std::move(loser.ctx.attempts[i]);
      if (winner != -1) attempt.error = "hedge_cancelled";
      // What the provider billed the losing leg is part of the request's cost.
      merged.cost_usd += attempt.billed_usd;
      merged.attempts.push_back(std::move(attempt));
    }
    merged.upstream_ms = std::max(merged.upstream_ms, loser.ctx.upstream_ms);
  }
  ctx = std::move(merged);
  body = std::move(chosen.body);
  AttemptResult result = std::move(chosen.result);
  result.partner_won = winner == 1;
  if (b.running) {
    std::array<std::string_view, 2> labels{ctx.route, "hedge"};
    services.metrics->fallbacks.add(labels);
  }
  co_return result;
}

}  // namespace switchboard::gateway
