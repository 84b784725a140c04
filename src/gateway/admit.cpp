// The "admit" stage: the tenant's rate limits and budget, checked once the route is known (the
// estimate needs the first candidate's price) and before any provider is called; and the
// settlement with the real usage when the request ends.
#include "switchboard/gateway/admit.hpp"

#include <cmath>

#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/routing/router.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using protocol::ErrorCode;

namespace {

bool has_limits(const config::TenantConfig* tenant) {
  return tenant && (tenant->rate_limit.rpm > 0 || tenant->rate_limit.tpm > 0 || tenant->budget);
}

std::string format_usd(double usd) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6f", usd);
  return buf;
}

}  // namespace

bool admission_needed(const Services& services, const RequestContext& ctx) {
  return has_limits(ctx.tenant) && services.ledger != nullptr;
}

net::awaitable<bool> admit_request(Services& services, RequestContext& ctx,
                                   const config::ModelConfig* first_model,
                                   std::int64_t max_output_tokens, server::ResponseWriter& out) {
  if (!admission_needed(services, ctx)) co_return true;
  const auto& tenant = *ctx.tenant;
  accounting::AdmitRequest request;
  request.tenant = tenant.name;
  request.limit = tenant.rate_limit;
  request.budget = tenant.budget;
  request.tokens = ctx.prompt_tokens_estimate + max_output_tokens;
  if (first_model) {
    request.cost_usd =
        routing::estimate_cost_usd(*first_model, ctx.prompt_tokens_estimate, max_output_tokens);
  }
  auto admission = co_await services.ledger->admit(std::move(request));
  if (admission.budget_remaining_usd) {
    std::array<std::string_view, 1> l{tenant.name};
    services.metrics->budget_remaining.set(l, *admission.budget_remaining_usd);
  }
  if (admission.refused == accounting::Refusal::none) {
    ctx.reservation = std::move(admission.reservation);
    co_return true;
  }
  std::array<std::string_view, 2> labels{tenant.name, accounting::refusal_name(admission.refused)};
  services.metrics->rate_limited.add(labels);
  if (admission.refused == accounting::Refusal::budget) {
    const auto& budget = *tenant.budget;
    const char* period = budget.period == config::BudgetPeriod::daily     ? "daily"
                         : budget.period == config::BudgetPeriod::monthly ? "monthly"
                                                                          : "total";
    co_await reply_error(
        ctx, out,
        protocol::make_error(ErrorCode::budget_exceeded,
                             "tenant '" + tenant.name + "' has spent its " + period +
                                 " budget of $" + format_usd(budget.usd) + " (remaining $" +
                                 format_usd(admission.budget_remaining_usd.value_or(0)) + ")"));
    co_return false;
  }
  auto seconds = std::max<std::int64_t>(1, (admission.retry_after_ms + 999) / 1000);
  bool rpm = admission.refused == accounting::Refusal::rpm;
  co_await reply_error(
      ctx, out,
      protocol::make_error(ErrorCode::rate_limit_exceeded,
                           "tenant '" + tenant.name + "' is over its rate limit of " +
                               std::to_string(rpm ? tenant.rate_limit.rpm : tenant.rate_limit.tpm) +
                               (rpm ? " requests" : " tokens") + " per minute; retry in " +
                               std::to_string(seconds) + " s"),
      server::HttpHeaders{{"retry-after", std::to_string(seconds)}});
  co_return false;
}

void settle_request(Services& services, RequestContext& ctx) {
  if (services.ledger == nullptr) return;
  // Requests that never reached a provider cost nothing and are not spend.
  if (ctx.provider.empty() && !ctx.reservation.active) return;
  accounting::SpendRecord spend;
  spend.tenant = ctx.tenant_name;
  spend.workflow = ctx.workflow;
  spend.provider = ctx.provider;
  spend.model = ctx.model;
  spend.user = ctx.user;
  spend.usage = ctx.usage;
  spend.cost_usd = ctx.cost_usd;
  spend.at = ctx.wall_start;
  std::optional<config::Budget> budget;
  if (ctx.tenant) budget = ctx.tenant->budget;
  services.ledger->settle(ctx.reservation, budget, spend);
  if (budget) {
    std::array<std::string_view, 1> l{ctx.tenant_name};
    services.metrics->budget_remaining.set(
        l, services.ledger->budget_remaining(ctx.tenant_name, *budget));
  }
}

}  // namespace switchboard::gateway
