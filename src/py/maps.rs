//! Map keys and values between Python and bytes: packed and decoded by the map's BTF types,
//! raw bytes of the exact size always accepted, per-CPU values as one item per CPU; and the
//! `MapCursor` behind chunked walks (async `items`).

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};

use crate::bind::MapHandle;
use crate::error::{Error, Result};
use crate::maps::{is_percpu, Cursor, MapView};

use super::values::{from_py, to_py};

/// BPF_ANY / BPF_NOEXIST / BPF_EXIST by name, or any flags as a number (BPF_F_LOCK: 4).
pub fn update_flags(flags: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(s) = flags.cast::<PyString>() {
        return match s.to_str()? {
            "any" => Ok(0),
            "noexist" => Ok(1),
            "exist" => Ok(2),
            other => Err(PyValueError::new_err(format!(
                "flags must be 'any', 'noexist', 'exist' or a number, not {other:?}"
            ))),
        };
    }
    flags
        .extract::<u64>()
        .map_err(|_| PyValueError::new_err("flags must be 'any', 'noexist', 'exist' or a number"))
}

fn raw_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Some(b.to_vec());
    }
    None
}

/// `obj` as `size` bytes of BTF type `type_id`: bytes of that size as they are, else
/// packed by the type, else (no BTF) an int of a size of 1 to 16 bytes, little-endian.
fn pack_one(
    view: &MapView,
    type_id: u32,
    size: usize,
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<Vec<u8>> {
    if let Some(b) = raw_bytes(obj) {
        if b.len() == size {
            return Ok(b);
        }
    }
    if let (Some(btf), true) = (&view.btf, type_id != 0) {
        let v = from_py(obj)?;
        let mut out = btf.pack(type_id, &v)?;
        // A BTF type smaller than the map's size (padding the kernel counts): zero tail.
        out.resize(size, 0);
        return Ok(out);
    }
    if let Ok(i) = obj.extract::<i128>() {
        if (1..=16).contains(&size) && !obj.is_instance_of::<pyo3::types::PyBool>() {
            let bits = size * 8;
            let fits = bits >= 128 || (i >= -(1i128 << (bits - 1)) && i < (1i128 << bits));
            if fits {
                return Ok(i.to_le_bytes()[..size].to_vec());
            }
            return Err(PyValueError::new_err(format!(
                "{what} {i} does not fit in {size} bytes"
            )));
        }
    }
    Err(Error::Invalid(format!(
        "{what} must be {size} bytes{}",
        if size <= 16 {
            " or an int (the map has no BTF)"
        } else {
            " (the map has no BTF)"
        }
    ))
    .into())
}

pub fn key_bytes(view: &MapView, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    pack_one(view, view.key_type, view.key_size, obj, "key")
}

/// A value as the kernel takes it: a per-CPU map's as one item per possible CPU (or the
/// whole buffer as bytes).
pub fn value_bytes(view: &MapView, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if !is_percpu(view.map_type) {
        return pack_one(view, view.value_type, view.value_size, obj, "value");
    }
    if let Some(b) = raw_bytes(obj) {
        if b.len() == view.value_len() {
            return Ok(b);
        }
    }
    let items: Vec<Bound<'_, PyAny>> = match obj.cast::<PyList>() {
        Ok(l) => l.iter().collect(),
        Err(_) => obj
            .extract()
            .map_err(|_| PyValueError::new_err("a per-CPU value is a list of one value per CPU"))?,
    };
    if items.len() != view.ncpus {
        return Err(PyValueError::new_err(format!(
            "a per-CPU value needs {} items (one per possible CPU), got {}",
            view.ncpus,
            items.len()
        )));
    }
    let stride = view.stride();
    let mut out = vec![0u8; view.value_len()];
    for (i, it) in items.iter().enumerate() {
        let b = pack_one(view, view.value_type, view.value_size, it, "value")?;
        out[i * stride..i * stride + view.value_size].copy_from_slice(&b);
    }
    Ok(out)
}

fn decode_one(
    py: Python<'_>,
    view: &MapView,
    type_id: u32,
    data: &[u8],
    raw: bool,
) -> PyResult<Py<PyAny>> {
    if let (false, Some(btf), true) = (raw, &view.btf, type_id != 0) {
        let v = btf.decode(type_id, data)?;
        return to_py(py, &v);
    }
    Ok(PyBytes::new(py, data).into_any().unbind())
}

