/* A C extension whose spin() computes without the GIL until stop() is called: the thread is
 * deep in this library, with the GIL released, for as long as the test looks at it. */
#include <Python.h>

static volatile int stopping = 0;
static volatile unsigned long sink = 0;

static __attribute__((noinline)) unsigned long crunch(unsigned long seed) {
    unsigned long x = seed;
    for (int i = 0; i < 1000000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static PyObject* spin(PyObject* self, PyObject* args) {
    (void)self;
    (void)args;
    Py_BEGIN_ALLOW_THREADS
    while (!stopping) sink += crunch(sink);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject* stop(PyObject* self, PyObject* args) {
    (void)self;
    (void)args;
    stopping = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"spin", spin, METH_NOARGS, NULL},
                                {"stop", stop, METH_NOARGS, NULL},
                                {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "nogil_spin", NULL, -1, methods};
PyMODINIT_FUNC PyInit_nogil_spin(void) { return PyModule_Create(&module); }
#else
PyMODINIT_FUNC initnogil_spin(void) { Py_InitModule("nogil_spin", methods); }
#endif
