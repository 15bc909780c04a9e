//! `Object`, `Program` and `Map`: thin pyclasses over the loaded object and the bind/
//! handles. Every syscall runs detached from the interpreter.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::bind::{fd_kind, FdKind, MapHandle, ProgHandle};
use crate::elf::{MapSpec, ObjectSpec, SpecEdits};
use crate::error::{Error, Result};
use crate::load::{self, LoadOptions};
use crate::sys::{self, info, FdCell, IdKind};

use super::values::pairs_to_dict;

pub fn dup(fd: i32) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Error::Invalid(format!("{fd} is not a file descriptor")));
    }
    // SAFETY: the borrow lasts only for the duplication; a closed number fails with EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().map_err(|e| {
        Error::sys(
            "dup",
            e.raw_os_error().unwrap_or(libc::EBADF),
            format!("fd {fd}"),
        )
    })
}

fn pin_fd(cell: &FdCell, path: &str) -> Result<()> {
    cell.with(|fd| sys::obj_pin(fd, path))
}

#[pyclass(frozen, module = "bpfbind._native", name = "Program")]
pub struct PyProgram {
    pub handle: Arc<ProgHandle>,
    #[pyo3(get)]
    pub name: String,
    #[pyo3(get)]
    pub section: Option<String>,
    #[pyo3(get)]
    pub prog_type: u32,
    /// The attach type the program was loaded for (0 where unknown: opened by id or path).
    #[pyo3(get)]
    pub expected_attach_type: u32,
    pub tag: [u8; 8],
}

impl PyProgram {
    /// A handle for a program this process did not load; `open_any` checked the fd's kind.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let mut ids = Vec::new();
        let pi = info::prog_info(fd.as_fd(), &mut ids)?;
        let name = crate::scan::program_name(fd.as_fd(), &pi);
        Ok(PyProgram {
            handle: Arc::new(ProgHandle::from_parts(fd, pi.id, &ids)),
            name,
            section: None,
            prog_type: pi.prog_type,
            expected_attach_type: 0,
            tag: pi.tag,
        })
    }
}

#[pymethods]
impl PyProgram {
    #[getter]
    fn id(&self) -> u32 {
        self.handle.id
    }
    #[getter]
    fn tag(&self) -> String {
        crate::scan::format::tag_hex(&self.tag)
    }
    #[getter]
    fn r#type(&self) -> String {
        crate::scan::format::prog_type_label(self.prog_type)
    }
    #[getter]
    fn fd(&self) -> PyResult<i32> {
        Ok(self.handle.fd.raw()?)
    }
    #[getter]
    fn closed(&self) -> bool {
        self.handle.fd.is_closed()
    }
    /// Pins the program at `path` on a bpffs.
    fn pin(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let p = path_string(&path)?;
        Ok(py.detach(|| pin_fd(&self.handle.fd, &p))?)
    }
    /// The ids of the maps the program holds, as this process has recorded them.
    fn used_maps(&self) -> Vec<u32> {
        self.handle.used_maps()
    }
    /// Re-reads the kernel's map ids; returns (unrecorded, missing): ids the kernel had that
    /// the record lacked, and ids the record had that the kernel did not.
    fn refresh(&self, py: Python<'_>) -> PyResult<(Vec<u32>, Vec<u32>)> {
        let d = py.detach(|| self.handle.refresh())?;
        Ok((d.unrecorded, d.missing))
    }
    /// Runs the program once on `data` with BPF_PROG_TEST_RUN: (retval, duration_ns).
    #[pyo3(signature = (data=None, repeat=1))]
    fn test_run(&self, py: Python<'_>, data: Option<&[u8]>, repeat: u32) -> PyResult<(u32, u32)> {
        let data = data.map_or_else(|| vec![0u8; 64], <[u8]>::to_vec);
        let r = py.detach(|| {
            self.handle
                .fd
                .with(|fd| sys::prog_test_run(fd, &data, repeat))
        })?;
        Ok((r.retval, r.duration_ns))
    }
    /// Attaches the program and returns the Link that owns the attachment; what it
    /// attaches to comes from the program's type and section, and these arguments.
    #[pyo3(signature = (target=None, *, retprobe=None, offset=0, binary=None, pid=None, ifindex=None, flags=0, direction=None, cgroup=None, netns=None, sock=None, cpus=None, event=None, sample_period=None, sample_freq=None, attach_type=None))]
    #[allow(clippy::too_many_arguments)]
    fn attach(
        &self,
        py: Python<'_>,
        target: Option<String>,
        retprobe: Option<bool>,
        offset: u64,
        binary: Option<Bound<'_, PyAny>>,
        pid: Option<i32>,
        ifindex: Option<Bound<'_, PyAny>>,
        flags: u32,
        direction: Option<String>,
        cgroup: Option<Bound<'_, PyAny>>,
        netns: Option<Bound<'_, PyAny>>,
        sock: Option<Bound<'_, PyAny>>,
        cpus: Option<Vec<i32>>,
        event: Option<(u32, u64)>,
        sample_period: Option<u64>,
        sample_freq: Option<u64>,
        attach_type: Option<u32>,
    ) -> PyResult<super::links::PyLink> {
        let args = super::links::AttachArgs::extract(
            target,
            retprobe,
            offset,
            binary,
            pid,
            ifindex,
            flags,
            direction,
            cgroup,
            netns,
            sock,
            cpus,
            event,
            sample_period,
            sample_freq,
            attach_type,
        )?;
        super::links::attach_program(py, self, args)
    }
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.handle.fd.close());
    }
    fn __repr__(&self) -> String {
        format!(
            "<Program {} id={} type={}{}>",
            self.name,
            self.handle.id,
            self.r#type(),
            if self.closed() { " closed" } else { "" }
        )
    }
}

