//! bpfbind's native core: object parsing, BTF, loading, binding and scanning.
//! The Python module `bpfbind._native` is declared in `py/`; everything else is plain Rust.

pub mod btf;
pub mod elf;
pub mod error;
pub mod sys;
pub mod load;
pub mod scan;
pub mod bind;
#[cfg(feature = "python")]
pub mod py;

pub use error::{Error, Result};
