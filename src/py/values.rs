//! Decoded BTF values -> Python objects.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3::IntoPyObjectExt;

use crate::btf::Value;

pub fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Value::Int(i) => i.into_py_any(py)?,
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Float(f) => f.into_py_any(py)?,
        Value::Str(s) => s.into_py_any(py)?,
        Value::Enum { name: Some(n), .. } => n.into_py_any(py)?,
        Value::Enum { name: None, value } => value.into_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for it in items {
                list.append(to_py(py, it)?)?;
            }
            list.into_any().unbind()
        }
        Value::Struct(fields) => {
            let d = PyDict::new(py);
            for (k, v) in fields {
                d.set_item(k, to_py(py, v)?)?;
            }
            d.into_any().unbind()
        }
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
    })
}

/// A dict of (name, value) pairs in order.
pub fn pairs_to_dict<'a>(
    py: Python<'_>,
    pairs: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(k, to_py(py, v)?)?;
    }
    Ok(d.unbind())
}
