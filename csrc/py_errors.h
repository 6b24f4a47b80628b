// py_errors.h — turns the exception in flight into the matching Python exception.
// Used by the Cython binding as `except +raise_py_error`; the Python classes are
// registered once at import (decoder/_engine.pyx).
#pragma once
#include <Python.h>

#include <new>
#include <stdexcept>

#include "errors.h"

namespace decoder {
inline PyObject* g_py_grammar_error = nullptr;
inline PyObject* g_py_limit_error = nullptr;
inline PyObject* g_py_matcher_error = nullptr;

inline void raise_py_error() {
  try {
    throw;
  } catch (const GrammarError& e) {
    PyErr_SetString(g_py_grammar_error ? g_py_grammar_error : PyExc_ValueError, e.what());
  } catch (const LimitError& e) {
    PyObject* cls = g_py_limit_error ? g_py_limit_error : PyExc_MemoryError;
    PyObject* exc = PyObject_CallFunction(cls, "s", e.what());
    if (exc == nullptr) return;  // the constructor's own error is in flight
    if (!e.limit.empty()) {
      PyObject* name = PyUnicode_FromString(e.limit.c_str());
      if (name == nullptr || PyObject_SetAttrString(exc, "limit", name) < 0) PyErr_Clear();
      Py_XDECREF(name);
    }
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
  } catch (const std::out_of_range& e) {
    PyErr_SetString(g_py_matcher_error ? g_py_matcher_error : PyExc_IndexError, e.what());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception in the decoder engine");
  }
}

inline void set_error_classes(PyObject* grammar, PyObject* limit, PyObject* matcher) {
  Py_XINCREF(grammar);
  Py_XINCREF(limit);
  Py_XINCREF(matcher);
  g_py_grammar_error = grammar;
  g_py_limit_error = limit;
  g_py_matcher_error = matcher;
}
}  // namespace decoder