#[pyclass(frozen, module = "bpfbind._native", name = "Map")]
pub struct PyMap {
    pub handle: Arc<MapHandle>,
    #[pyo3(get)]
    pub name: String,
    #[pyo3(get)]
    pub kernel_name: String,
    #[pyo3(get)]
    pub map_type: u32,
    #[pyo3(get)]
    pub key_size: u32,
    #[pyo3(get)]
    pub value_size: u32,
    #[pyo3(get)]
    pub max_entries: u32,
    #[pyo3(get)]
    pub flags: u32,
    /// The section of an internal map (".rodata", ".metadata", ...), None for BTF maps.
    #[pyo3(get)]
    pub section: Option<String>,
    #[pyo3(get)]
    pub frozen: bool,
    #[pyo3(get)]
    pub is_metadata: bool,
    #[pyo3(get)]
    pub btf_value_type_id: u32,
}

impl PyMap {
    /// A handle for a map fd: one `open_any` checked, or one just created.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let mi = info::map_info(fd.as_fd())?;
        let frozen = info::fdinfo_field(fd.as_fd(), "frozen:") == Some(1);
        let name = info::name_str(&mi.name).to_string();
        Ok(PyMap {
            handle: Arc::new(MapHandle::from_parts(fd, mi.id)),
            kernel_name: name.clone(),
            name,
            map_type: mi.map_type,
            key_size: mi.key_size,
            value_size: mi.value_size,
            max_entries: mi.max_entries,
            flags: mi.map_flags,
            section: None,
            frozen,
            is_metadata: false,
            btf_value_type_id: mi.btf_value_type_id,
        })
    }
}

fn path_string(p: &std::path::Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Invalid(format!("path {} is not valid UTF-8", p.display())))
}

