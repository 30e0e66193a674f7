// libFuzzer target: the core reader and the whole analysis, in every mode, on one input.
// The input is written to a memfd and analyzed through /proc/self/fd, so the analyzer runs
// exactly as on a file: decompression, headers, notes, modules, Python walk, unwinding.
// Build and run: see docs/robustness.md ("Fuzzing").
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "analysis.h"
#include "errors.h"

namespace {

// One memfd for the whole run: rewritten for every input.
int inputFd() {
    static int fd = memfd_create("fuzz-core", MFD_CLOEXEC);
    return fd;
}

void analyze(const std::string& path, bool locals, bool native, bool native_all) {
    triage::AnalysisOptions options;
    options.locals = locals;
    options.native = native;
    options.native_all = native_all;
    options.max_frames = 2000;  // deep stacks are tested elsewhere; keep executions fast
    try {
        triage::analyzeCore(path, options);
    } catch (const triage::CoreFileError&) {
    } catch (const triage::AnalysisError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    int fd = inputFd();
    if (fd < 0 || ftruncate(fd, 0) != 0) return 0;
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
        if (n <= 0) return 0;
        done += static_cast<size_t>(n);
    }
    // One mode per input, chosen by its size: a mutation that grows or shrinks an input also
    // tries it in another mode, and an execution stays one analysis long.
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    switch (size % 3) {
        case 0:
            analyze(path, false, false, false);
            break;
        case 1:
            analyze(path, true, true, false);
            break;
        default:
            analyze(path, true, false, true);
    }
    return 0;
}
