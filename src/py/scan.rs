//! `Scanner` and `ProgramInfo`: batches of scan records, converted to Python lazily (a
//! field becomes a Python object only when read), and bpftool-format rendering.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::error::Error;
use crate::scan::pids::{self, Holders};
use crate::scan::prom::{self, Exposition};
use crate::scan::{self, format, ProgRecord, ScanOptions, Scanner};

use super::values::to_py;

/// One loaded program as a scan read it: bpftool's `prog show` fields and the decoded
/// metadata. A record of that moment: it holds no fd and outlives the program.
#[pyclass(frozen, module = "bpfbind._native", name = "ProgramInfo")]
pub struct PyProgramInfo {
    pub rec: ProgRecord,
}

#[pymethods]
impl PyProgramInfo {
    /// The program's kernel id.
    #[getter]
    fn id(&self) -> u32 {
        self.rec.id
    }
    /// The program type as bpftool names it ("xdp", "kprobe", ...).
    #[getter]
    fn r#type(&self) -> String {
        format::prog_type_label(self.rec.prog_type)
    }
    /// The kernel's program type number (`bpfbind.ProgType`).
    #[getter]
    fn prog_type(&self) -> u32 {
        self.rec.prog_type
    }
    /// The name as bpftool prints it: the BTF function name when the kernel's is cut at 15 bytes.
    #[getter]
    fn name(&self) -> &str {
        &self.rec.name
    }
    /// The name the kernel holds (at most 15 bytes).
    #[getter]
    fn kernel_name(&self) -> &str {
        &self.rec.kernel_name
    }
    /// The kernel's tag of the instructions, 16 hex digits.
    #[getter]
    fn tag(&self) -> String {
        format::tag_hex(&self.rec.tag)
    }
    /// Whether the license is GPL-compatible.
    #[getter]
    fn gpl_compatible(&self) -> bool {
        self.rec.gpl_compatible
    }
    /// Total run time in ns, counted while BPF stats are enabled.
    #[getter]
    fn run_time_ns(&self) -> u64 {
        self.rec.run_time_ns
    }
    /// Runs, counted while BPF stats are enabled.
    #[getter]
    fn run_cnt(&self) -> u64 {
        self.rec.run_cnt
    }
    /// Runs skipped because the program was already running on that CPU.
    #[getter]
    fn recursion_misses(&self) -> u64 {
        self.rec.recursion_misses
    }
    /// Seconds since the epoch (bpftool's JSON `loaded_at`).
    #[getter]
    fn loaded_at(&self) -> i64 {
        format::wallclock_secs(self.rec.load_time)
    }
    /// The uid that loaded the program.
    #[getter]
    fn uid(&self) -> u32 {
        self.rec.uid
    }
    /// Bytes of instructions after the verifier.
    #[getter]
    fn bytes_xlated(&self) -> u32 {
        self.rec.bytes_xlated
    }
    /// Whether the program is JIT-compiled.
    #[getter]
    fn jited(&self) -> bool {
        self.rec.bytes_jited != 0
    }
    /// Bytes of JIT-compiled code.
    #[getter]
    fn bytes_jited(&self) -> u32 {
        self.rec.bytes_jited
    }
    /// Locked memory as /proc's fdinfo says; None unless the scan asked (`memlock=True`).
    #[getter]
    fn bytes_memlock(&self) -> Option<u64> {
        self.rec.bytes_memlock
    }
    /// The ids of the maps the program holds, metadata maps included.
    #[getter]
    fn map_ids(&self) -> Vec<u32> {
        self.rec.map_ids.clone()
    }
    /// The kernel id of the program's BTF (0 without).
    #[getter]
    fn btf_id(&self) -> u32 {
        self.rec.btf_id
    }
    /// Both conventions: `bpf_metadata_*` of every `.rodata` map, then `.metadata`.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for v in self.rec.metadata() {
            d.set_item(&v.name, to_py(py, &v.value)?)?;
        }
        Ok(d)
    }
    /// (pid, comm) of each process holding the program, in pid order; None unless the
    /// scan asked for pids.
    #[getter]
    fn pids(&self) -> Option<Vec<(u32, String)>> {
        self.rec
            .pids
            .as_ref()
            .map(|p| p.iter().map(|h| (h.pid, h.comm.clone())).collect())
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<ProgramInfo id={} type={} name={} tag={} metadata={}>",
            self.rec.id,
            self.r#type(),
            self.rec.name,
            self.tag(),
            self.metadata(py)?.repr()?
        ))
    }
}