#[pymethods]
impl PyMap {
    #[getter]
    fn id(&self) -> u32 {
        self.handle.id
    }
    #[getter]
    fn fd(&self) -> PyResult<i32> {
        Ok(self.handle.fd.raw()?)
    }
    #[getter]
    fn closed(&self) -> bool {
        self.handle.fd.is_closed()
    }
    fn pin(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let p = path_string(&path)?;
        Ok(py.detach(|| pin_fd(&self.handle.fd, &p))?)
    }
    /// The value stored under `key` (bytes of key_size), or None.
    fn lookup<'py>(&self, py: Python<'py>, key: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if key.len() != self.key_size as usize {
            return Err(Error::Invalid(format!(
                "key must be {} bytes, got {}",
                self.key_size,
                key.len()
            ))
            .into());
        }
        let mut value = vec![0u8; self.value_size as usize];
        match py.detach(|| {
            self.handle
                .fd
                .with(|fd| sys::map_lookup(fd, key, &mut value))
        }) {
            Ok(()) => Ok(Some(PyBytes::new(py, &value))),
            Err(Error::Sys {
                errno: libc::ENOENT,
                ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    fn update(&self, py: Python<'_>, key: &[u8], value: &[u8]) -> PyResult<()> {
        if key.len() != self.key_size as usize || value.len() != self.value_size as usize {
            return Err(Error::Invalid(format!(
                "key and value must be {} and {} bytes",
                self.key_size, self.value_size
            ))
            .into());
        }
        Ok(py.detach(|| self.handle.fd.with(|fd| sys::map_update(fd, key, value, 0)))?)
    }
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.handle.fd.close());
    }
    fn __repr__(&self) -> String {
        format!(
            "<Map {} id={}{}>",
            self.name,
            self.handle.id,
            if self.closed() { " closed" } else { "" }
        )
    }
}

#[pyclass(frozen, module = "bpfbind._native", name = "Object")]
pub struct PyObject_ {
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    license: String,
    programs: Vec<Py<PyProgram>>,
    maps: Vec<Py<PyMap>>,
    btf: Mutex<Option<OwnedFd>>,
    /// How metadata got bound: "fd_array", "bind_map", "unbound" or "none".
    #[pyo3(get)]
    binding: &'static str,
    #[pyo3(get)]
    warnings: Vec<String>,
    metadata: Py<PyDict>,
}

#[pymethods]
impl PyObject_ {
    #[getter]
    fn programs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.programs.iter().map(|p| p.clone_ref(py)))
    }
    #[getter]
    fn maps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.maps.iter().map(|m| m.clone_ref(py)))
    }
    /// Metadata of both conventions, prefix stripped (a fresh dict each time).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.metadata.bind(py).copy()
    }
    #[getter]
    fn btf_fd(&self) -> Option<i32> {
        self.btf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| f.as_raw_fd())
    }
    /// Closes every fd of the object. What is pinned stays in the kernel.
    fn close(&self, py: Python<'_>) {
        let progs: Vec<Arc<ProgHandle>> = self
            .programs
            .iter()
            .map(|p| p.get().handle.clone())
            .collect();
        let maps: Vec<Arc<MapHandle>> = self.maps.iter().map(|m| m.get().handle.clone()).collect();
        py.detach(|| {
            for p in &progs {
                p.fd.close();
            }
            for m in &maps {
                m.fd.close();
            }
            self.btf.lock().unwrap_or_else(|e| e.into_inner()).take();
        });
    }
    /// Closes every fd no call is using right now; true when all are closed. An event
    /// loop calls this inline and hands `close()` to a thread only when it returns false.
    fn try_close(&self) -> bool {
        let mut all = true;
        for p in &self.programs {
            all &= p.get().handle.fd.try_close();
        }
        for m in &self.maps {
            all &= m.get().handle.fd.try_close();
        }
        if all {
            self.btf.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        all
    }
    #[getter]
    fn closed(&self) -> bool {
        self.programs.iter().all(|p| p.get().handle.fd.is_closed())
            && self.maps.iter().all(|m| m.get().handle.fd.is_closed())
    }
}

pub fn wrap(py: Python<'_>, obj: load::LoadedObject) -> PyResult<PyObject_> {
    let metadata = pairs_to_dict(py, obj.metadata.iter().map(|(k, v)| (k.as_str(), v)))?;
    let mut programs = Vec::with_capacity(obj.programs.len());
    for p in obj.programs {
        let handle = Arc::new(ProgHandle::from_parts(p.fd, p.id, &p.map_ids));
        programs.push(Py::new(
            py,
            PyProgram {
                handle,
                name: p.name,
                section: Some(p.section),
                prog_type: p.prog_type,
                expected_attach_type: p.expected_attach_type,
                tag: p.tag,
            },
        )?);
    }
    let mut maps = Vec::with_capacity(obj.maps.len());
    for m in obj.maps {
        let s = m.spec;
        let section = s.section().map(str::to_string);
        maps.push(Py::new(
            py,
            PyMap {
                handle: Arc::new(MapHandle::from_parts(m.fd, m.id)),
                is_metadata: s.is_metadata(),
                name: s.name,
                kernel_name: s.kernel_name,
                map_type: s.map_type,
                key_size: s.key_size,
                value_size: s.value_size,
                max_entries: s.max_entries,
                flags: s.flags,
                section,
                frozen: s.freeze,
                btf_value_type_id: s.btf_value_type_id,
            },
        )?);
    }
    Ok(PyObject_ {
        name: obj.name,
        license: obj.license,
        programs,
        maps,
        btf: Mutex::new(obj.btf_fd),
        binding: obj.binding.as_str(),
        warnings: obj.warnings,
        metadata,
    })
}