pub fn key_py(py: Python<'_>, view: &MapView, key: &[u8], raw: bool) -> PyResult<Py<PyAny>> {
    decode_one(py, view, view.key_type, key, raw)
}

pub fn value_py(py: Python<'_>, view: &MapView, value: &[u8], raw: bool) -> PyResult<Py<PyAny>> {
    if !is_percpu(view.map_type) {
        return decode_one(py, view, view.value_type, value, raw);
    }
    let stride = view.stride();
    let list = PyList::empty(py);
    for cpu in value.chunks(stride).take(view.ncpus) {
        list.append(decode_one(
            py,
            view,
            view.value_type,
            &cpu[..view.value_size.min(cpu.len())],
            raw,
        )?)?;
    }
    Ok(list.into_any().unbind())
}

/// A walk over a map's elements, a chunk per call, in a worker thread or not: what the
/// async `items()` and `keys()` read from.
#[pyclass(frozen, module = "bpfbind._native", name = "MapCursor")]
pub struct PyMapCursor {
    pub handle: Arc<MapHandle>,
    pub cursor: Mutex<Option<Cursor>>,
    pub raw: bool,
    pub values: bool,
    /// The walk's `batched()`, kept after it ends.
    pub batched: std::sync::atomic::AtomicBool,
}

#[pymethods]
impl PyMapCursor {
    /// Up to `n` more elements: (key, value) pairs, or keys for a walk of keys; an empty
    /// list at the end.
    pub fn next_batch<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        self.fill(py, n, &out)?;
        Ok(out)
    }
    /// Whether the walk reads by BPF_MAP_LOOKUP_BATCH (false: one element at a time).
    #[getter]
    fn batched(&self) -> bool {
        self.batched.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Ends the walk.
    fn close(&self) {
        self.cursor.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl PyMapCursor {
    /// Appends up to `n` more elements to `out`; returns how many (0 at the end).
    pub fn fill(&self, py: Python<'_>, n: usize, out: &Bound<'_, PyList>) -> PyResult<usize> {
        let chunk = py.detach(|| -> Result<_> {
            let mut guard = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
            let Some(c) = guard.as_mut() else {
                return Ok(None);
            };
            let chunk = self.handle.fd.with(|fd| c.next_chunk(fd, n))?;
            self.batched
                .store(c.batched(), std::sync::atomic::Ordering::Relaxed);
            let view = c.view().clone();
            if chunk.is_empty() {
                guard.take();
            }
            Ok(Some((view, chunk)))
        })?;
        let Some((view, chunk)) = chunk else {
            return Ok(0);
        };
        let kint = IntCodec::of(&view, view.key_type, view.key_size, self.raw);
        let vint = IntCodec::of(&view, view.value_type, view.value_size, self.raw);
        for i in 0..chunk.len {
            let k = chunk.key(i);
            let key = match kint {
                Some(c) => c.to_py(py, k)?,
                None => key_py(py, &view, k, self.raw)?,
            };
            if self.values {
                let v = chunk.value(i);
                let value = match (vint, is_percpu(view.map_type)) {
                    (Some(c), false) => c.to_py(py, v)?,
                    _ => value_py(py, &view, v, self.raw)?,
                };
                out.append(pyo3::types::PyTuple::new(py, [key, value])?)?;
            } else {
                out.append(key)?;
            }
        }
        Ok(chunk.len)
    }
}

/// A key or value type that is a plain integer of 1, 2, 4 or 8 bytes: turned into an
/// int straight from the bytes, without the general decoder (a big map's walk is mostly
/// that).
#[derive(Clone, Copy)]
struct IntCodec {
    size: usize,
    signed: bool,
}

impl IntCodec {
    fn of(view: &MapView, type_id: u32, size: usize, raw: bool) -> Option<IntCodec> {
        use crate::btf::Type;
        if raw || type_id == 0 {
            return None;
        }
        let btf = view.btf.as_ref()?;
        let id = btf.resolve(type_id).ok()?;
        match btf.type_by_id(id)? {
            Type::Int {
                size: s,
                encoding,
                bit_offset: 0,
                bits,
                ..
            } if *s as usize == size
                && matches!(size, 1 | 2 | 4 | 8)
                && u32::from(*bits) == 8 * *s
                && encoding & 4 == 0 =>
            {
                Some(IntCodec {
                    size,
                    signed: encoding & 1 != 0,
                })
            }
            _ => None,
        }
    }

    fn to_py(self, py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
        use pyo3::IntoPyObjectExt;
        let mut b = [0u8; 8];
        b[..self.size].copy_from_slice(&data[..self.size]);
        let u = u64::from_le_bytes(b);
        if self.signed {
            let shift = 64 - 8 * self.size as u32;
            (((u << shift) as i64) >> shift).into_py_any(py)
        } else {
            u.into_py_any(py)
        }
    }
}

/// `bpfbind map show` of the maps given, in order: bpftool 7.1's plain text, or its
/// `-j` objects, one string per map. Their info is read into one struct, as bpftool
/// reads it (see `read_shown`).
#[pyfunction]
pub fn format_map_show(
    py: Python<'_>,
    maps: Vec<Bound<'_, super::objects::PyMap>>,
    json: bool,
) -> PyResult<Vec<String>> {
    let handles: Vec<Arc<MapHandle>> = maps.iter().map(|m| m.get().handle.clone()).collect();
    Ok(py.detach(|| -> Result<Vec<String>> {
        let mut reused = crate::sys::info::MapInfo::default();
        let mut out = Vec::with_capacity(handles.len());
        for h in &handles {
            let shown =
                h.fd.with(|fd| crate::maps::format::read_shown(fd, &mut reused))?;
            let mut text = String::new();
            if json {
                crate::maps::format::show_json(&shown, &mut text);
            } else {
                crate::maps::format::show_plain(&shown, &mut text);
            }
            out.push(text);
        }
        Ok(out)
    })?)
}

/// `bpfbind map dump` of the maps given (one, or all those of a name): (text, exit
/// status as bpftool's).
#[pyfunction]
#[pyo3(signature = (maps, json=false, pretty=false))]
pub fn format_map_dump(
    py: Python<'_>,
    maps: Vec<Bound<'_, super::objects::PyMap>>,
    json: bool,
    pretty: bool,
) -> PyResult<(String, i32)> {
    let handles: Vec<Arc<MapHandle>> = maps.iter().map(|m| m.get().handle.clone()).collect();
    let d = py.detach(|| -> Result<crate::maps::format::Dump> {
        // Every fd borrowed for the whole dump: nested `with`, one map at a time.
        fn go(
            rest: &[Arc<MapHandle>],
            acc: &mut Vec<(std::os::fd::BorrowedFd<'_>, MapView)>,
            json: bool,
            pretty: bool,
        ) -> Result<crate::maps::format::Dump> {
            match rest.split_first() {
                None => {
                    let refs: Vec<_> = acc.iter().map(|(fd, v)| (*fd, v)).collect();
                    crate::maps::format::dump(&refs, json, pretty)
                }
                Some((h, tail)) => h.fd.with(|fd| {
                    let view = MapView::read(fd)?;
                    let mut inner: Vec<(std::os::fd::BorrowedFd<'_>, MapView)> =
                        acc.iter().map(|(f, v)| (*f, v.clone())).collect();
                    inner.push((fd, view));
                    go(tail, &mut inner, json, pretty)
                }),
            }
        }
        go(&handles, &mut Vec::new(), json, pretty)
    })?;
    Ok((d.text, d.status))
}

/// The ids of every live map, in order.
#[pyfunction]
pub fn map_ids(py: Python<'_>) -> PyResult<Vec<u32>> {
    Ok(py.detach(|| -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut cur = 0;
        while let Some(id) = crate::sys::next_id(crate::sys::IdKind::Map, cur)? {
            out.push(id);
            cur = id;
        }
        Ok(out)
    })?)
}

/// The ids of the live maps whose kernel name is `name` (cut to 15 bytes).
#[pyfunction]
pub fn map_ids_named(py: Python<'_>, name: &str) -> PyResult<Vec<u32>> {
    Ok(py.detach(|| super::objects::map_ids_named(name))?)
}

/// Compact JSON re-indented as bpftool's `-p` prints it.
#[pyfunction]
pub fn pretty_json(text: &str) -> String {
    crate::scan::format::pretty(text)
}
