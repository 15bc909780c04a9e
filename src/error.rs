//! The crate's one error type: every failure names what failed and why.
//! Python sees these through `py::errors`, which maps each variant to an exception class.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bpf(2) command (or another syscall) failed with `errno`.
    Sys {
        cmd: &'static str,
        errno: i32,
        context: String,
    },
    /// BPF_PROG_LOAD refused a program; `log` is the whole verifier log.
    Verifier {
        program: String,
        errno: i32,
        log: String,
        /// What bpfbind knows about the rejection beyond the log (a poisoned CO-RE
        /// instruction the verifier reached); empty otherwise.
        hint: String,
    },
    /// The object file (or BTF blob) is malformed.
    Format {
        section: String,
        offset: u64,
        msg: String,
    },
    /// A BPF_PROG_BIND_MAP the kernel does not know (pre-5.10).
    BindMapUnsupported { errno: i32 },
    /// The caller asked for something that does not make sense.
    Invalid(String),
    /// A program, map or pin the caller named does not exist.
    NotFound(String),
    /// A valid object uses a feature bpfbind cannot load (yet); `feature` names it.
    Unsupported { feature: String, detail: String },
    /// The object cannot be loaded as asked on this system (a pinned map of another shape,
    /// a missing attach target): a BpfError with `errno`, no bpf command.
    Refused { errno: i32, msg: String },
    /// A CO-RE relocation could not be applied (libbpf refuses the same object).
    Core { program: String, msg: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn format(section: impl Into<String>, offset: u64, msg: impl Into<String>) -> Self {
        Error::Format {
            section: section.into(),
            offset,
            msg: msg.into(),
        }
    }

    pub fn unsupported(feature: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Unsupported {
            feature: feature.into(),
            detail: detail.into(),
        }
    }

    pub fn sys(cmd: &'static str, errno: i32, context: impl Into<String>) -> Self {
        Error::Sys {
            cmd,
            errno,
            context: context.into(),
        }
    }

    /// The errno behind the error, where there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Sys { errno, .. }
            | Error::Verifier { errno, .. }
            | Error::Refused { errno, .. }
            | Error::BindMapUnsupported { errno } => Some(*errno),
            _ => None,
        }
    }
}

/// Whether this process holds CAP_BPF or CAP_SYS_ADMIN (from /proc/self/status), so an
/// EPERM can be blamed on privileges only where they are missing.
fn has_bpf_capability() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_BPF: u32 = 39;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_BPF) != 0 || caps & (1 << CAP_SYS_ADMIN) != 0)
}

fn strerror(errno: i32) -> String {
    // The kernel-internal ENOTSUPP leaks to user space from bpf(2); libc has no name for it.
    if errno == 524 {
        return "Operation not supported by the kernel for this object (ENOTSUPP)".into();
    }
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; the errno is carried separately.
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys {
                cmd,
                errno,
                context,
            } => {
                write!(f, "{cmd} failed: {}", strerror(*errno))?;
                if !context.is_empty() {
                    write!(f, " ({context})")?;
                }
                if *errno == libc::EPERM {
                    if !has_bpf_capability() {
                        write!(f, "; bpf(2) needs root or CAP_BPF (with CAP_PERFMON/CAP_NET_ADMIN for most program types)")?;
                    } else if *cmd == "BPF_MAP_UPDATE_ELEM" || *cmd == "BPF_MAP_DELETE_ELEM" {
                        write!(f, "; the map is frozen or read-only to user space")?;
                    }
                }
                Ok(())
            }
            Error::Verifier {
                program,
                errno,
                log,
                hint,
            } => {
                write!(
                    f,
                    "the verifier rejected program '{program}': {}",
                    strerror(*errno)
                )?;
                if !hint.is_empty() {
                    write!(f, "; {hint}")?;
                }
                if !log.is_empty() {
                    write!(f, "\nverifier log:\n{}", log.trim_end())?;
                }
                Ok(())
            }
            Error::Format {
                section,
                offset,
                msg,
            } => write!(
                f,
                "malformed BPF object: section '{section}' at offset {offset:#x}: {msg}"
            ),
            Error::BindMapUnsupported { errno } => write!(
                f,
                "BPF_PROG_BIND_MAP is not supported by this kernel (needs Linux 5.10+): {}",
                strerror(*errno)
            ),
            Error::Invalid(msg) => f.write_str(msg),
            Error::NotFound(msg) => f.write_str(msg),
            Error::Refused { msg, .. } => f.write_str(msg),
            Error::Unsupported { feature, detail } => {
                write!(f, "unsupported feature: {feature}")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Error::Core { program, msg } => {
                write!(f, "program '{program}': CO-RE relocation failed: {msg}")
            }
        }
    }
}

impl std::error::Error for Error {}