/// A scan of the loaded programs in id order, read in batches (`next_batch`); filters by
/// ids, name, type and tag, and whether to read metadata, memlock and pids.
#[pyclass(frozen, module = "bpfbind._native", name = "Scanner")]
pub struct PyScanner {
    inner: Mutex<Option<Scanner>>,
}

#[pymethods]
impl PyScanner {
    #[new]
    #[pyo3(signature = (ids=None, name=None, prog_type=None, tag=None, with_metadata_only=false, json=false, memlock=false, threads=0, census=true, pids=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ids: Option<Vec<u32>>,
        name: Option<String>,
        prog_type: Option<u32>,
        tag: Option<String>,
        with_metadata_only: bool,
        json: bool,
        memlock: bool,
        threads: usize,
        census: bool,
        pids: bool,
    ) -> PyResult<Self> {
        let tag = match tag {
            Some(t) => Some(parse_tag(&t)?),
            None => None,
        };
        Ok(PyScanner {
            inner: Mutex::new(Some(Scanner::new(
                ScanOptions {
                    name,
                    prog_type,
                    tag,
                    with_metadata_only,
                    json,
                    memlock,
                    threads,
                    // BPFBIND_SCAN_CENSUS=0: scan without loading the census program.
                    census: census
                        && std::env::var_os("BPFBIND_SCAN_CENSUS").is_none_or(|v| v != "0"),
                    pids,
                },
                ids,
            ))),
        })
    }

    /// Up to `n` records in id order; an empty list when the scan is over.
    fn next_batch<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let recs = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_mut() {
                Some(s) => s.next_batch(n),
                None => Ok(Vec::new()),
            }
        })?;
        let list = PyList::empty(py);
        for rec in recs {
            list.append(Py::new(py, PyProgramInfo { rec })?)?;
        }
        Ok(list)
    }

    /// Whether the scan classifies maps by a census of all maps (from its second batch).
    #[getter]
    fn uses_census(&self) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(Scanner::uses_census)
    }

    /// Why the census could not be taken, if it was tried and failed.
    #[getter]
    fn census_error(&self) -> Option<String> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .and_then(Scanner::census_error)
            .map(ToString::to_string)
    }

    /// The holders table the scan took (None before its first batch, or without pids).
    #[getter]
    fn holders(&self) -> Option<PyPidTable> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .and_then(Scanner::holders)
            .map(|h| PyPidTable {
                inner: Arc::clone(h),
            })
    }

    /// Drops the caches; later batches are empty.
    fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn parse_tag(t: &str) -> PyResult<[u8; 8]> {
    let bytes: Vec<u8> = (0..t.len())
        .step_by(2)
        .filter_map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    <[u8; 8]>::try_from(bytes.as_slice())
        .ok()
        .filter(|_| t.len() == 16)
        .ok_or_else(|| Error::Invalid(format!("tag {t:?} is not 16 hex digits")).into())
}

