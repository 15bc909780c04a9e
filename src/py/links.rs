//! `Link` and `IterReader`: attached programs owned by Python, `Program.attach`'s argument
//! handling, and the host-wide link scan. Every syscall runs detached from the interpreter.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::attach::{self, Attached, Target};
use crate::elf::probe::{self, SectionTarget};
use crate::elf::sections::{attach_type as at, prog_type as pt};
use crate::error::{Error, Result};
use crate::scan::links::{self as fmt_links, LinkRecord};
use crate::sys::{self, link};

use super::objects::PyProgram;

/// An attached program. Closing it (``close()``, ``with``, ``async with``) detaches,
/// unless the link is pinned or another process holds it.
#[pyclass(frozen, module = "bpfbind._native", name = "Link")]
pub struct PyLink {
    inner: Mutex<Option<Attached>>,
    /// What attached it: "tracepoint", "kprobe", "xdp", "struct_ops", ...
    #[pyo3(get)]
    kind: &'static str,
    /// What it is attached to, as the kind names it ("tracepoint syscalls/sys_enter_getppid").
    #[pyo3(get)]
    target: String,
    ids: Vec<u32>,
    /// The id of the attached program (0 for struct_ops maps).
    #[pyo3(get)]
    prog_id: u32,
}

impl PyLink {
    pub fn new(a: Attached, prog_id: u32) -> Result<Self> {
        let ids = a.infos()?.iter().map(|d| d.info.id).collect();
        Ok(PyLink {
            kind: a.kind,
            target: a.target.clone(),
            inner: Mutex::new(Some(a)),
            ids,
            prog_id,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Attached>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the one BPF link of this attachment.
    fn with_link<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> Result<R>) -> Result<R> {
        let g = self.lock();
        let Some(a) = g.as_ref() else {
            return Err(Error::Invalid("the link is closed".into()));
        };
        let links: Vec<&OwnedFd> = a.parts.iter().filter_map(|p| p.link.as_ref()).collect();
        match links.as_slice() {
            [one] => f(one.as_fd()),
            [] => Err(Error::unsupported(
                "link operations on a non-link attachment",
                format!(
                    "{}: the kernel attached it without a BPF link (SO_ATTACH_BPF or \
                     PERF_EVENT_IOC_SET_BPF)",
                    self.target
                ),
            )),
            many => Err(Error::Invalid(format!(
                "{} is {} links (one per CPU): use `ids` and info_all()",
                self.target,
                many.len()
            ))),
        }
    }
}

/// An awaitable that is already done: `async with` on a native object without a task.
#[pyclass(module = "bpfbind._native", name = "_Ready")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        let v = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((v,)))
    }
}

#[pymethods]
impl PyLink {
    /// The link's kernel id (None for a socket filter, which is no BPF link).
    #[getter]
    fn id(&self) -> Option<u32> {
        self.ids.first().copied()
    }
    /// Every link id of this attachment (one per CPU for a sampling program).
    #[getter]
    fn ids(&self) -> Vec<u32> {
        self.ids.clone()
    }
    /// Whether `close()` has run (the program is detached).
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }
    /// The link's fd, valid while it is open.
    #[getter]
    fn fd(&self) -> PyResult<i32> {
        Ok(self.with_link(|fd| Ok(fd.as_raw_fd()))?)
    }
    /// Detaches: closes every fd of the attachment. Closing again does nothing.
    fn close(&self, py: Python<'_>) {
        let taken = self.lock().take();
        py.detach(move || drop(taken));
    }
    /// Pins the link at `path` on a bpffs: it then stays attached after close().
    fn pin(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let p = path
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("path {} is not UTF-8", path.display())))?
            .to_string();
        Ok(py.detach(|| self.with_link(|fd| sys::obj_pin(fd, &p)))?)
    }
    /// The kernel's bpf_link_info, with the fields `bpftool -j link show` prints.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rec = py.detach(|| self.with_link(LinkRecord::read))?;
        record_dict(py, &rec)
    }
    /// BPF_ITER_CREATE on an iterator link: a reader that runs the iterator as it reads.
    fn open_iter(&self, py: Python<'_>) -> PyResult<PyIterReader> {
        if self.kind != "iter" {
            return Err(Error::Invalid(format!("{} is not an iterator link", self.target)).into());
        }
        let fd = py.detach(|| self.with_link(|fd| sys::iter_create(fd, "iterator link")))?;
        Ok(PyIterReader {
            fd: Mutex::new(Some(fd)),
        })
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }
    fn __aenter__(slf: Py<Self>) -> Ready {
        Ready {
            value: Some(slf.into_any()),
        }
    }
    /// Detaches in a worker thread: the kernel's release of a perf event or a probe
    /// waits for RCU grace periods (tens of milliseconds), too long for an event loop.
    fn __aexit__<'py>(
        slf: Py<Self>,
        py: Python<'py>,
        _t: Option<Bound<'py, PyAny>>,
        _v: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        py.import("bpfbind._links")?
            .getattr("_close_in_thread")?
            .call1((slf,))
    }
    fn __repr__(&self) -> String {
        // One kernel link for most kinds; a perf event per CPU, or none, for others.
        let ids = match self.ids.as_slice() {
            [] => String::new(),
            [id] => format!(" id={id}"),
            many => format!(" ids={many:?}"),
        };
        format!(
            "<Link {}{ids} prog_id={} target={:?}{}>",
            self.kind,
            self.prog_id,
            self.target,
            if self.closed() { " closed" } else { "" }
        )
    }
}

