// A live process as an analysis target: its memory (process_vm_readv, else /proc/PID/mem), its
// mappings, auxv and threads from /proc, and a scoped stop of every thread through ptrace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corefile.h"
#include "memory.h"

namespace triage {

class ProcessMemory : public Memory {
  public:
    explicit ProcessMemory(pid_t pid) : pid_(pid) {}
    ~ProcessMemory() override;
    ProcessMemory(const ProcessMemory&) = delete;
    ProcessMemory& operator=(const ProcessMemory&) = delete;

    size_t readSome(uint64_t addr, void* buf, size_t len) const override;
    // True once a read failed because the process is gone.
    bool processGone() const { return gone_; }

  private:
    size_t readProcMem(uint64_t addr, void* buf, size_t len) const;
    pid_t pid_;
    mutable bool use_vm_readv_ = true;
    mutable int mem_fd_ = -1;
    mutable bool gone_ = false;
};

struct ProcessStatus {
    char state = '?';
    pid_t ppid = 0, pgrp = 0, sid = 0;
    int nice = 0;
    unsigned uid = 0, gid = 0;
    pid_t tracer = 0;
    std::string comm;
    std::vector<std::string> argv;
};

// Reads /proc/PID/stat, status and cmdline. Throws ProcessError when there is no such process.
ProcessStatus readProcessStatus(pid_t pid);
// File-backed mappings from /proc/PID/maps.
std::vector<FileMapping> readProcessMaps(pid_t pid);
std::vector<std::pair<uint64_t, uint64_t>> readProcessAuxv(pid_t pid);
std::vector<int> listThreads(pid_t pid);
// The state letter of a thread (R, S, Z...) from /proc; 'X' when it is gone.
char threadState(pid_t pid, int tid);
// A thread of the process that has not exited. The leader can be a zombie while the other
// threads run (it called pthread_exit): then /proc/PID itself has no memory or maps left, and
// the process is read through this thread instead.
std::optional<int> liveThread(pid_t pid);
// The stack pointer of a thread blocked in a system call, from /proc (no ptrace needed).
std::optional<uint64_t> readBlockedStackPointer(pid_t pid, int tid);

// Stops every thread of a process for the lifetime of the object (PTRACE_SEIZE then
// PTRACE_INTERRUPT, including threads created meanwhile) and lets it run on exactly as before
// when destroyed: signals that arrived while stopped are handed back on detach.
class ProcessStopper {
  public:
    explicit ProcessStopper(pid_t pid);
    ~ProcessStopper();
    ProcessStopper(const ProcessStopper&) = delete;
    ProcessStopper& operator=(const ProcessStopper&) = delete;

    const std::vector<int>& tids() const { return tids_; }
    // The stack pointer of a stopped thread (PTRACE_GETREGS), nullopt when unavailable.
    std::optional<uint64_t> stackPointer(int tid) const;
    void detach();

  private:
    bool seize(pid_t tid);
    void waitStopped();
    pid_t pid_;
    std::vector<int> tids_;
    std::map<int, int> pending_signal_;
    bool attached_ = false;
};

}  // namespace triage
