// Command line only: parse flags, then run the gateway, check a config, probe a URL, or serve the
// mock upstream.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "switchboard/app/app.hpp"
#include "switchboard/config/loader.hpp"
#include "switchboard/gateway/runtime.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: switchboard [--config FILE] [--watch-config]\n"
    "       switchboard --check-config FILE\n"
    "       switchboard --healthcheck URL\n"
    "       switchboard --mock-upstream HOST:PORT [--threads N]\n"
    "       switchboard --version\n";

int check_config(const std::string& path) {
  auto result = switchboard::config::load_config_file(path);
  if (result.ok()) {
    std::string why;
    if (!switchboard::gateway::Runtime::build(result.config, why)) {
      std::cerr << path << ":0:0: " << why << "\n";
      return 1;
    }
    std::cout << path << ": ok\n";
    return 0;
  }
  for (const auto& e : result.errors) std::cerr << e.to_string() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout/stderr pipe must not kill the daemon
  std::string config_path;
  std::string mock_address;
  int threads = 0;
  bool watch_config = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "switchboard: " << flag << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--version") {
      std::cout << "switchboard " << SWITCHBOARD_VERSION << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--check-config") {
      return check_config(value(arg));
    } else if (arg == "--healthcheck") {
      return switchboard::app::run_healthcheck(value(arg), std::chrono::seconds(3));
    } else if (arg == "--watch-config") {
      watch_config = true;
    } else if (arg == "--config") {
      config_path = value(arg);
    } else if (arg == "--mock-upstream") {
      mock_address = value(arg);
    } else if (arg == "--threads") {
      threads = std::atoi(value(arg).c_str());
    } else {
      std::cerr << "switchboard: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (!mock_address.empty()) return switchboard::app::run_mock_upstream(mock_address, threads);
  if (config_path.empty()) {
    const char* env = std::getenv("SWITCHBOARD_CONFIG");
    config_path = env && *env ? env : "config/switchboard.yaml";
  }
  return switchboard::app::run_gateway(config_path, watch_config);
}
