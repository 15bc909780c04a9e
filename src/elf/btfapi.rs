//! The few BTF calls elf/ makes, in one place: btf/ owns parsing, fix-up and type queries,
//! elf/ only asks.

use crate::btf::{Btf, BtfExt, Type};
use crate::error::Result;

pub(super) fn parse(data: &[u8]) -> Result<Btf> {
    Btf::parse(data)
}

pub(super) fn parse_ext(data: &[u8], btf: &Btf) -> Result<BtfExt> {
    BtfExt::parse(data, btf)
}

pub(super) fn fixup_datasecs(
    btf: &mut Btf,
    section_size: &dyn Fn(&str) -> Option<u32>,
    symbol_offset: &dyn Fn(&str, &str) -> Option<u32>,
) -> Result<()> {
    btf.fixup_datasecs(section_size, symbol_offset)
}

pub(super) fn type_by_id(btf: &Btf, id: u32) -> Option<&Type> {
    btf.type_by_id(id)
}

/// Through typedef, const, volatile, restrict and type tags; None for a broken chain.
pub(super) fn resolve(btf: &Btf, id: u32) -> Option<u32> {
    btf.resolve(id).ok()
}

pub(super) fn size_of(btf: &Btf, id: u32) -> Result<u32> {
    btf.size_of(id)
}

pub(super) fn find(btf: &Btf, name: &str, kind: u32) -> Option<u32> {
    btf.find(name, kind)
}
