#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "errors.h"
#include "numbers.h"

namespace triage {

namespace {

constexpr int kMaxAttachRounds = 100;
// How long seized threads get to reach their stop (a thread in an uninterruptible sleep, e.g.
// on a hung NFS server, does not stop at all).
constexpr std::chrono::seconds kStopTimeout{10};

std::string procPath(pid_t pid, const char* what) {
    return "/proc/" + std::to_string(pid) + "/" + what;
}

bool readWholeFile(const std::string& path, std::string* out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream s;
    s << in.rdbuf();
    *out = s.str();
    return true;
}

bool haveCapability(int cap) {
    std::string status;
    readWholeFile("/proc/self/status", &status);
    auto pos = status.find("CapEff:");
    if (pos == std::string::npos) return geteuid() == 0;
    unsigned long long mask = std::strtoull(status.c_str() + pos + 7, nullptr, 16);
    return (mask >> cap) & 1;
}

// Why ptrace was refused, in terms a user can act on.
std::string permissionReason(pid_t pid) {
    constexpr int kCapSysPtrace = 19;
    std::string status;
    readWholeFile(procPath(pid, "status"), &status);
    auto tracer_at = status.find("TracerPid:");
    if (tracer_at != std::string::npos) {
        int tracer = std::atoi(status.c_str() + tracer_at + 10);
        if (tracer != 0)
            return "another tracer (pid " + std::to_string(tracer) + ") is attached to it";
    }
    if (haveCapability(kCapSysPtrace))
        return "the kernel refused ptrace despite CAP_SYS_PTRACE (a seccomp or LSM policy)";
    auto uid_at = status.find("Uid:");
    unsigned owner =
        uid_at == std::string::npos ? 0 : std::strtoul(status.c_str() + uid_at + 4, nullptr, 10);
    if (owner != geteuid())
        return "it belongs to uid " + std::to_string(owner) +
               ": run as that user, or as root with CAP_SYS_PTRACE (containers: --cap-add "
               "SYS_PTRACE)";
    std::string scope;
    if (readWholeFile("/proc/sys/kernel/yama/ptrace_scope", &scope) && !scope.empty() &&
        scope[0] != '0')
        return "ptrace is restricted (kernel.yama.ptrace_scope=" + scope.substr(0, 1) +
               "); run as root or with CAP_SYS_PTRACE";
    return "the kernel refused ptrace (a seccomp or LSM policy)";
}

}  // namespace

ProcessMemory::~ProcessMemory() {
    if (mem_fd_ >= 0) ::close(mem_fd_);
}

size_t ProcessMemory::readSome(uint64_t addr, void* buf, size_t len) const {
    if (len == 0 || gone_) return 0;
    if (use_vm_readv_) {
        iovec local{buf, len};
        iovec remote{reinterpret_cast<void*>(addr), len};
        ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == ESRCH) {
            gone_ = true;
            return 0;
        }
        // Kernels without cross-memory attach, or policies that block it: use /proc/PID/mem.
        if (errno != ENOSYS && errno != EPERM) return 0;
        use_vm_readv_ = false;
    }
    return readProcMem(addr, buf, len);
}

