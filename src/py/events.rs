//! `RingPoller` and `PerfPoller`: ring buffers and perf buffers read in batches into
//! `bytes` (or values decoded by a BTF type) under the GIL, with an epoll fd for the
//! event loop to wait on; `StatsHandle` holds BPF_ENABLE_STATS.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::btf::{kind, Btf};
use crate::error::{Error, Result};
use crate::sys::perfbuf::{PerfBuf, PerfRecord, BPF_MAP_TYPE_PERF_EVENT_ARRAY};
use crate::sys::ringbuf::{Epoll, RingBuf, BPF_MAP_TYPE_RINGBUF};
use crate::sys::FdCell;

use super::objects::{PyMap, PyObject_};

/// The BTF type records are decoded as: a name as C spells it ("struct event", "event",
/// a typedef), looked up in the object's BTF.
struct RecordType {
    btf: Btf,
    id: u32,
}

fn record_type(obj: Option<&PyObject_>, name: Option<&str>) -> Result<Option<RecordType>> {
    let Some(name) = name else { return Ok(None) };
    let Some(data) = obj.map(PyObject_::btf_bytes).transpose()?.flatten() else {
        return Err(Error::Invalid(format!(
            "records of type '{name}' need the object's BTF, and it has none"
        )));
    };
    let btf = Btf::parse(&data)?;
    let (kinds, bare): (&[u32], &str) = if let Some(n) = name.strip_prefix("struct ") {
        (&[kind::STRUCT], n)
    } else if let Some(n) = name.strip_prefix("union ") {
        (&[kind::UNION], n)
    } else if let Some(n) = name.strip_prefix("enum ") {
        (&[kind::ENUM, kind::ENUM64], n)
    } else {
        (
            &[
                kind::STRUCT,
                kind::UNION,
                kind::TYPEDEF,
                kind::INT,
                kind::ENUM,
                kind::ENUM64,
            ],
            name,
        )
    };
    let id = kinds
        .iter()
        .find_map(|&k| btf.find(bare.trim(), k))
        .ok_or_else(|| Error::NotFound(format!("the object's BTF has no type '{name}'")))?;
    btf.size_of(id)?;
    Ok(Some(RecordType { btf, id }))
}

/// The records of one read. The first error is kept and later records are passed over:
/// the readers' callbacks cannot return one.
struct Batch<'a, 'py> {
    py: Python<'py>,
    ty: Option<&'a RecordType>,
    out: Bound<'py, PyList>,
    err: Option<PyErr>,
}

impl<'a, 'py> Batch<'a, 'py> {
    fn new(py: Python<'py>, ty: Option<&'a RecordType>) -> Self {
        Batch {
            py,
            ty,
            out: PyList::empty(py),
            err: None,
        }
    }

    /// Appends one record, as (tag, record) when a tag is given.
    fn push<T: IntoPyObject<'py>>(&mut self, data: &[u8], tag: Option<T>) {
        if self.err.is_some() {
            return;
        }
        let r = record_py(self.py, self.ty, data).and_then(|v| match tag {
            Some(t) => self.out.append((t, v)),
            None => self.out.append(v),
        });
        if let Err(e) = r {
            self.err = Some(e);
        }
    }

    fn finish(self) -> PyResult<Bound<'py, PyList>> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }
}

/// A reader's buffers and epoll fd, shared with the calls in flight until `close()`
/// takes them (the last call to return unmaps them).
struct Open<T> {
    inner: Mutex<Option<Arc<T>>>,
    what: &'static str,
}

