//! `Object`, `Program` and `Map`: thin pyclasses over the loaded object and the bind/
//! handles. Every syscall runs detached from the interpreter.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::bind::{self, MapHandle, ObjectRef, ProgHandle};
use crate::elf::ObjectSpec;
use crate::error::{Error, Result};
use crate::load;
use crate::sys::{self, info, FdCell, IdKind};

use super::values::pairs_to_dict;
use super::{links, maps};

/// What a Program or Map handle wraps: the shared record of its fd and id.
enum Owner {
    Prog(Arc<ProgHandle>),
    Map(Arc<MapHandle>),
}

/// The base of `Program` and `Map`: a kernel object this process holds an fd of, with
/// its id, its pins and closing.
#[pyclass(subclass, frozen, module = "bpfbind._native", name = "Handle")]
pub struct PyHandle {
    owner: Owner,
}

impl PyHandle {
    fn cell(&self) -> &FdCell {
        match &self.owner {
            Owner::Prog(h) => &h.fd,
            Owner::Map(h) => &h.fd,
        }
    }
    fn kind_and_id(&self) -> (IdKind, u32) {
        match &self.owner {
            Owner::Prog(h) => (IdKind::Prog, h.id),
            Owner::Map(h) => (IdKind::Map, h.id),
        }
    }
}

#[pymethods]
impl PyHandle {
    /// The kernel id of the object.
    #[getter]
    fn id(&self) -> u32 {
        self.kind_and_id().1
    }
    /// This handle's fd (an error once closed).
    #[getter]
    fn fd(&self) -> PyResult<i32> {
        Ok(self.cell().raw()?)
    }
    /// Whether `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.cell().is_closed()
    }
    /// Pins the object at `path` on a bpffs; `replace` pins over what is there (a
    /// temporary pin renamed over it: the path never names nothing).
    #[pyo3(signature = (path, replace=false))]
    fn pin(&self, py: Python<'_>, path: PathBuf, replace: bool) -> PyResult<()> {
        let p = path_string(&path)?;
        Ok(py.detach(|| bind::pin(self.cell(), &p, replace))?)
    }
    /// Removes the pin at `path`, which must pin this object.
    fn unpin(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let p = path_string(&path)?;
        let (kind, id) = self.kind_and_id();
        Ok(py.detach(|| bind::unpin_own(kind, id, &p))?)
    }
    /// Closes the fd, once no call is using it; what is pinned stays in the kernel.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.cell().close());
    }
}

/// A loaded (or opened) BPF program: its name, type and tag, the maps it holds, pins
/// and attaching. Closing it closes this process's fd; links and pins keep it alive.
#[pyclass(frozen, extends = PyHandle, module = "bpfbind._native", name = "Program")]
pub struct PyProgram {
    pub handle: Arc<ProgHandle>,
    /// The program's name in the object (the kernel keeps 15 bytes of it).
    #[pyo3(get)]
    pub name: String,
    /// The ELF section it came from ("xdp", "tp/syscalls/..."); None when opened.
    #[pyo3(get)]
    pub section: Option<String>,
    /// The kernel's program type number (`bpfbind.ProgType`).
    #[pyo3(get)]
    pub prog_type: u32,
    /// The attach type the program was loaded for (0 where unknown: opened by id or path).
    #[pyo3(get)]
    pub expected_attach_type: u32,
    pub tag: [u8; 8],
}

impl PyProgram {
    /// A handle for a program this process did not load; `bind::open` checked the fd's kind.
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

    /// The Python object's initializer: the handle as its base, then the program.
    pub fn init(self) -> PyClassInitializer<Self> {
        let base = PyHandle {
            owner: Owner::Prog(self.handle.clone()),
        };
        PyClassInitializer::from(base).add_subclass(self)
    }
}