size_t ProcessMemory::readProcMem(uint64_t addr, void* buf, size_t len) const {
    if (mem_fd_ < 0) {
        mem_fd_ = ::open(procPath(pid_, "mem").c_str(), O_RDONLY | O_CLOEXEC);
        if (mem_fd_ < 0) {
            gone_ = errno == ENOENT;
            return 0;
        }
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(mem_fd_, static_cast<char*>(buf) + done, len - done,
                          static_cast<off_t>(addr + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    return done;
}

ProcessStatus readProcessStatus(pid_t pid) {
    ProcessStatus st;
    std::string stat;
    if (!readWholeFile(procPath(pid, "stat"), &stat) || stat.empty())
        throw ProcessError("no such process: " + std::to_string(pid));
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    auto open = stat.find('(');
    auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
        throw ProcessError("cannot parse " + procPath(pid, "stat"));
    st.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream fields(stat.substr(std::min(close + 2, stat.size())));
    long long skip;
    fields >> st.state >> st.ppid >> st.pgrp >> st.sid;
    for (int i = 0; i < 14 && fields; ++i) fields >> skip;  // tty_nr .. priority
    fields >> st.nice;
    std::string status;
    readWholeFile(procPath(pid, "status"), &status);
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);) {
        std::string_view text(line);
        if (text.rfind("Uid:", 0) == 0) st.uid = parseNumber<unsigned>(text.substr(4)).value_or(0);
        if (text.rfind("Gid:", 0) == 0) st.gid = parseNumber<unsigned>(text.substr(4)).value_or(0);
        if (text.rfind("TracerPid:", 0) == 0)
            st.tracer = parseNumber<pid_t>(text.substr(10)).value_or(0);
    }
    std::string cmdline;
    readWholeFile(procPath(pid, "cmdline"), &cmdline);
    for (size_t start = 0; start < cmdline.size();) {
        size_t end = cmdline.find('\0', start);
        if (end == std::string::npos) end = cmdline.size();
        st.argv.push_back(cmdline.substr(start, end - start));
        start = end + 1;
    }
    return st;
}

std::vector<FileMapping> readProcessMaps(pid_t pid) {
    std::ifstream in(procPath(pid, "maps"));
    if (!in)
        throw ProcessError("cannot read " + procPath(pid, "maps") + ": " + std::strerror(errno));
    std::vector<FileMapping> out;
    for (std::string line; std::getline(in, line);) {
        unsigned long long start, end, offset, inode;
        char perms[5];
        char dev[16];
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx %4s %llx %15s %llu %n", &start, &end, perms,
                        &offset, dev, &inode, &path_at) < 6)
            continue;
        if (inode == 0 || path_at <= 0 || static_cast<size_t>(path_at) >= line.size()) continue;
        out.push_back({start, end, offset, line.substr(path_at)});
    }
    return out;
}

std::vector<std::pair<uint64_t, uint64_t>> readProcessAuxv(pid_t pid) {
    std::string raw;
    std::vector<std::pair<uint64_t, uint64_t>> out;
    if (!readWholeFile(procPath(pid, "auxv"), &raw)) return out;
    for (size_t i = 0; i + 16 <= raw.size(); i += 16) {
        uint64_t kv[2];
        std::memcpy(kv, raw.data() + i, 16);
        if (kv[0] == 0) break;
        out.emplace_back(kv[0], kv[1]);
    }
    return out;
}

std::vector<int> listThreads(pid_t pid) {
    std::vector<int> tids;
    DIR* dir = opendir(procPath(pid, "task").c_str());
    if (dir == nullptr) throw ProcessError("no such process: " + std::to_string(pid));
    while (dirent* e = readdir(dir)) {
        int tid = std::atoi(e->d_name);
        if (tid > 0) tids.push_back(tid);
    }
    closedir(dir);
    return tids;
}

char threadState(pid_t pid, int tid) {
    std::string stat;
    std::string path = procPath(pid, ("task/" + std::to_string(tid) + "/stat").c_str());
    if (!readWholeFile(path, &stat)) return 'X';
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
}

std::optional<int> liveThread(pid_t pid) {
    std::vector<int> tids;
    try {
        tids = listThreads(pid);
    } catch (const ProcessError&) {
        return std::nullopt;
    }
    for (int tid : tids) {
        char state = threadState(pid, tid);
        if (state != 'Z' && state != 'X') return tid;
    }
    return std::nullopt;
}

