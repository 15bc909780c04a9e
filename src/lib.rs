//! bpfbind's native core: object parsing, BTF, loading, binding and scanning.
//! The Python module `bpfbind._native` is declared in `py/`; everything else is plain Rust.

pub mod attach;
pub mod bind;
pub mod btf;
pub mod elf;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod maps;
#[cfg(feature = "python")]
pub mod py;
pub mod scan;
pub mod sys;

pub use error::{Error, Result};