#[pymethods]
impl PyProgram {
    /// The kernel's tag: 16 hex digits of the hash of the instructions, as bpftool prints.
    #[getter]
    fn tag(&self) -> String {
        crate::scan::format::tag_hex(&self.tag)
    }
    /// The program type as bpftool names it ("xdp", "tracepoint", ...).
    #[getter]
    fn r#type(&self) -> String {
        crate::scan::format::prog_type_label(self.prog_type)
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
        #[pyo3(from_py_with = links::binary_arg)] binary: Option<String>,
        pid: Option<i32>,
        #[pyo3(from_py_with = links::ifindex_arg)] ifindex: Option<links::Iface>,
        flags: u32,
        direction: Option<String>,
        #[pyo3(from_py_with = links::cgroup_arg)] cgroup: Option<links::PathOrFd>,
        #[pyo3(from_py_with = links::netns_arg)] netns: Option<links::PathOrFd>,
        #[pyo3(from_py_with = links::sock_arg)] sock: Option<i32>,
        cpus: Option<Vec<i32>>,
        event: Option<(u32, u64)>,
        sample_period: Option<u64>,
        sample_freq: Option<u64>,
        attach_type: Option<u32>,
    ) -> PyResult<links::PyLink> {
        let args = links::AttachArgs {
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
        };
        links::attach_program(py, self, args)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Program {} id={} tag={} type={}{}>",
            self.name,
            self.handle.id,
            self.tag(),
            self.r#type(),
            if self.handle.fd.is_closed() {
                " closed"
            } else {
                ""
            }
        )
    }
}

/// A BPF map this process holds: its shape, lookups and updates typed by BTF where it
/// has any, walks and batches, pins. Closing it closes this process's fd.
#[pyclass(frozen, extends = PyHandle, module = "bpfbind._native", name = "Map")]
pub struct PyMap {
    pub handle: Arc<MapHandle>,
    /// The map's name in the object.
    #[pyo3(get)]
    pub name: String,
    /// The name the kernel holds (at most 15 bytes).
    #[pyo3(get)]
    pub kernel_name: String,
    /// The kernel's map type number (`bpfbind.MapType`).
    #[pyo3(get)]
    pub map_type: u32,
    /// Bytes of a key.
    #[pyo3(get)]
    pub key_size: u32,
    /// Bytes of a value (of one CPU's, for per-CPU maps).
    #[pyo3(get)]
    pub value_size: u32,
    /// The most entries the map holds.
    #[pyo3(get)]
    pub max_entries: u32,
    /// The `map_flags` it was created with (BPF_F_*).
    #[pyo3(get)]
    pub flags: u32,
    /// The section of an internal map (".rodata", ".metadata", ...), None for BTF maps.
    #[pyo3(get)]
    pub section: Option<String>,
    /// Whether the map is frozen: user space can no longer write it.
    #[pyo3(get)]
    pub frozen: bool,
    /// Whether it is a metadata map (`.metadata`, or `.rodata` with `bpf_metadata_*`).
    #[pyo3(get)]
    pub is_metadata: bool,
    /// The BTF type id of its values (0 without BTF).
    #[pyo3(get)]
    pub btf_value_type_id: u32,
    /// The map's shape and BTF types, read from the kernel at the first typed access.
    pub view: std::sync::OnceLock<crate::maps::MapView>,
    /// A loaded struct_ops map's registering value (see `attach_struct_ops`).
    pub struct_ops_value: Option<Vec<u8>>,
}

impl PyMap {
    /// A handle for a map fd: one `bind::open` checked, or one just created.
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
            view: Default::default(),
            struct_ops_value: None,
        })
    }

    /// The Python object's initializer: the handle as its base, then the map.
    pub fn init(self) -> PyClassInitializer<Self> {
        let base = PyHandle {
            owner: Owner::Map(self.handle.clone()),
        };
        PyClassInitializer::from(base).add_subclass(self)
    }
}

impl PyMap {
    fn view(&self, py: Python<'_>) -> Result<&crate::maps::MapView> {
        if let Some(v) = self.view.get() {
            return Ok(v);
        }
        let v = py.detach(|| self.handle.fd.with(crate::maps::MapView::read))?;
        Ok(self.view.get_or_init(|| v))
    }

    fn head(&self, py: Python<'_>, remove: bool, raw: bool) -> PyResult<Option<Py<PyAny>>> {
        let view = self.view(py)?;
        let got = py.detach(|| self.handle.fd.with(|fd| view.pop(fd, remove)))?;
        got.map(|v| maps::value_py(py, view, &v, raw)).transpose()
    }
}

fn drain_cursor<'py>(py: Python<'py>, c: &maps::PyMapCursor) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    while c.fill(py, 4096, &out)? > 0 {}
    Ok(out)
}

fn path_string(p: &std::path::Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Invalid(format!("path {} is not valid UTF-8", p.display())))
}

