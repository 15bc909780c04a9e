//! BTF: parse `.BTF` / `.BTF.ext`, fill in what clang leaves out, re-encode for BTF_LOAD,
//! and decode values (into `Value` for Python, or bpftool-identical JSON). Pure: no syscalls.

mod types;
pub use types::*;
