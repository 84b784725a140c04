// The trace record (SPEC section 6) in two steps: packed on the request thread (a copy of the
// values), encoded as its JSON line on the trace writer thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "switchboard/gateway/context.hpp"

namespace switchboard::gateway {

// Appends the record's values to `out` in a compact binary form (lengths and bytes, numbers as
// they are): no JSON, no escaping, one resize.
void pack_trace_record(std::string& out, const RequestContext& ctx, double duration_ms,
                       double overhead_ms);

// Appends the JSON line (no newline) of a record packed by pack_trace_record. A record that is
// cut short is written as far as it goes and then closed, never read past its end.
void append_packed_trace_record(std::string& out, std::string_view packed);
// Appends the OTLP Span object (observability::append_otlp_span) of a record packed by
// pack_trace_record: the OTLP exporter's encoder for the gateway's records.
void append_packed_record_span(std::string& out, std::string_view packed);
// The most bytes append_packed_trace_record can write for `packed` (the space it reserves).
std::size_t trace_record_room(std::string_view packed);

}  // namespace switchboard::gateway