/// Reads an iterator: each read(2) runs the BPF program over the next objects.
#[pyclass(frozen, module = "bpfbind._native", name = "IterReader")]
pub struct PyIterReader {
    fd: Mutex<Option<OwnedFd>>,
}

#[pymethods]
impl PyIterReader {
    /// Up to `size` bytes of the iterator's output; b"" at its end.
    #[pyo3(signature = (size=65536))]
    fn read<'py>(&self, py: Python<'py>, size: usize) -> PyResult<Bound<'py, PyBytes>> {
        let mut buf = vec![0u8; size.clamp(1, 1 << 24)];
        let n = py.detach(|| {
            let g = self.fd.lock().unwrap_or_else(|e| e.into_inner());
            let fd = g
                .as_ref()
                .ok_or_else(|| Error::Invalid("the iterator is closed".into()))?;
            sys::iter_read(fd.as_fd(), &mut buf, "iterator link")
        })?;
        Ok(PyBytes::new(py, &buf[..n]))
    }
    /// The iterator's whole output.
    fn readall<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| -> Result<Vec<u8>> {
            let g = self.fd.lock().unwrap_or_else(|e| e.into_inner());
            let fd = g
                .as_ref()
                .ok_or_else(|| Error::Invalid("the iterator is closed".into()))?;
            let mut out = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = sys::iter_read(fd.as_fd(), &mut buf, "iterator link")?;
                if n == 0 {
                    return Ok(out);
                }
                out.extend_from_slice(&buf[..n]);
            }
        })?;
        Ok(PyBytes::new(py, &out))
    }
    /// Closes the iterator's link fd; reads after it fail.
    fn close(&self) {
        self.fd.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }
}

/// A path or an fd, as Python gives a cgroup or netns.
pub enum PathOrFd {
    Path(String),
    Fd(i32),
}

fn path_or_fd(v: &Bound<'_, PyAny>, what: &str) -> PyResult<PathOrFd> {
    if let Ok(fd) = v.extract::<i32>() {
        return Ok(PathOrFd::Fd(fd));
    }
    let os = v.py().import("os")?;
    match os.call_method1("fspath", (v,)) {
        Ok(p) => Ok(PathOrFd::Path(p.extract::<String>()?)),
        Err(_) => Err(Error::Invalid(format!("{what} must be a path or an fd")).into()),
    }
}

fn open_path_or_fd(v: PathOrFd, what: &str) -> Result<(OwnedFd, String)> {
    match v {
        PathOrFd::Path(p) => Ok((link::open_target(&p, what)?, p)),
        PathOrFd::Fd(fd) => Ok((crate::bind::dup(fd)?, format!("fd {fd}"))),
    }
}

/// An interface, by index or by name, as `ifindex=` takes it.
pub enum Iface {
    Index(u32),
    Name(String),
}

/// The caller's arguments to `Program.attach`, copied out of Python before the syscalls:
/// the method's parameters, those that take several Python types converted by the
/// `*_arg` functions below.
pub struct AttachArgs {
    pub target: Option<String>,
    pub retprobe: Option<bool>,
    pub offset: u64,
    pub binary: Option<String>,
    pub pid: Option<i32>,
    pub ifindex: Option<Iface>,
    pub flags: u32,
    pub direction: Option<String>,
    pub cgroup: Option<PathOrFd>,
    pub netns: Option<PathOrFd>,
    pub sock: Option<i32>,
    pub cpus: Option<Vec<i32>>,
    pub event: Option<(u32, u64)>,
    pub sample_period: Option<u64>,
    pub sample_freq: Option<u64>,
    pub attach_type: Option<u32>,
}

