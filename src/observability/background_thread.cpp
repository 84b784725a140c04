#include "switchboard/observability/background_thread.hpp"

#include <pthread.h>
#include <sched.h>

namespace switchboard::observability {

bool become_background_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
  sched_param param{};
  param.sched_priority = 0;  // the only priority SCHED_BATCH takes
  return pthread_setschedparam(pthread_self(), SCHED_BATCH, &param) == 0;
}

}  // namespace switchboard::observability