std::optional<uint64_t> readBlockedStackPointer(pid_t pid, int tid) {
    // "nr arg1 ... arg6 sp pc" while in a system call; "running" or "-1 sp pc" otherwise.
    std::string text;
    if (!readWholeFile(procPath(pid, ("task/" + std::to_string(tid) + "/syscall").c_str()), &text))
        return std::nullopt;
    std::istringstream fields(text);
    std::vector<std::string> parts;
    for (std::string f; fields >> f;) parts.push_back(f);
    if (parts.size() < 3 || parts[0] == "running") return std::nullopt;
    std::string_view sp(parts[parts.size() - 2]);
    if (sp.rfind("0x", 0) == 0) sp.remove_prefix(2);
    return parseNumber<uint64_t>(sp, 16);
}

std::optional<uint64_t> ProcessStopper::stackPointer(int tid) const {
    user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return std::nullopt;
#if defined(__x86_64__)
    return regs.rsp;
#else
    return regs.sp;
#endif
}

ProcessStopper::ProcessStopper(pid_t pid) : pid_(pid) {
    attached_ = true;
    try {
        // Threads may be created while we stop the others: repeat until a pass finds none new.
        std::set<int> known;
        for (int round = 0; round < kMaxAttachRounds; ++round) {
            bool found_new = false;
            for (int tid : listThreads(pid)) {
                if (known.count(tid)) continue;
                known.insert(tid);
                if (seize(tid)) {
                    tids_.push_back(tid);
                    found_new = true;
                }
            }
            if (!found_new) break;
        }
        waitStopped();
    } catch (...) {
        // Only stopped tracees can be detached; the ones seized so far are stopped first.
        waitStopped();
        detach();
        throw;
    }
    if (tids_.empty()) throw ProcessError("process " + std::to_string(pid) + " exited");
}

ProcessStopper::~ProcessStopper() {
    detach();
}

bool ProcessStopper::seize(pid_t tid) {
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        if (errno == ESRCH) return false;  // the thread ended meanwhile
        // An exited thread (often the leader, after pthread_exit in main) cannot be traced,
        // and has nothing to read: the others are inspected without it.
        if (errno == EPERM && threadState(pid_, tid) == 'Z') return false;
        if (errno == EPERM)
            throw ProcessError("permission denied to inspect process " + std::to_string(pid_) +
                               ": " + permissionReason(pid_));
        throw ProcessError("cannot attach to thread " + std::to_string(tid) + ": " +
                           std::strerror(errno));
    }
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH)
        throw ProcessError("cannot stop thread " + std::to_string(tid) + ": " +
                           std::strerror(errno));
    return true;
}

// Each thread is polled, never waited for alone: when the process is killed meanwhile, the
// exit of a traced group leader is reported only once its traced siblings are reaped, so a
// blocking wait on the leader first would wait for ever.
void ProcessStopper::waitStopped() {
    std::set<int> pending(tids_.begin(), tids_.end());
    std::set<int> stopped;
    auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    while (!pending.empty()) {
        bool progress = false;
        for (auto it = pending.begin(); it != pending.end();) {
            int status = 0;
            pid_t r = waitpid(*it, &status, __WALL | WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) {
                ++it;
                continue;
            }
            progress = true;
            if (r > 0 && WIFSTOPPED(status)) {
                // A signal-delivery stop: the signal was taken out of the queue; hand it back
                // on detach so the process still receives it.
                if ((status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP)
                    pending_signal_[*it] = WSTOPSIG(status);
                stopped.insert(*it);
            }
            it = pending.erase(it);  // stopped, or gone (exited, killed, no longer ours)
        }
        if (progress) continue;
        // Neither stopped nor gone in time: left out (it cannot be read or detached).
        if (std::chrono::steady_clock::now() > deadline) break;
        usleep(500);
    }
    std::vector<int> alive;
    for (int tid : tids_)
        if (stopped.count(tid)) alive.push_back(tid);
    tids_ = std::move(alive);
}

void ProcessStopper::detach() {
    if (!attached_) return;
    attached_ = false;
    for (int tid : tids_) {
        auto sig = pending_signal_.find(tid);
        long data = sig == pending_signal_.end() ? 0 : sig->second;
        ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(data));
    }
}

}  // namespace triage
