//! `LoadOptions`: one load request (the object, its name, the edits before load and how
//! to load it), built once from `load_object()`'s keywords and taken whole by the sync
//! and async loads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;

use crate::elf::SpecEdits;
use crate::error::{Error, Result};
use crate::load::{self, LoadedObject, ObjectSource};

use super::objects::{wrap, PyObject_};

/// What `load::load_object` takes, shared with a job running it.
#[derive(Debug)]
pub struct Request {
    source: ObjectSource,
    name: String,
    opts: load::LoadOptions,
}

impl Request {
    pub fn run(&self) -> Result<LoadedObject> {
        load::load_object(&self.source, &self.name, &self.opts)
    }
}

/// A load request, checked when built: `data` (ELF bytes) or `path` (read when the load
/// runs), the object's name, the pins, the binding path and the edits.
#[pyclass(frozen, module = "bpfbind._native", name = "LoadOptions")]
pub struct PyLoadOptions {
    pub request: Arc<Request>,
}

#[pymethods]
impl PyLoadOptions {
    #[new]
    #[pyo3(signature = (*, name, data=None, path=None, pin_dir=None, pin_maps=None, bind="auto", initial=None, btf_path=None, map_edits=None, autoload=None, attach_target=None, replace=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        data: Option<Vec<u8>>,
        path: Option<PathBuf>,
        pin_dir: Option<PathBuf>,
        pin_maps: Option<PathBuf>,
        bind: &str,
        initial: Option<HashMap<String, Vec<u8>>>,
        btf_path: Option<PathBuf>,
        map_edits: Option<HashMap<String, HashMap<String, u64>>>,
        autoload: Option<HashMap<String, bool>>,
        attach_target: Option<HashMap<String, String>>,
        replace: bool,
    ) -> PyResult<Self> {
        let source = match (data, path) {
            (Some(d), None) => ObjectSource::Bytes(d),
            (None, Some(p)) => ObjectSource::File(p),
            _ => return Err(Error::Invalid("give exactly one of data or path".into()).into()),
        };
        let mut opts = load::LoadOptions {
            pin_maps,
            pin_programs: pin_dir,
            replace_pins: replace,
            btf_path,
            edits: SpecEdits {
                initial: initial.unwrap_or_default(),
                maps: map_edits.unwrap_or_default(),
                autoload: autoload.unwrap_or_default(),
                attach_target: attach_target.unwrap_or_default(),
            },
            ..Default::default()
        };
        opts.set_bind(bind)?;
        Ok(PyLoadOptions {
            request: Arc::new(Request { source, name, opts }),
        })
    }

    /// Where the load pins its programs, if it does.
    #[getter]
    fn pin_dir(&self) -> Option<PathBuf> {
        self.request.opts.pin_programs.clone()
    }

    /// The object's name (libbpf's: the file name up to its first dot by default).
    #[getter]
    fn name(&self) -> &str {
        &self.request.name
    }
}

/// Loads what `options` names; every syscall (and reading the file) runs without the GIL.
#[pyfunction]
pub fn load_object(py: Python<'_>, options: &Bound<'_, PyLoadOptions>) -> PyResult<PyObject_> {
    let request = options.get().request.clone();
    let loaded = py.detach(|| request.run())?;
    wrap(py, loaded)
}
