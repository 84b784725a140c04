// The OTLP receiver of bench/observability.sh: accepts POSTs and answers 200 with an empty
// partialSuccess, discarding each body inside the kernel (recv with MSG_TRUNC) without copying
// it out. It stands for a collector on another machine, so it should cost the benchmark's box as
// little as a receiver can: what the gateway spends on export is the gateway's, what the
// collector spends is not. It does not look at the spans (tests/integration does that); the
// gateway's own counters show that every span was delivered.
//
// usage: switchboard_otlp_sink PORT   (0: any free port; the port is printed on stdout)
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace {

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n"
    R"({"partialSuccess":{}})";
constexpr std::string_view kBadRequest =
    "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::size_t kDiscardChunk = 8 * 1024 * 1024;

bool send_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The Content-Length of a request head, or -1 when there is none (chunked bodies are refused:
// the gateway always sends a length).
long long content_length(std::string_view head) {
  std::size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string_view::npos) {
    at += 2;
    std::string_view line = head.substr(at, head.find("\r\n", at) - at);
    constexpr std::string_view kName = "content-length:";
    if (line.size() <= kName.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) return std::atoll(std::string(line.substr(kName.size())).c_str());
  }
  return -1;
}

// Answers the requests on one connection until it closes or sends something it cannot read.
void serve_requests(int fd) {
  std::string buffer(kMaxHead, '\0');
  std::size_t have = 0;  // bytes of the next request already read
  for (;;) {
    std::size_t end;
    while ((end = std::string_view(buffer.data(), have).find("\r\n\r\n")) ==
           std::string_view::npos) {
      if (have == buffer.size()) {
        send_all(fd, kBadRequest);
        return;
      }
      ssize_t n = ::recv(fd, buffer.data() + have, buffer.size() - have, 0);
      if (n <= 0) return;
      have += static_cast<std::size_t>(n);
    }
    std::size_t head_size = end + 4;
    long long length = content_length(std::string_view(buffer.data(), end));
    if (length < 0) {
      send_all(fd, kBadRequest);
      return;
    }
    auto body = static_cast<std::size_t>(length);
    std::size_t buffered = have - head_size;
    if (buffered >= body) {  // the whole body came with the head
      have = buffered - body;
      std::memmove(buffer.data(), buffer.data() + head_size + body, have);
    } else {
      std::size_t left = body - buffered;
      have = 0;
      while (left > 0) {  // dropped by the kernel, never copied out
        ssize_t n = ::recv(fd, nullptr, left < kDiscardChunk ? left : kDiscardChunk, MSG_TRUNC);
        if (n <= 0) return;
        left -= static_cast<std::size_t>(n);
      }
    }
    if (!send_all(fd, kResponse)) return;
  }
}

void serve(int fd) {
  serve_requests(fd);
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 64) != 0) {
    std::perror("switchboard_otlp_sink: listen");
    return 1;
  }
  socklen_t size = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  std::printf("%d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    std::thread(serve, fd).detach();
  }
}