#[pymethods]
impl PyMap {
    /// The value stored under `key`, or None. Keys and values are packed and decoded by
    /// the map's BTF types (bytes of the exact size are taken as they are); `raw` returns
    /// bytes. A per-CPU map's value is a list with one value per possible CPU.
    #[pyo3(signature = (key, *, raw=false))]
    fn lookup(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        raw: bool,
    ) -> PyResult<Option<Py<PyAny>>> {
        let view = self.view(py)?;
        let k = maps::key_bytes(view, key)?;
        let got = py.detach(|| self.handle.fd.with(|fd| view.lookup(fd, &k)))?;
        got.map(|v| maps::value_py(py, view, &v, raw)).transpose()
    }
    /// Stores `value` under `key`; `flags` is "any", "noexist" (fails with EEXIST when
    /// the key exists), "exist" (ENOENT when it does not) or a number (BPF_F_LOCK).
    #[pyo3(signature = (key, value, flags=None))]
    fn update(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let view = self.view(py)?;
        let flags = flags.map(maps::update_flags).transpose()?.unwrap_or(0);
        let k = maps::key_bytes(view, key)?;
        let v = maps::value_bytes(view, value)?;
        Ok(py.detach(|| self.handle.fd.with(|fd| view.update(fd, &k, &v, flags)))?)
    }
    /// Deletes `key`; False when there was no such element.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let view = self.view(py)?;
        let k = maps::key_bytes(view, key)?;
        Ok(py.detach(|| self.handle.fd.with(|fd| view.delete(fd, &k)))?)
    }
    /// Every key. A walk that meets a key deleted under it restarts from the first key
    /// and skips the keys it already returned.
    #[pyo3(signature = (*, raw=false))]
    fn keys<'py>(&self, py: Python<'py>, raw: bool) -> PyResult<Bound<'py, PyList>> {
        let c = self.cursor(py, false, false, raw)?;
        drain_cursor(py, &c)
    }
    /// Every (key, value) pair: by BPF_MAP_LOOKUP_BATCH where `batch` and the map type
    /// has it, else one GET_NEXT_KEY and one lookup per element (as `keys()`).
    #[pyo3(signature = (*, raw=false, batch=true))]
    fn items<'py>(&self, py: Python<'py>, raw: bool, batch: bool) -> PyResult<Bound<'py, PyList>> {
        let c = self.cursor(py, batch, true, raw)?;
        drain_cursor(py, &c)
    }
    /// A walk over the elements (pairs, or keys without `values`), read a chunk at a
    /// time with `next_batch(n)`: what `bpfbind.map_items` iterates in worker threads.
    #[pyo3(signature = (*, batch=true, values=true, raw=false))]
    fn cursor(
        &self,
        py: Python<'_>,
        batch: bool,
        values: bool,
        raw: bool,
    ) -> PyResult<maps::PyMapCursor> {
        let view = self.view(py)?.clone();
        let c = crate::maps::Cursor::new(view, batch, values)?;
        Ok(maps::PyMapCursor {
            handle: self.handle.clone(),
            batched: c.batched().into(),
            cursor: std::sync::Mutex::new(Some(c)),
            raw,
            values,
        })
    }
    /// Stores every (key, value) pair of `items` with BPF_MAP_UPDATE_BATCH, or one by one
    /// where the map type has no batch commands; returns how many.
    #[pyo3(signature = (items, flags=None, *, batch=true))]
    fn update_batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
        batch: bool,
    ) -> PyResult<usize> {
        let view = self.view(py)?;
        let flags = flags.map(maps::update_flags).transpose()?.unwrap_or(0);
        let mut pairs = Vec::new();
        for it in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = it?.extract()?;
            pairs.push((maps::key_bytes(view, &k)?, maps::value_bytes(view, &v)?));
        }
        Ok(py.detach(|| {
            self.handle
                .fd
                .with(|fd| view.update_many(fd, &pairs, flags, batch))
        })?)
    }
    /// Deletes every key of `keys` with BPF_MAP_DELETE_BATCH (which fails with ENOENT on
    /// a missing key), or one by one; returns how many were deleted.
    #[pyo3(signature = (keys, *, batch=true))]
    fn delete_batch(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        batch: bool,
    ) -> PyResult<usize> {
        let view = self.view(py)?;
        let mut ks = Vec::new();
        for k in keys.try_iter()? {
            ks.push(maps::key_bytes(view, &k?)?);
        }
        Ok(py.detach(|| self.handle.fd.with(|fd| view.delete_many(fd, &ks, batch)))?)
    }
    /// Registers this struct_ops map with the kernel (a TCP congestion control, ...):
    /// the returned Link unregisters it when closed. `.struct_ops.link` maps register
    /// through a BPF link; others by their update, undone by deleting the element.
    fn attach_struct_ops(&self, py: Python<'_>) -> PyResult<links::PyLink> {
        let value = self.struct_ops_value.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "map '{}' is not a struct_ops map of an object loaded here",
                self.name
            ))
        })?;
        let (flags, name) = (self.flags, self.name.clone());
        let attached = py.detach(|| {
            let fd = self.handle.fd.with(|fd| sys::dup(fd, "the map's fd"))?;
            crate::attach::struct_ops(fd, value, flags, &name)
        })?;
        Ok(links::PyLink::new(attached, 0)?)
    }
    /// Pushes `value` onto a queue or stack map; flags "exist" drops the oldest element
    /// of a full map instead of failing with E2BIG.
    #[pyo3(signature = (value, flags=None))]
    fn push(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let view = self.view(py)?;
        let flags = flags.map(maps::update_flags).transpose()?.unwrap_or(0);
        let v = maps::value_bytes(view, value)?;
        Ok(py.detach(|| self.handle.fd.with(|fd| view.push(fd, &v, flags)))?)
    }
    /// Removes and returns the head of a queue (oldest) or stack (newest); None if empty.
    #[pyo3(signature = (*, raw=false))]
    fn pop(&self, py: Python<'_>, raw: bool) -> PyResult<Option<Py<PyAny>>> {
        self.head(py, true, raw)
    }
    /// The head of a queue or stack, left in place; None if empty.
    #[pyo3(signature = (*, raw=false))]
    fn peek(&self, py: Python<'_>, raw: bool) -> PyResult<Option<Py<PyAny>>> {
        self.head(py, false, raw)
    }
    /// How many values a lookup returns: the possible CPUs for a per-CPU map, else 1.
    #[getter]
    fn ncpus(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.view(py)?.ncpus)
    }
    /// Whether keys and values are typed by BTF (else bytes, or ints by size).
    #[getter]
    fn has_btf(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.view(py)?.btf.is_some())
    }
    fn __repr__(&self) -> String {
        let ty = crate::maps::format::map_type_name(self.map_type)
            .map_or_else(|| self.map_type.to_string(), str::to_string);
        format!(
            "<Map {} id={} type={ty} key_size={} value_size={} max_entries={}{}>",
            self.name,
            self.handle.id,
            self.key_size,
            self.value_size,
            self.max_entries,
            if self.handle.fd.is_closed() {
                " closed"
            } else {
                ""
            }
        )
    }
}