/// The map census as a scan takes it: (covered_to, census program id, candidates as
/// (id, btf_id, btf_value_type_id, value_size, frozen, name, value read or None)). For
/// tests and diagnosis.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn map_census(
    py: Python<'_>,
) -> PyResult<(
    u32,
    u32,
    Vec<(u32, u32, u32, u32, bool, String, Option<Vec<u8>>)>,
)> {
    let census = py.detach(crate::scan::census::take)?;
    let rows = census
        .candidates()
        .iter()
        .map(|c| {
            (
                c.id,
                c.btf_id,
                c.btf_value_type_id,
                c.value_size,
                c.frozen,
                c.name().to_string(),
                census.value(c).map(<[u8]>::to_vec),
            )
        })
        .collect();
    Ok((census.covered_to(), census.prog_id, rows))
}

/// Which processes hold which programs, taken at one moment (`scan::pids`).
#[pyclass(frozen, module = "bpfbind._native", name = "PidTable")]
pub struct PyPidTable {
    inner: Arc<Holders>,
}

#[pymethods]
impl PyPidTable {
    /// How the table was taken: "iterator" or "procfs".
    #[getter]
    fn method(&self) -> &'static str {
        self.inner.method.map_or("procfs", pids::Method::name)
    }

    /// Why the iterator was not used, when /proc was.
    #[getter]
    fn iterator_error(&self) -> Option<String> {
        self.inner.iterator_error.as_ref().map(ToString::to_string)
    }

    /// The iterator program's id (0 for /proc), gone once the table is taken.
    #[getter]
    fn prog_id(&self) -> u32 {
        self.inner.prog_id
    }

    /// (pid, comm) of each process holding program `id`, in pid order.
    fn get(&self, id: u32) -> Vec<(u32, String)> {
        self.inner
            .get(id)
            .iter()
            .map(|h| (h.pid, h.comm.clone()))
            .collect()
    }

    /// The ids of every program some process holds.
    fn prog_ids(&self) -> Vec<u32> {
        self.inner.prog_ids()
    }
}

/// Takes the table of program holders: `method` "auto" (the iterator where it loads,
/// else /proc), "iterator" or "procfs".
#[pyfunction]
#[pyo3(signature = (method="auto"))]
pub fn program_holders(py: Python<'_>, method: &str) -> PyResult<PyPidTable> {
    let want = match method {
        "auto" => pids::Want::Auto,
        "iterator" => pids::Want::Iterator,
        "procfs" => pids::Want::Procfs,
        m => {
            return Err(Error::Invalid(format!(
                "method {m:?}: expected \"auto\", \"iterator\" or \"procfs\""
            ))
            .into())
        }
    };
    let h = py.detach(|| pids::gather(want))?;
    Ok(PyPidTable { inner: Arc::new(h) })
}

/// The program behind an fd the caller holds (the fd is borrowed, not closed); `holders`
/// (taken before the fd was opened) gives its pids.
#[pyfunction]
#[pyo3(signature = (fd, json=false, holders=None))]
pub fn read_program(
    py: Python<'_>,
    fd: i32,
    json: bool,
    holders: Option<&Bound<'_, PyPidTable>>,
) -> PyResult<PyProgramInfo> {
    let holders = holders.map(|h| Arc::clone(&h.get().inner));
    let rec = py.detach(|| {
        let owned = crate::bind::dup(fd)?;
        scan::read_fd(
            &owned,
            &ScanOptions {
                json,
                memlock: true,
                ..Default::default()
            },
            holders,
        )
    })?;
    Ok(PyProgramInfo { rec })
}

