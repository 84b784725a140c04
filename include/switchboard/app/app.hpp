// Wiring: builds the components from a config snapshot, runs the threads, handles signals, reload
// and drain.
#pragma once

#include <chrono>
#include <string>

namespace switchboard::app {

// Runs the gateway on `config_path` until SIGTERM/SIGINT and the drain finish. Returns the exit
// code. `watch_config` reloads when the file changes, whatever server.watch_config says.
int run_gateway(const std::string& config_path, bool watch_config = false);

// GETs `url` (http:// or https://, certificate not verified: a probe of the local process) and
// returns 0 if the answer is 200, 1 otherwise, within `timeout`. For container HEALTHCHECKs in
// images without curl.
int run_healthcheck(const std::string& url, std::chrono::milliseconds timeout);

// Runs the mock provider as an HTTP upstream on `address` (host:port) until SIGTERM/SIGINT.
int run_mock_upstream(const std::string& address, int threads);

}  // namespace switchboard::app