/// A loaded object, as the native load returns it: its programs and maps in object
/// order, its metadata, BTF and how the metadata was bound (`bpfbind.BpfObject` wraps it).
#[pyclass(frozen, module = "bpfbind._native", name = "Object")]
pub struct PyObject_ {
    /// The object's name.
    #[pyo3(get)]
    name: String,
    /// The `license` section's text.
    #[pyo3(get)]
    license: String,
    programs: Vec<Py<PyProgram>>,
    maps: Vec<Py<PyMap>>,
    btf: Mutex<Option<OwnedFd>>,
    /// How metadata got bound: "fd_array", "bind_map", "unbound" or "none".
    #[pyo3(get)]
    binding: &'static str,
    /// The load's warnings, one line each (metadata left unbound, ...).
    #[pyo3(get)]
    warnings: Vec<String>,
    metadata: Py<PyDict>,
}

#[pymethods]
impl PyObject_ {
    /// The loaded programs, in object order.
    #[getter]
    fn programs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.programs.iter().map(|p| p.clone_ref(py)))
    }
    /// The created (or reused) maps, in object order.
    #[getter]
    fn maps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.maps.iter().map(|m| m.clone_ref(py)))
    }
    /// Metadata of both conventions, prefix stripped (a fresh dict each time).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.metadata.bind(py).copy()
    }
    /// The fd of the object's loaded BTF (None without BTF, or once closed).
    #[getter]
    fn btf_fd(&self) -> Option<i32> {
        self.btf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| f.as_raw_fd())
    }
    /// The kernel id of the object's loaded BTF (None without BTF, or once closed).
    #[getter]
    fn btf_id(&self) -> PyResult<Option<u32>> {
        let guard = self.btf.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match guard.as_ref() {
            Some(fd) => Some(crate::sys::info::btf_identity(fd.as_fd())?.0),
            None => None,
        })
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
    /// Whether every program and map fd is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.programs.iter().all(|p| p.get().handle.fd.is_closed())
            && self.maps.iter().all(|m| m.get().handle.fd.is_closed())
    }
}

