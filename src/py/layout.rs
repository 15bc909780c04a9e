//! An object file's layout for skeleton generation: programs, maps, and each data
//! section's variables with their offsets and BTF types as plain Python dicts.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::btf::layout::{var_desc, Desc};
use crate::elf::ObjectSpec;

fn desc_to_py<'py>(py: Python<'py>, d: &Desc) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    match d {
        Desc::Int { size, signed } => {
            out.set_item("kind", "int")?;
            out.set_item("size", size)?;
            out.set_item("signed", signed)?;
        }
        Desc::Bool { size } => {
            out.set_item("kind", "bool")?;
            out.set_item("size", size)?;
        }
        Desc::Char { size } => {
            out.set_item("kind", "char")?;
            out.set_item("size", size)?;
        }
        Desc::Float { size } => {
            out.set_item("kind", "float")?;
            out.set_item("size", size)?;
        }
        Desc::Enum {
            name,
            size,
            signed,
            values,
        } => {
            out.set_item("kind", "enum")?;
            out.set_item("name", name)?;
            out.set_item("size", size)?;
            out.set_item("signed", signed)?;
            out.set_item("values", values.clone())?;
        }
        Desc::Array { elem, len, is_char } => {
            out.set_item("kind", if *is_char { "chars" } else { "array" })?;
            out.set_item("len", len)?;
            out.set_item("elem", desc_to_py(py, elem)?)?;
        }
        Desc::Struct {
            name,
            size,
            union,
            fields,
        } => {
            out.set_item("kind", if *union { "union" } else { "struct" })?;
            out.set_item("name", name)?;
            out.set_item("size", size)?;
            let list = PyList::empty(py);
            for (n, bit_off, bits, fd) in fields {
                list.append((n, bit_off, bits, desc_to_py(py, fd)?))?;
            }
            out.set_item("fields", list)?;
        }
        Desc::Bytes { size } => {
            out.set_item("kind", "bytes")?;
            out.set_item("size", size)?;
        }
    }
    Ok(out)
}

/// {"name", "programs": [{name, section, type}], "maps": [{name, kernel_name, section,
/// map_type, key_size, value_size, max_entries, flags, frozen, initial}],
/// "sections": {section: [(var, offset, size, type desc)]}}
#[pyfunction]
pub fn object_layout<'py>(
    py: Python<'py>,
    data: &[u8],
    name: String,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = py.detach(|| ObjectSpec::parse(data, &name))?;
    let out = PyDict::new(py);
    out.set_item("name", &spec.name)?;
    let progs = PyList::empty(py);
    for p in &spec.programs {
        let d = PyDict::new(py);
        d.set_item("name", &p.name)?;
        d.set_item("section", &p.section)?;
        d.set_item(
            "type",
            crate::scan::format::prog_type_name(p.prog_type).unwrap_or("unknown"),
        )?;
        d.set_item("autoload", p.autoload)?;
        d.set_item("attach_target", p.attach_target.as_deref())?;
        progs.append(d)?;
    }
    out.set_item("programs", progs)?;
    let maps = PyList::empty(py);
    let sections = PyDict::new(py);
    for m in &spec.maps {
        let d = PyDict::new(py);
        let section = m.section();
        d.set_item("name", &m.name)?;
        d.set_item("kernel_name", &m.kernel_name)?;
        d.set_item("section", section)?;
        d.set_item("map_type", m.map_type)?;
        d.set_item("key_size", m.key_size)?;
        d.set_item("value_size", m.value_size)?;
        d.set_item("max_entries", m.max_entries)?;
        d.set_item("flags", m.flags)?;
        d.set_item("numa_node", m.numa_node)?;
        d.set_item("map_extra", m.map_extra)?;
        d.set_item("frozen", m.freeze)?;
        d.set_item(
            "initial",
            m.initial
                .as_deref()
                .map(|b| pyo3::types::PyBytes::new(py, b)),
        )?;
        maps.append(d)?;
        if let (Some(sec), Some(btf)) = (section, &spec.btf) {
            if m.btf_value_type_id == 0 {
                continue;
            }
            let vars = PyList::empty(py);
            for (vname, tid, off, size) in btf.datasec_vars(m.btf_value_type_id)? {
                let dsc = var_desc(btf, &vname, tid, size)?;
                vars.append((vname, off, size, desc_to_py(py, &dsc)?))?;
            }
            sections.set_item(sec, vars)?;
        }
    }
    out.set_item("maps", maps)?;
    out.set_item("sections", sections)?;
    Ok(out)
}