/// Parses and loads an object; every syscall runs without the GIL.
#[pyfunction]
#[pyo3(signature = (data, name, pin_dir=None, pin_maps=None, no_fd_array=false, no_bind_map=false, initial=None, btf_path=None, map_edits=None, autoload=None, attach_target=None))]
#[allow(clippy::too_many_arguments)]
pub fn load_object(
    py: Python<'_>,
    data: &[u8],
    name: String,
    pin_dir: Option<PathBuf>,
    pin_maps: Option<PathBuf>,
    no_fd_array: bool,
    no_bind_map: bool,
    initial: Option<HashMap<String, Vec<u8>>>,
    btf_path: Option<PathBuf>,
    map_edits: Option<HashMap<String, HashMap<String, u64>>>,
    autoload: Option<HashMap<String, bool>>,
    attach_target: Option<HashMap<String, String>>,
) -> PyResult<PyObject_> {
    let edits = spec_edits((initial, map_edits, autoload, attach_target));
    let opts = LoadOptions {
        pin_maps,
        pin_programs: pin_dir,
        no_fd_array,
        no_bind_map,
        btf_path,
    };
    let loaded = py.detach(|| parse_and_load(data, &name, &edits, &opts))?;
    wrap(py, loaded)
}

/// What a load may change in the object before it reaches the kernel, as Python gives it.
pub type Edits = (
    Option<HashMap<String, Vec<u8>>>,
    Option<HashMap<String, HashMap<String, u64>>>,
    Option<HashMap<String, bool>>,
    Option<HashMap<String, String>>,
);

pub fn spec_edits((initial, maps, autoload, attach_target): Edits) -> SpecEdits {
    SpecEdits {
        initial: initial.unwrap_or_default(),
        maps: maps.unwrap_or_default(),
        autoload: autoload.unwrap_or_default(),
        attach_target: attach_target.unwrap_or_default(),
    }
}

/// The whole of a load, GIL-free: parse, apply the caller's edits, load.
pub fn parse_and_load(
    data: &[u8],
    name: &str,
    edits: &SpecEdits,
    opts: &LoadOptions,
) -> Result<load::LoadedObject> {
    let mut spec = ObjectSpec::parse(data, name)?;
    spec.apply(edits)?;
    load::load(&spec, opts)
}

