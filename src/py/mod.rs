//! The `bpfbind._native` module: thin pyclasses over the Rust core. Users import `bpfbind`,
//! which re-exports what is public.

mod errors;
mod events;
mod gen;
mod jobs;
mod layout;
mod links;
mod load;
mod maps;
mod objects;
mod scan;
mod values;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::events::{PyPerfPoller, PyRingPoller, PyStatsHandle};
    #[pymodule_export]
    use super::gen::btf_c_header;
    #[pymodule_export]
    use super::jobs::{start_load, PyLoadJob};
    #[pymodule_export]
    use super::layout::object_layout;
    #[pymodule_export]
    use super::links::{scan_links, section_target_kind, show_links, PyIterReader, PyLink, Ready};
    #[pymodule_export]
    use super::load::{load_object, PyLoadOptions};
    #[pymodule_export]
    use super::maps::{
        format_map_dump, format_map_show, map_ids, map_ids_named, pretty_json, PyMapCursor,
    };
    #[pymodule_export]
    use super::objects::{
        bind_map, create_map, features, object_metadata, open_map, open_program, PyHandle, PyMap,
        PyObject_, PyProgram,
    };
    #[pymodule_export]
    use super::scan::{
        format_json, format_plain, json_object, json_string, map_census, printable_name,
        program_holders, read_program, PyExposition, PyPidTable, PyProgramInfo, PyScanner,
    };

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("PROG_TYPES", crate::scan::format::prog_type_names())?;
        use crate::sys::uapi;
        m.add("MAP_TYPE_NUMBERS", uapi::MAP_TYPES.to_vec())?;
        m.add("PROG_TYPE_NUMBERS", uapi::PROG_TYPES.to_vec())?;
        m.add("ATTACH_TYPE_NUMBERS", uapi::ATTACH_TYPES.to_vec())
    }
}