impl PyObject_ {
    /// The object's BTF as the kernel holds it, None when it has none (or is closed).
    pub fn btf_bytes(&self) -> Result<Option<Vec<u8>>> {
        let guard = self.btf.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(|fd| info::btf_data(fd.as_fd()))
            .transpose()
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
            }
            .init(),
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
                view: Default::default(),
                struct_ops_value: m.struct_ops_value,
            }
            .init(),
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
        Ok(crate::load::spec_metadata_vars(&spec, true)?
            .into_iter()
            .map(|v| {
                let (j, p) = v.texts.unwrap_or_default();
                let conv = if v.rodata { "rodata" } else { "section" };
                (v.name, v.value, j, p, conv)
            })
            .collect())
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
) -> PyResult<Py<PyProgram>> {
    let prog =
        py.detach(|| PyProgram::from_fd(bind::open(IdKind::Prog, &object_ref(id, path, fd)?)?))?;
    Py::new(py, prog.init())
}

/// A Map for an id, a pinned path, an fd (duplicated), or a kernel name (the one map of
/// that name; names are cut to 15 bytes as the kernel keeps them).
#[pyfunction]
#[pyo3(signature = (id=None, path=None, fd=None, name=None))]
pub fn open_map(
    py: Python<'_>,
    id: Option<u32>,
    path: Option<String>,
    fd: Option<i32>,
    name: Option<String>,
) -> PyResult<Py<PyMap>> {
    let map = py.detach(|| match name {
        Some(n) if id.is_none() && path.is_none() && fd.is_none() => {
            PyMap::from_fd(map_by_name(&n)?)
        }
        Some(_) => Err(Error::Invalid(
            "give exactly one of id, path, fd or name".into(),
        )),
        None => PyMap::from_fd(bind::open(IdKind::Map, &object_ref(id, path, fd)?)?),
    })?;
    Py::new(py, map.init())
}

/// The ids of the live maps whose kernel name is `name` (cut to 15 bytes).
pub fn map_ids_named(name: &str) -> Result<Vec<u32>> {
    let want = sys::obj_name(name);
    let mut found = Vec::new();
    let mut cur = 0;
    while let Some(id) = sys::next_id(IdKind::Map, cur)? {
        cur = id;
        let Some(fd) = sys::fd_by_id(IdKind::Map, id)? else {
            continue;
        };
        if info::map_info(fd.as_fd())?.name == want {
            found.push(id);
        }
    }
    Ok(found)
}

/// The one live map whose kernel name is `name` (cut to 15 bytes).
pub fn map_by_name(name: &str) -> Result<OwnedFd> {
    let ids = map_ids_named(name)?;
    match ids.as_slice() {
        [] => Err(Error::NotFound(format!("no map named {name}"))),
        [id] => sys::fd_by_id(IdKind::Map, *id)?
            .ok_or_else(|| Error::NotFound(format!("no map named {name}"))),
        _ => {
            let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
            Err(Error::Invalid(format!(
                "{} maps are named {name} (ids {}): open one by id",
                ids.len(),
                ids.join(", ")
            )))
        }
    }
}

fn object_ref(id: Option<u32>, path: Option<String>, fd: Option<i32>) -> Result<ObjectRef> {
    match (id, path, fd) {
        (Some(id), None, None) => Ok(ObjectRef::Id(id)),
        (None, Some(p), None) => Ok(ObjectRef::Pin(p)),
        (None, None, Some(fd)) => Ok(ObjectRef::Fd(fd)),
        _ => Err(Error::Invalid("give exactly one of id, path or fd".into())),
    }
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
) -> PyResult<Py<PyMap>> {
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
    let map = py.detach(|| PyMap::from_fd(fd))?;
    Py::new(py, map.init())
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
