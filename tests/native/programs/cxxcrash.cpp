// A CPython extension in C++ for the native-stack tests (plain C API: builds for 2.7 and 3.x).
//
// cxxcrash.run(callback, mode) -> outer::inner::Widget<int>::crash -> a lambda -> callback();
// the callback calls cxxcrash.boom(mode), which crashes inside an always_inline chain:
// mode 0 writes through a NULL pointer (SIGSEGV), mode 1 calls abort() (SIGABRT).
// cxxcrash.start_sleeper() starts a pthread that never touches Python and returns its tid.
#include <Python.h>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

namespace outer {
namespace detail {

volatile int* volatile g_target = nullptr;  // volatile: the compiler cannot prove it NULL

__attribute__((always_inline)) inline void write_through(volatile int* where, int value) {
    *where = value;  // SIGSEGV when where is NULL
}

__attribute__((always_inline)) inline void strike(int mode, int value) {
    if (mode == 1) {
        std::abort();
    }
    write_through(g_target, value + 1);
}

}  // namespace detail

namespace inner {

template <typename T>
class Widget {
  public:
    explicit Widget(T seed) : seed_(seed) {}

    __attribute__((noinline)) PyObject* crash(PyObject* callback, int mode);

  private:
    T seed_;
};

template <typename T>
__attribute__((noinline)) PyObject* Widget<T>::crash(PyObject* callback, int mode) {
    volatile T seed = seed_;
    auto call_back = [callback, mode, &seed]() __attribute__((noinline)) -> PyObject* {
        PyObject* result = PyObject_CallFunction(callback, const_cast<char*>("i"), mode);
        seed = seed + 1;
        return result;
    };
    PyObject* result = call_back();
    asm volatile("" ::: "memory");  // keeps the call above from being a tail call
    return result;
}

template class Widget<int>;

}  // namespace inner

extern "C" __attribute__((noinline)) void* native_only_sleeper(void* arg) {
    volatile long* tid = static_cast<volatile long*>(arg);
    *tid = syscall(SYS_gettid);
    for (;;) {
        sleep(1000);
    }
    return nullptr;
}

}  // namespace outer

static PyObject* cxx_run(PyObject* /*self*/, PyObject* args) {
    PyObject* callback;
    int mode;
    if (!PyArg_ParseTuple(args, "Oi", &callback, &mode)) {
        return nullptr;
    }
    outer::inner::Widget<int> widget(41);
    PyObject* result = widget.crash(callback, mode);
    asm volatile("" ::: "memory");
    return result;
}

static PyObject* cxx_boom(PyObject* /*self*/, PyObject* args) {
    int mode;
    if (!PyArg_ParseTuple(args, "i", &mode)) {
        return nullptr;
    }
    outer::detail::strike(mode, 7);
    Py_RETURN_NONE;
}

static PyObject* cxx_start_sleeper(PyObject* /*self*/, PyObject* /*args*/) {
    static volatile long tid = 0;
    pthread_t thread;
    if (pthread_create(&thread, nullptr, outer::native_only_sleeper,
                       const_cast<long*>(&tid)) != 0) {
        PyErr_SetString(PyExc_OSError, "pthread_create failed");
        return nullptr;
    }
    while (tid == 0) {
        usleep(1000);
    }
    return PyLong_FromLong(tid);
}

static PyMethodDef cxx_methods[] = {
    {"run", cxx_run, METH_VARARGS, "run(callback, mode): call back into Python via C++."},
    {"boom", cxx_boom, METH_VARARGS, "boom(mode): crash (0: NULL write, 1: abort)."},
    {"start_sleeper", cxx_start_sleeper, METH_NOARGS, "start a pthread that sleeps forever."},
    {nullptr, nullptr, 0, nullptr},
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef cxx_module = {
    PyModuleDef_HEAD_INIT, "cxxcrash", nullptr, -1, cxx_methods,
    nullptr, nullptr, nullptr, nullptr,
};

PyMODINIT_FUNC PyInit_cxxcrash(void) { return PyModule_Create(&cxx_module); }
#else
PyMODINIT_FUNC initcxxcrash(void) { Py_InitModule("cxxcrash", cxx_methods); }
#endif
