//! BTF: parse `.BTF` / `.BTF.ext`, fill in what clang leaves out, re-encode for BTF_LOAD,
//! and decode values (into `Value` for Python, or bpftool-identical JSON). Pure: no syscalls.

mod cdump;
pub mod core;
mod decode;
mod dump;
mod encode;
mod ext;
mod fixup;
mod index;
pub mod layout;
mod lazy;
mod lookup;
mod pack;
mod parse;
mod sanitize;
#[cfg(test)]
pub(crate) mod testutil;
mod types;

pub use cdump::c_header;
pub use dump::{
    json_escape, json_escape_str, json_escape_str_for, BpftoolVersion, DumpOptions, JsonRules,
};
pub use index::{BtfIndex, MemberAt};
pub use lazy::LazyBtf;
pub(crate) use lookup::kind_name;
pub use sanitize::BtfKinds;
pub use types::*;