impl<T> Open<T> {
    fn new(value: T, what: &'static str) -> Self {
        Open {
            inner: Mutex::new(Some(Arc::new(value))),
            what,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<T>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> Result<Arc<T>> {
        self.lock()
            .clone()
            .ok_or_else(|| Error::Invalid(format!("the {} reader is closed", self.what)))
    }

    fn is_closed(&self) -> bool {
        self.lock().is_none()
    }

    fn take(&self) -> Option<Arc<T>> {
        self.lock().take()
    }
}

fn record_py(py: Python<'_>, ty: Option<&RecordType>, data: &[u8]) -> PyResult<Py<PyAny>> {
    match ty {
        Some(t) => super::values::to_py(py, &t.btf.decode(t.id, data)?),
        None => Ok(PyBytes::new(py, data).into_any().unbind()),
    }
}

fn map_fd_checked(m: &PyMap, want: u32, what: &str) -> Result<()> {
    if m.map_type != want {
        return Err(Error::Invalid(format!(
            "map '{}' is not a {what} (map type {})",
            m.name, m.map_type
        )));
    }
    Ok(())
}

struct Rings {
    rings: Vec<RingBuf>,
    epoll: Epoll,
    /// One consumer at a time: two reads at once would hand out records twice.
    reading: Mutex<()>,
}

/// Several ring buffers read as one: records of all of them, a batch at a time.
#[pyclass(frozen, module = "bpfbind._native", name = "RingPoller")]
pub struct PyRingPoller {
    inner: Open<Rings>,
    names: Vec<String>,
    ty: Option<RecordType>,
    /// Which ring the next read starts with, so that a busy ring cannot starve the rest.
    next: std::sync::atomic::AtomicUsize,
}

fn wait_epoll(py: Python<'_>, epoll: &Epoll, timeout: Option<f64>) -> Result<bool> {
    let ms = match timeout {
        None => -1,
        Some(t) if t <= 0.0 => 0,
        Some(t) => (t * 1000.0).ceil().min(i32::MAX as f64) as i32,
    };
    let mut ready = Vec::new();
    py.detach(|| epoll.wait(ms, &mut ready))?;
    Ok(!ready.is_empty())
}

#[pymethods]
impl PyRingPoller {
    /// Maps the ring buffers `maps`; records are bytes, or decoded as `record_type` of
    /// `obj`'s BTF.
    #[new]
    #[pyo3(signature = (maps, obj=None, record_type=None))]
    fn new(
        py: Python<'_>,
        maps: Vec<Bound<'_, PyMap>>,
        obj: Option<Bound<'_, PyObject_>>,
        record_type: Option<String>,
    ) -> PyResult<Self> {
        if maps.is_empty() {
            return Err(Error::Invalid("give at least one ring buffer".into()).into());
        }
        let ty = self::record_type(obj.as_ref().map(|o| o.get()), record_type.as_deref())?;
        let handles: Vec<_> = maps.iter().map(|m| m.get()).collect();
        for m in &handles {
            map_fd_checked(m, BPF_MAP_TYPE_RINGBUF, "ring buffer")?;
        }
        let names = handles.iter().map(|m| m.name.clone()).collect();
        let rings = py.detach(|| -> Result<Rings> {
            let epoll = Epoll::new()?;
            let mut rings = Vec::new();
            for (i, m) in handles.iter().enumerate() {
                let r = m
                    .handle
                    .fd
                    .with(|fd| RingBuf::new(fd, m.max_entries, &m.name))?;
                epoll.add(r.fd(), i as u64)?;
                rings.push(r);
            }
            Ok(Rings {
                rings,
                epoll,
                reading: Mutex::new(()),
            })
        })?;
        Ok(PyRingPoller {
            inner: Open::new(rings, "ring buffer"),
            names,
            ty,
            next: 0.into(),
        })
    }
    /// The epoll fd, readable while any ring holds a record (for `anyio.wait_readable`).
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.inner.get()?.epoll.fd().as_raw_fd())
    }
    /// Up to `max` records, without waiting: bytes (or decoded values), or (map name,
    /// record) pairs with `tagged`. Empty when no ring holds a committed record.
    #[pyo3(signature = (max, tagged=false))]
    fn read<'py>(&self, py: Python<'py>, max: usize, tagged: bool) -> PyResult<Bound<'py, PyList>> {
        let rings = self.inner.get()?;
        let _one = rings.reading.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = Batch::new(py, self.ty.as_ref());
        let n = rings.rings.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
        let mut got = 0;
        for k in 0..n {
            let i = (start + k) % n;
            if got >= max {
                break;
            }
            let tag = tagged.then_some(self.names[i].as_str());
            got += rings.rings[i].consume(max - got, |rec| batch.push(rec, tag));
        }
        batch.finish()
    }
    /// Waits (GIL released) until a ring holds data or `timeout` seconds pass (None:
    /// for ever); True when one does. For code without an event loop.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        Ok(wait_epoll(py, &self.inner.get()?.epoll, timeout)?)
    }
    /// Bytes written to each ring and not read yet.
    fn pending(&self) -> PyResult<Vec<u64>> {
        Ok(self
            .inner
            .get()?
            .rings
            .iter()
            .map(RingBuf::pending)
            .collect())
    }
    /// The ring buffer maps read, in the order given.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }
    /// Whether `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
    /// Unmaps the rings and closes their fds and the epoll fd (once a `wait` in flight
    /// returns).
    fn close(&self) {
        self.inner.take();
    }
}

