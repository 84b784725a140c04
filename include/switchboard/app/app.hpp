// Wiring: builds the components from a config snapshot, runs the threads, handles signals, reload
// and drain.
#pragma once

#include <string>

namespace switchboard::app {

// Runs the gateway on `config_path` until SIGTERM/SIGINT and the drain finish. Returns the exit
// code.
int run_gateway(const std::string& config_path);

// Runs the mock provider as an HTTP upstream on `address` (host:port) until SIGTERM/SIGINT.
int run_mock_upstream(const std::string& address, int threads);

}  // namespace switchboard::app