/// None, or what `convert` makes of the argument.
fn unless_none<T>(
    v: &Bound<'_, PyAny>,
    convert: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>,
) -> PyResult<Option<T>> {
    if v.is_none() {
        Ok(None)
    } else {
        convert(v).map(Some)
    }
}

/// `binary=`: a str or any path-like.
pub fn binary_arg(v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    unless_none(v, |b| {
        b.py()
            .import("os")?
            .call_method1("fspath", (b,))?
            .extract::<String>()
    })
}

/// `ifindex=`: an index or an interface name.
pub fn ifindex_arg(v: &Bound<'_, PyAny>) -> PyResult<Option<Iface>> {
    unless_none(v, |v| match v.extract::<u32>() {
        Ok(i) => Ok(Iface::Index(i)),
        Err(_) => Ok(Iface::Name(v.extract::<String>()?)),
    })
}

/// `sock=`: an fd, or anything with `fileno()`.
pub fn sock_arg(v: &Bound<'_, PyAny>) -> PyResult<Option<i32>> {
    unless_none(v, |s| match s.extract::<i32>() {
        Ok(fd) => Ok(fd),
        Err(_) => s.call_method0("fileno")?.extract::<i32>(),
    })
}

/// `cgroup=`: a cgroup v2 directory or its fd.
pub fn cgroup_arg(v: &Bound<'_, PyAny>) -> PyResult<Option<PathOrFd>> {
    unless_none(v, |c| path_or_fd(c, "cgroup"))
}

/// `netns=`: a netns file or its fd.
pub fn netns_arg(v: &Bound<'_, PyAny>) -> PyResult<Option<PathOrFd>> {
    unless_none(v, |n| path_or_fd(n, "netns"))
}

fn section_default(section: &str) -> Result<Option<SectionTarget>> {
    probe::section_target(section).transpose()
}

/// The ksyscall entry point of syscall `name` on this kernel.
fn syscall_func(name: &str) -> String {
    match (
        sys::features::syscall_wrapper(),
        sys::features::syscall_prefix(),
    ) {
        (true, Some(pfx)) => format!("__{pfx}_sys_{name}"),
        _ => format!("sys_{name}"),
    }
}

fn add_offset(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| Error::Invalid(format!("probe offset {a:#x} + {b:#x} overflows")))
}