struct Perf {
    buf: Mutex<PerfBuf>,
    epoll: Epoll,
}

/// A perf buffer: BPF-output events on every online CPU behind a perf event array.
#[pyclass(frozen, module = "bpfbind._native", name = "PerfPoller")]
pub struct PyPerfPoller {
    inner: Open<Perf>,
    ty: Option<RecordType>,
    lost: std::sync::atomic::AtomicU64,
}

#[pymethods]
impl PyPerfPoller {
    /// Opens a perf event per online CPU with `pages` data pages (a power of two) and
    /// stores them in the perf event array `map`.
    #[new]
    #[pyo3(signature = (map, pages=8, obj=None, record_type=None))]
    fn new(
        py: Python<'_>,
        map: Bound<'_, PyMap>,
        pages: usize,
        obj: Option<Bound<'_, PyObject_>>,
        record_type: Option<String>,
    ) -> PyResult<Self> {
        let ty = self::record_type(obj.as_ref().map(|o| o.get()), record_type.as_deref())?;
        let m = map.get();
        map_fd_checked(m, BPF_MAP_TYPE_PERF_EVENT_ARRAY, "perf event array")?;
        let perf = py.detach(|| -> Result<Perf> {
            let epoll = Epoll::new()?;
            let buf = m
                .handle
                .fd
                .with(|fd| PerfBuf::new(fd, m.max_entries, pages, &m.name))?;
            buf.register(&epoll, 0)?;
            Ok(Perf {
                buf: Mutex::new(buf),
                epoll,
            })
        })?;
        Ok(PyPerfPoller {
            inner: Open::new(perf, "perf buffer"),
            ty,
            lost: 0.into(),
        })
    }
    /// The epoll fd, readable while any CPU's buffer holds a record.
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.inner.get()?.epoll.fd().as_raw_fd())
    }
    /// Up to `max` samples without waiting: bytes (the kernel pads each to keep records
    /// 8-aligned) or decoded values, or (cpu, record) pairs with `tagged`. Lost-sample
    /// records the kernel wrote add to `lost`.
    #[pyo3(signature = (max, tagged=false))]
    fn read<'py>(&self, py: Python<'py>, max: usize, tagged: bool) -> PyResult<Bound<'py, PyList>> {
        let perf = self.inner.get()?;
        let mut batch = Batch::new(py, self.ty.as_ref());
        let mut buf = perf.buf.lock().unwrap_or_else(|p| p.into_inner());
        buf.consume(max, |rec| match rec {
            PerfRecord::Lost { count, .. } => {
                self.lost
                    .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
            }
            PerfRecord::Sample { cpu, data } => batch.push(data, tagged.then_some(cpu)),
        });
        batch.finish()
    }
    /// Waits (GIL released) until a buffer holds data or `timeout` seconds pass.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        Ok(wait_epoll(py, &self.inner.get()?.epoll, timeout)?)
    }
    /// Samples the kernel dropped because a CPU's buffer was full, as far as read.
    #[getter]
    fn lost(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// How many CPUs have a buffer.
    #[getter]
    fn ncpus(&self) -> PyResult<usize> {
        Ok(self
            .inner
            .get()?
            .buf
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ncpus())
    }
    /// Whether `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
    /// Removes the events from the array, closes them, unmaps their rings.
    fn close(&self, py: Python<'_>) {
        let taken = self.inner.take();
        py.detach(|| drop(taken));
    }
}

/// BPF_ENABLE_STATS held: run counts and times are counted until `close()`.
#[pyclass(frozen, module = "bpfbind._native", name = "StatsHandle")]
pub struct PyStatsHandle {
    fd: FdCell,
}

#[pymethods]
impl PyStatsHandle {
    /// BPF_ENABLE_STATS(BPF_STATS_RUN_TIME); needs CAP_SYS_ADMIN.
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let fd: OwnedFd = py.detach(crate::sys::mapops::enable_stats)?;
        Ok(PyStatsHandle {
            fd: FdCell::new(fd, "stats handle"),
        })
    }
    /// Whether the stats fd is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.fd.is_closed()
    }
    /// Closes the fd: stats stop unless another holder keeps them on.
    fn close(&self) {
        self.fd.close();
    }
    /// The fd holding the stats on.
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.fd.with(|fd| Ok(fd.as_fd().as_raw_fd()))?)
    }
}
