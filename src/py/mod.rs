//! The `bpfbind._native` module: thin pyclasses over the Rust core. Users import `bpfbind`,
//! which re-exports what is public.

mod errors;
mod jobs;
mod layout;
mod links;
mod objects;
mod scan;
mod values;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::jobs::{start_load, PyLoadJob};
    #[pymodule_export]
    use super::layout::object_layout;
    #[pymodule_export]
    use super::links::{scan_links, section_target_kind, show_links, PyIterReader, PyLink, Ready};
    #[pymodule_export]
    use super::objects::{
        bind_map, create_map, features, load_object, object_metadata, open_map, open_program,
        PyMap, PyObject_, PyProgram,
    };
    #[pymodule_export]
    use super::scan::{
        format_json, format_plain, map_census, read_program, PyProgramInfo, PyScanner,
    };

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("PROG_TYPES", crate::scan::format::PROG_TYPES.to_vec())
    }
}
