// Background threads of the observability pipeline (trace writer, OTLP exporter).
#pragma once

namespace switchboard::observability {

// Names the calling thread (seen in top and /proc) and makes it a batch thread (SCHED_BATCH):
// it still gets its fair share of CPU, but waking it no longer preempts the thread that is
// running. Its work is batched and latency-tolerant, and on a busy core the one it would preempt
// is a request thread. Returns false if the policy could not be set (the thread runs on as a
// normal one).
bool become_background_thread(const char* name);

}  // namespace switchboard::observability