/// The caller's arguments and the program's section -> a resolved Target. Runs without
/// the GIL: it opens cgroups, netns files and sockets.
pub fn resolve(prog_type: u32, expected: u32, section: &str, a: AttachArgs) -> Result<Target> {
    let kind = attach::default_kind(prog_type, expected, section);
    let from_section = section_default(section)?;
    let need = |what: &str| {
        Error::Invalid(format!(
            "attaching a {kind} program needs {what} (its section {section:?} names none)"
        ))
    };
    let ifindex = || -> Result<u32> {
        match &a.ifindex {
            Some(Iface::Index(i)) => Ok(*i),
            Some(Iface::Name(n)) => link::ifindex(n),
            None => Err(need("ifindex= (an index or an interface name)")),
        }
    };
    let uprobe = a.binary.is_some() || kind == "uprobe";
    if prog_type == pt::KPROBE && (section.starts_with("usdt") || kind == "uprobe_multi") {
        return Err(Error::unsupported(
            if kind == "uprobe_multi" {
                "uprobe_multi attachment"
            } else {
                "usdt attachment"
            },
            format!("section {section:?}"),
        ));
    }
    Ok(match prog_type {
        pt::KPROBE if kind == "kprobe_multi" => {
            let (pattern, retprobe) = match (a.target, from_section) {
                (Some(t), _) => (t, a.retprobe.unwrap_or(section.starts_with("kretprobe"))),
                (None, Some(SectionTarget::KprobeMulti { pattern, retprobe })) => {
                    (pattern, a.retprobe.unwrap_or(retprobe))
                }
                _ => return Err(need("a function pattern")),
            };
            Target::KprobeMulti { pattern, retprobe }
        }
        pt::KPROBE if uprobe => {
            let sec_ret = section.starts_with("uretprobe");
            match (a.binary, a.target, from_section) {
                (Some(binary), func, _) => Target::Uprobe {
                    binary,
                    func,
                    offset: a.offset,
                    retprobe: a.retprobe.unwrap_or(sec_ret),
                    pid: a.pid,
                },
                (
                    None,
                    None,
                    Some(SectionTarget::Uprobe {
                        binary,
                        func,
                        offset,
                        retprobe,
                    }),
                ) => Target::Uprobe {
                    binary,
                    func: Some(func),
                    offset: add_offset(offset, a.offset)?,
                    retprobe: a.retprobe.unwrap_or(retprobe),
                    pid: a.pid,
                },
                _ => return Err(need("binary= and a function")),
            }
        }
        pt::KPROBE => match (a.target, from_section) {
            (Some(t), _) => {
                let (func, off) = probe::parse_func_offset(&t, "kprobe target")?;
                Target::Kprobe {
                    func,
                    offset: add_offset(off, a.offset)?,
                    retprobe: a.retprobe.unwrap_or(
                        section.starts_with("kretprobe") || section.starts_with("kretsyscall"),
                    ),
                }
            }
            (
                None,
                Some(SectionTarget::Kprobe {
                    func,
                    offset,
                    retprobe,
                }),
            ) => Target::Kprobe {
                func,
                offset: add_offset(offset, a.offset)?,
                retprobe: a.retprobe.unwrap_or(retprobe),
            },
            (None, Some(SectionTarget::Ksyscall { name, retprobe })) => Target::Kprobe {
                func: syscall_func(&name),
                offset: 0,
                retprobe: a.retprobe.unwrap_or(retprobe),
            },
            _ => return Err(need("a kernel function")),
        },
        pt::TRACEPOINT => match (a.target, from_section) {
            (Some(t), _) => match t.split_once('/') {
                Some((c, n)) => Target::Tracepoint {
                    category: c.into(),
                    name: n.into(),
                },
                None => {
                    return Err(Error::Invalid(format!(
                        "tracepoint {t:?}: give it as 'category/name'"
                    )))
                }
            },
            (None, Some(SectionTarget::Tracepoint { category, name })) => {
                Target::Tracepoint { category, name }
            }
            _ => return Err(need("a tracepoint 'category/name'")),
        },
        pt::RAW_TRACEPOINT | pt::RAW_TRACEPOINT_WRITABLE => match (a.target, from_section) {
            (Some(name), _) => Target::RawTracepoint { name },
            (None, Some(SectionTarget::RawTracepoint { name })) => Target::RawTracepoint { name },
            _ => return Err(need("a tracepoint name")),
        },
        pt::TRACING if expected == at::TRACE_ITER => Target::Iter,
        pt::LSM if expected == at::LSM_CGROUP => {
            return Err(Error::unsupported(
                "lsm_cgroup attachment",
                format!("section {section:?}"),
            ))
        }
        pt::TRACING | pt::LSM => {
            if a.target.is_some() {
                return Err(Error::Invalid(
                    "a tracing or LSM program attaches to the target it was loaded for; \
                     change it before the load (ProgramSpec.attach_target)"
                        .into(),
                ));
            }
            Target::Tracing
        }
        pt::XDP => Target::Xdp {
            ifindex: ifindex()?,
            flags: a.flags,
        },
        pt::SCHED_CLS => {
            let egress = match (a.direction.as_deref(), expected) {
                (Some("ingress"), _) => false,
                (Some("egress"), _) => true,
                (Some(d), _) => {
                    return Err(Error::Invalid(format!(
                        "direction must be 'ingress' or 'egress', not {d:?}"
                    )))
                }
                (None, at::TCX_INGRESS) => false,
                (None, at::TCX_EGRESS) => true,
                (None, _) => return Err(need("direction='ingress' or 'egress'")),
            };
            Target::Tcx {
                ifindex: ifindex()?,
                egress,
            }
        }
        _ if kind == "cgroup" => {
            let cg = a
                .cgroup
                .ok_or_else(|| need("cgroup= (a cgroup v2 directory or fd)"))?;
            let (fd, path) = open_path_or_fd(cg, "cgroup")?;
            Target::Cgroup {
                fd,
                path,
                attach_type: a.attach_type.unwrap_or(expected),
            }
        }
        pt::SK_LOOKUP => {
            let ns = a
                .netns
                .unwrap_or_else(|| PathOrFd::Path("/proc/self/ns/net".into()));
            let (netns, path) = open_path_or_fd(ns, "netns")?;
            Target::SkLookup { netns, path }
        }
        pt::SOCKET_FILTER => {
            let fd = a.sock.ok_or_else(|| need("sock= (a socket or its fd)"))?;
            Target::Socket {
                sock: crate::bind::dup(fd)?,
            }
        }
        pt::PERF_EVENT => {
            let (type_, config) = a.event.unwrap_or((
                sys::perf::PERF_TYPE_SOFTWARE,
                sys::perf::PERF_COUNT_SW_CPU_CLOCK,
            ));
            let sample = match (a.sample_period, a.sample_freq) {
                (Some(p), None) => (p, false),
                (None, Some(f)) => (f, true),
                (None, None) => return Err(need("sample_period= or sample_freq=")),
                (Some(_), Some(_)) => {
                    return Err(Error::Invalid(
                        "give sample_period= or sample_freq=, not both".into(),
                    ))
                }
            };
            let cpus = match a.cpus {
                Some(c) => c,
                None => attach::online_cpus()?,
            };
            Target::PerfEvent {
                type_,
                config,
                sample,
                cpus,
                pid: a.pid.unwrap_or(-1),
            }
        }
        _ => {
            return Err(Error::unsupported(
                format!(
                    "attaching {} programs",
                    crate::scan::format::prog_type_label(prog_type)
                ),
                format!("section {section:?}"),
            ))
        }
    })
}

