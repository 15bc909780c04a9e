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

/// A Python value -> `Value`, for packing by a BTF type: bool, int, float, str, bytes
/// (bytearray, memoryview), list/tuple, and dicts with str keys (struct fields).
pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    from_py_at(obj, 0)
}

fn from_py_at(obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<Value> {
    use pyo3::exceptions::{PyTypeError, PyValueError};
    use pyo3::types::{PyBool, PyByteArray, PyFloat, PyInt, PyString, PyTuple};
    if depth > 64 {
        return Err(PyValueError::new_err("values nest too deeply"));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        let v: i128 = obj
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{obj} does not fit in 128 bits")))?;
        return Ok(Value::Int(v));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Float(obj.extract()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut fields = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err("struct fields are named by str keys"))?;
            fields.push((k, from_py_at(&v, depth + 1)?));
        }
        return Ok(Value::Struct(fields));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for it in obj.try_iter()? {
            items.push(from_py_at(&it?, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(buf) = obj.extract::<Vec<u8>>() {
        return Ok(Value::Bytes(buf));
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a {} in a map",
        obj.get_type().name()?
    )))
}
