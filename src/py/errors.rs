//! Rust errors -> the exception classes of `bpfbind.errors` (an OSError hierarchy that keeps
//! errno, the failed command, and the verifier log).

use pyo3::prelude::*;

use crate::error::Error;

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let errors = py.import("bpfbind.errors")?;
    let msg = e.to_string();
    let err = match e {
        Error::Invalid(_) => errors
            .getattr("InvalidArgumentError")?
            .call1((libc::EINVAL, msg))?,
        Error::Sys { cmd, errno, .. } => {
            let cls = match *errno {
                libc::EPERM | libc::EACCES => "BpfPermissionError",
                libc::ENOENT => "BpfNotFoundError",
                _ => "BpfError",
            };
            let inst = errors.getattr(cls)?.call1((*errno, msg))?;
            inst.setattr("command", *cmd)?;
            inst
        }
        Error::Verifier {
            program,
            errno,
            log,
            ..
        } => {
            let inst = errors.getattr("VerifierError")?.call1((*errno, msg))?;
            inst.setattr("command", "BPF_PROG_LOAD")?;
            inst.setattr("program", program.as_str())?;
            inst.setattr("log", log.as_str())?;
            inst
        }
        Error::Format {
            section, offset, ..
        } => {
            let inst = errors.getattr("ObjectFormatError")?.call1((msg,))?;
            inst.setattr("section", section.as_str())?;
            inst.setattr("offset", *offset)?;
            inst
        }
        Error::BindMapUnsupported { errno } => {
            let inst = errors.getattr("BindMapUnsupported")?.call1((*errno, msg))?;
            inst.setattr("command", "BPF_PROG_BIND_MAP")?;
            inst
        }
        Error::Refused { errno, .. } => {
            let cls = match *errno {
                libc::ENOENT => "BpfNotFoundError",
                _ => "BpfError",
            };
            errors.getattr(cls)?.call1((*errno, msg))?
        }
        Error::Unsupported { feature, .. } => {
            let inst = errors.getattr("UnsupportedFeatureError")?.call1((msg,))?;
            inst.setattr("feature", feature.as_str())?;
            inst
        }
        Error::Core { program, .. } => {
            let inst = errors
                .getattr("CoreRelocationError")?
                .call1((libc::EINVAL, msg))?;
            inst.setattr("program", program.as_str())?;
            inst
        }
        Error::NotFound(_) => {
            let inst = errors
                .getattr("BpfNotFoundError")?
                .call1((libc::ENOENT, msg))?;
            inst
        }
    };
    Ok(PyErr::from_value(err))
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| build(py, &e).unwrap_or_else(|import_err| import_err))
    }
}