/// `Program.attach`: resolve, attach, and wrap, GIL-free.
pub fn attach_program(py: Python<'_>, prog: &PyProgram, args: AttachArgs) -> PyResult<PyLink> {
    let section = prog.section.clone().unwrap_or_default();
    let (pt_, exp) = (prog.prog_type, prog.expected_attach_type);
    let handle = prog.handle.clone();
    Ok(py.detach(move || {
        let target = resolve(pt_, exp, &section, args)?;
        let a = handle.fd.with(|fd| attach::attach(fd, pt_, exp, target))?;
        PyLink::new(a, handle.id)
    })?)
}

fn record_dict<'py>(py: Python<'py>, rec: &LinkRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in rec.fields() {
        match v {
            fmt_links::Field::U(n) => d.set_item(k, n)?,
            fmt_links::Field::S(s) => d.set_item(k, s)?,
        }
    }
    Ok(d)
}

/// Every link on the host (BPF_LINK_GET_NEXT_ID), or the one with `id`, or the one pinned
/// at `path`, as dicts of bpftool's fields. A link gone between the id and the fd is left
/// out.
#[pyfunction]
#[pyo3(signature = (id=None, path=None))]
pub fn scan_links<'py>(
    py: Python<'py>,
    id: Option<u32>,
    path: Option<String>,
) -> PyResult<Bound<'py, PyList>> {
    let recs = py.detach(|| fmt_links::scan(id, path.as_deref()))?;
    let out = PyList::empty(py);
    for r in &recs {
        out.append(record_dict(py, r)?)?;
    }
    Ok(out)
}

/// `bpftool link show` (plain) or `-j` text of a scan, byte for byte.
#[pyfunction]
#[pyo3(signature = (id=None, path=None, json=false, pretty=false))]
pub fn show_links(
    py: Python<'_>,
    id: Option<u32>,
    path: Option<String>,
    json: bool,
    pretty: bool,
) -> PyResult<String> {
    let single = id.is_some() || path.is_some();
    Ok(py.detach(|| -> Result<String> {
        let recs = fmt_links::scan(id, path.as_deref())?;
        Ok(if json {
            fmt_links::format_json(&recs, single, pretty)
        } else {
            fmt_links::format_plain(&recs)
        })
    })?)
}

/// What a section names as its attach target, as `attach_all` reads it: "kprobe",
/// "tracepoint", ... or None for a section that names no target (xdp, tc, a bare
/// "kprobe"). A target spelled wrongly is a ValueError.
#[pyfunction]
pub fn section_target_kind(section: &str) -> PyResult<Option<&'static str>> {
    Ok(match section_default(section)? {
        None => None,
        Some(t) => Some(match t {
            SectionTarget::Kprobe { .. } | SectionTarget::Ksyscall { .. } => "kprobe",
            SectionTarget::KprobeMulti { .. } => "kprobe_multi",
            SectionTarget::Uprobe { .. } => "uprobe",
            SectionTarget::Tracepoint { .. } => "tracepoint",
            SectionTarget::RawTracepoint { .. } => "raw_tracepoint",
            SectionTarget::Tracing => "tracing",
            SectionTarget::Iter => "iter",
        }),
    })
}