fn records<'a>(items: &'a [Bound<'a, PyProgramInfo>]) -> impl Iterator<Item = &'a ProgRecord> {
    items.iter().map(|i| &i.get().rec)
}

/// bpftool's plain `prog show` text of the records.
#[pyfunction]
#[pyo3(signature = (items, metadata_only=false))]
pub fn format_plain(items: Vec<Bound<'_, PyProgramInfo>>, metadata_only: bool) -> String {
    let mut out = String::new();
    for r in records(&items) {
        format::plain(r, metadata_only, &mut out);
    }
    out
}

/// bpftool's JSON: a list, or one object when `single`; `pretty` indents as bpftool's -p;
/// `metadata_only` keeps each program's id, type, name, tag and metadata.
#[pyfunction]
#[pyo3(signature = (items, single=false, pretty=false, metadata_only=false))]
pub fn format_json(
    items: Vec<Bound<'_, PyProgramInfo>>,
    single: bool,
    pretty: bool,
    metadata_only: bool,
) -> String {
    let mut out = String::new();
    if !single {
        out.push('[');
    }
    for (i, r) in records(&items).enumerate() {
        if i > 0 {
            out.push(',');
        }
        format::json(r, metadata_only, &mut out);
    }
    if !single {
        out.push(']');
    }
    if pretty {
        format::pretty(&out)
    } else {
        out
    }
}

/// A JSON object of (name, JSON text of the value) pairs, names escaped as `prog show`
/// escapes them; `pretty` indents as bpftool's -p.
#[pyfunction]
#[pyo3(signature = (members, pretty=false))]
pub fn json_object(members: Vec<(String, String)>, pretty: bool) -> String {
    format::json_object(
        members.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        pretty,
    )
}

/// A string as JSON text, escaped as `prog show -j` escapes names.
#[pyfunction]
pub fn json_string(s: &str) -> String {
    let mut out = String::new();
    format::json_str(s, &mut out);
    out
}

/// A name as `prog show` prints it in plain text: control characters as `?`.
#[pyfunction]
pub fn printable_name(s: &str) -> String {
    format::sanitize_name(s)
}

/// The exporter's renderer (`scan::prom`): `collect()` scans every program and returns
/// the per-program families' text, keeping each program's lines for the next call.
#[pyclass(frozen, module = "bpfbind._native", name = "Exposition")]
pub struct PyExposition {
    inner: Mutex<Exposition>,
}

#[pymethods]
impl PyExposition {
    #[new]
    #[pyo3(signature = (metadata_labels=None))]
    fn new(metadata_labels: Option<HashSet<String>>) -> Self {
        PyExposition {
            inner: Mutex::new(Exposition::new(metadata_labels)),
        }
    }

    /// One scan, in batches of `batch` records: (family texts, None where unchanged since
    /// the last call; programs by type; programs by metadata key). A failed scan keeps
    /// the last call's programs.
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (batch=1024))]
    fn collect<'py>(
        &self,
        py: Python<'py>,
        batch: usize,
    ) -> PyResult<(
        Vec<Option<Bound<'py, PyBytes>>>,
        Vec<(String, u64)>,
        Vec<(String, u64)>,
    )> {
        let rendered = py.detach(|| {
            let mut expo = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let mut scanner = Scanner::new(
                ScanOptions {
                    json: true,
                    census: std::env::var_os("BPFBIND_SCAN_CENSUS").is_none_or(|v| v != "0"),
                    ..ScanOptions::default()
                },
                None,
            );
            loop {
                match scanner.next_batch(batch.max(1)) {
                    Ok(recs) if recs.is_empty() => break,
                    Ok(recs) => expo.add(&recs.iter().collect::<Vec<_>>()),
                    Err(e) => {
                        expo.abandon();
                        return Err(e);
                    }
                }
            }
            Ok(expo.finish())
        })?;
        let families = rendered
            .families
            .iter()
            .map(|f| f.as_ref().map(|t| PyBytes::new(py, t.as_bytes())))
            .collect();
        Ok((families, rendered.by_type, rendered.by_key))
    }

    /// The label a metadata key becomes (see `scan::prom::label_name`).
    #[staticmethod]
    fn label_name(key: &str) -> String {
        prom::label_name(key)
    }

    /// A sample value as the text format writes it (prometheus_client's floatToGoString).
    #[staticmethod]
    fn number(v: f64) -> String {
        prom::go_number(v)
    }

    /// The per-program families: (name, type, help), counters named without `_total`.
    #[staticmethod]
    fn families() -> Vec<(&'static str, &'static str, &'static str)> {
        prom::FAMILIES.to_vec()
    }
}