/// The metadata of an object file, read offline:
/// [(name, value, bpftool -j text, bpftool plain text, convention)].
#[pyfunction]
pub fn object_metadata(
    py: Python<'_>,
    data: &[u8],
    name: String,
) -> PyResult<(Py<PyList>, Option<String>)> {
    type Item = (String, crate::btf::Value, String, String, &'static str);
    let mut warning = None;
    let items = py.detach(|| -> Result<Vec<Item>> {
        let spec = ObjectSpec::parse(data, &name)?;
        warning = spec.metadata_warning();
        let mut out = Vec::new();
        let Some(btf) = &spec.btf else { return Ok(out) };
        for (prefix, init, datasec) in spec.maps.iter().filter_map(MapSpec::metadata_value) {
            let conv = if prefix.is_some() {
                "rodata"
            } else {
                "section"
            };
            let dump = |plain| {
                let opts = crate::btf::DumpOptions {
                    plain,
                    bpftool: crate::btf::BpftoolVersion::LATEST,
                };
                btf.dump_datasec(datasec, init, prefix, opts)
            };
            let vals = btf.decode_datasec(datasec, init, prefix)?;
            for (((n, v), (_, j)), (_, p)) in vals.into_iter().zip(dump(false)?).zip(dump(true)?) {
                out.push((n, v, j, p, conv));
            }
        }
        Ok(out)
    })?;
    let list = PyList::empty(py);
    for (n, v, j, p, c) in items {
        list.append((n, super::values::to_py(py, &v)?, j, p, c))?;
    }
    Ok((list.unbind(), warning))
}

/// A Program for an id, a pinned path, or an fd (duplicated: the caller keeps its own).
#[pyfunction]
#[pyo3(signature = (id=None, path=None, fd=None))]
pub fn open_program(
    py: Python<'_>,
    id: Option<u32>,
    path: Option<String>,
    fd: Option<i32>,
) -> PyResult<PyProgram> {
    Ok(py.detach(|| PyProgram::from_fd(open_any(IdKind::Prog, id, path, fd)?))?)
}

#[pyfunction]
#[pyo3(signature = (id=None, path=None, fd=None))]
pub fn open_map(
    py: Python<'_>,
    id: Option<u32>,
    path: Option<String>,
    fd: Option<i32>,
) -> PyResult<PyMap> {
    Ok(py.detach(|| PyMap::from_fd(open_any(IdKind::Map, id, path, fd)?))?)
}

fn open_any(
    kind: IdKind,
    id: Option<u32>,
    path: Option<String>,
    fd: Option<i32>,
) -> Result<OwnedFd> {
    let what = if kind == IdKind::Prog {
        "program"
    } else {
        "map"
    };
    let fd = match (id, path, fd) {
        (Some(id), None, None) => sys::fd_by_id(kind, id)?
            .ok_or_else(|| Error::NotFound(format!("no {what} with id {id}")))?,
        (None, Some(p), None) => sys::obj_get(&p).map_err(|e| match e {
            Error::Sys {
                errno: libc::ENOENT,
                ..
            } => Error::NotFound(format!("nothing is pinned at {p}")),
            e => e,
        })?,
        (None, None, Some(fd)) => dup(fd)?,
        _ => return Err(Error::Invalid("give exactly one of id, path or fd".into())),
    };
    let want = if kind == IdKind::Prog {
        FdKind::Prog
    } else {
        FdKind::Map
    };
    if fd_kind(fd.as_fd()) != want {
        return Err(Error::Invalid(format!("that is not a BPF {what}")));
    }
    Ok(fd)
}

/// A new map (BPF_MAP_CREATE), e.g. to bind to programs or to share between them.
#[pyfunction]
#[pyo3(signature = (map_type, key_size, value_size, max_entries, name="", flags=0))]
pub fn create_map(
    py: Python<'_>,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
    flags: u32,
) -> PyResult<PyMap> {
    let fd = py.detach(|| {
        sys::map_create(&sys::MapCreate {
            name,
            map_type,
            key_size,
            value_size,
            max_entries,
            flags,
            btf: None,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            ..Default::default()
        })
    })?;
    Ok(py.detach(|| PyMap::from_fd(fd))?)
}

/// BPF_PROG_BIND_MAP, recorded in the program's used maps.
#[pyfunction]
#[pyo3(signature = (prog, map, flags=0))]
pub fn bind_map(
    py: Python<'_>,
    prog: &Bound<'_, PyProgram>,
    map: &Bound<'_, PyMap>,
    flags: u32,
) -> PyResult<()> {
    // One ~1 us syscall that never waits on Python: releasing and retaking the GIL
    // would cost a good part of it, and nothing inside needs the GIL, so no deadlock.
    let _ = py;
    Ok(prog.get().handle.bind(&map.get().handle, flags)?)
}

/// What the running kernel supports that bpfbind uses.
#[pyfunction]
pub fn features(py: Python<'_>) -> PyResult<Py<PyDict>> {
    let f = py.detach(crate::sys::features::features)?;
    let d = PyDict::new(py);
    d.set_item("prog_bind_map", f.prog_bind_map)?;
    d.set_item("fd_array_cnt", f.fd_array_cnt)?;
    d.set_item("global_data", f.global_data)?;
    d.set_item("mmapable_arrays", f.mmapable)?;
    d.set_item("btf", f.btf)?;
    Ok(d.unbind())
}
