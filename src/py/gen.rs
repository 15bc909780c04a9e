//! Code generation from BTF for `bpfbind gen`: the C header of every type (`vmlinux.h`).

use pyo3::prelude::*;

use crate::btf::{c_header, Btf};

/// The C header declaring every type of the raw BTF blob `data`.
#[pyfunction]
#[pyo3(signature = (data, guard="__VMLINUX_H__"))]
pub fn btf_c_header(py: Python<'_>, data: &[u8], guard: &str) -> PyResult<String> {
    Ok(py.detach(|| Btf::parse(data).and_then(|btf| c_header(&btf, guard)))?)
}
