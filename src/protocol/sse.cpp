// Server-sent events: the incremental text/event-stream reader and the SSE frame writers.
#include "switchboard/protocol/sse.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace switchboard::protocol {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Compacting moves the unconsumed tail to the front; doing it only when the consumed prefix is
// large relative to the buffer keeps the cost amortised O(1) per byte.
constexpr std::size_t kCompactMinBytes = 4096;

// Two memchr passes (vectorised) instead of find_first_of, which tests every byte against the
// set one call at a time: a '\n' first, then a '\r' before it (rare: most streams use "\n").
std::size_t find_line_break(std::string_view text, std::size_t from) {
  if (from >= text.size()) return std::string_view::npos;
  const char* begin = text.data() + from;
  const std::size_t n = text.size() - from;
  const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', n));
  const std::size_t limit = nl ? static_cast<std::size_t>(nl - begin) : n;
  if (const auto* cr = static_cast<const char*>(std::memchr(begin, '\r', limit)))
    return static_cast<std::size_t>(cr - text.data());
  return nl ? static_cast<std::size_t>(nl - text.data()) : std::string_view::npos;
}

// Calls fn(line) for every line of `text`, where "\r\n", "\n" and "\r" all end a line.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t pos = 0;
  while (true) {
    std::size_t eol = find_line_break(text, pos);
    if (eol == std::string_view::npos) {
      fn(text.substr(pos));
      return;
    }
    fn(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (text[eol] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
  }
}

}  // namespace

SseReader::SseReader(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void SseReader::feed(std::string_view bytes) {
  if (finished_ || overflowed_ || bytes.empty()) return;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = scan_ = probe_ = 0;
  } else if (start_ >= kCompactMinBytes && start_ * 2 >= buf_.size()) {
    buf_.erase(0, start_);
    scan_ -= start_;
    probe_ = std::max(probe_, start_) - start_;
    start_ = 0;
  }
  buf_.append(bytes);
}

void SseReader::finish() {
  finished_ = true;
}

bool SseReader::next(SseEvent& out) {
  if (overflowed_) return false;
  if (!bom_checked_ && !skip_bom()) return false;

  const std::string_view buf(buf_);
  while (true) {
    std::size_t eol = find_line_break(buf, std::max(scan_, probe_));
    if (eol == std::string_view::npos) {
      probe_ = buf.size();
      break;
    }
    std::size_t next_line = eol + 1;
    if (buf[eol] == '\r') {
      if (next_line == buf.size() && !finished_) {
        probe_ = eol;  // may be the first half of "\r\n": wait for the next byte
        break;
      }
      if (next_line < buf.size() && buf[next_line] == '\n') ++next_line;
    }
    std::string_view line = buf.substr(scan_, eol - scan_);
    scan_ = probe_ = next_line;
    if (!line.empty()) {
      process_line(line);
      continue;
    }
    if (scan_ - start_ > max_event_bytes_) return overflow();
    emit(out, scan_);
    return true;
  }

  // Everything from start_ on is one incomplete block.
  if (buf.size() - start_ > max_event_bytes_) return overflow();
  if (finished_ && start_ < buf.size()) {
    if (scan_ < buf.size()) process_line(buf.substr(scan_));
    scan_ = probe_ = buf.size();
    emit(out, buf.size());
    return true;
  }
  return false;
}

bool SseReader::skip_bom() {
  std::string_view head = std::string_view(buf_).substr(start_, kBom.size());
  if (head.size() < kBom.size() && kBom.starts_with(head) && !finished_) return false;
  bom_checked_ = true;
  if (head == kBom) scan_ = probe_ = start_ + kBom.size();
  return true;
}

void SseReader::process_line(std::string_view line) {
  if (line.front() == ':') return;  // comment
  std::size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  }
  // "retry" and unknown fields are ignored.
}

void SseReader::emit(SseEvent& out, std::size_t end) {
  out.raw.assign(buf_, start_, end - start_);
  out.is_comment = data_.empty();
  out.data.clear();
  out.event.clear();
  if (!out.is_comment) {
    data_.pop_back();  // the '\n' after the last data line
    // Swapping hands our buffers to the caller and takes theirs back for reuse.
    std::swap(out.data, data_);
    std::swap(out.event, event_);
  }
  data_.clear();
  event_.clear();
  out.id.assign(last_id_);
  start_ = end;
}

bool SseReader::overflow() {
  overflowed_ = true;
  std::string().swap(buf_);
  std::string().swap(data_);
  start_ = scan_ = probe_ = 0;
  return false;
}

void append_sse_data(std::string& out, std::string_view data) {
  for_each_line(data, [&out](std::string_view line) {
    out.append("data: ");
    out.append(line);
    out.push_back('\n');
  });
  out.push_back('\n');
}

void append_sse_event(std::string& out, std::string_view event, std::string_view data) {
  out.append("event: ");
  out.append(event.substr(0, find_line_break(event, 0)));
  out.push_back('\n');
  append_sse_data(out, data);
}

}  // namespace switchboard::protocol
