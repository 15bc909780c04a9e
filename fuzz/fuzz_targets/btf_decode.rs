//! Metadata values: `Value` decoding and bpftool's printer, for one type and for a
//! DATASEC. Input: [len][.BTF] then type id (u32), flags (u8) and the value's bytes.
//! Flags: bit 0 plain text, bits 1-2 the bpftool version, bit 3 the metadata prefix,
//! bits 4-6 which one reader runs: each may spend its whole output budget on a small
//! input (zero-sized elements), so one reader an input keeps executions cheap while
//! mutations of the flags reach every reader.
#![no_main]

use _native::btf::{BpftoolVersion, Btf, DumpOptions};
use bpfbind_fuzz::{split, take_u32};
use libfuzzer_sys::fuzz_target;

const VERSIONS: [BpftoolVersion; 4] = [
    BpftoolVersion::LATEST,
    BpftoolVersion::V7_1,
    BpftoolVersion { major: 7, minor: 2 },
    BpftoolVersion { major: 7, minor: 3 },
];

fuzz_target!(|data: &[u8]| {
    let Some(([raw], rest)) = split::<1>(data) else {
        return;
    };
    let Ok(btf) = Btf::parse(raw) else {
        return;
    };
    let (id, rest) = take_u32(rest);
    let (flags, value) = rest.split_first().map_or((0, &[][..]), |(f, v)| (*f, v));
    let opts = DumpOptions {
        plain: flags & 1 != 0,
        bpftool: VERSIONS[usize::from(flags >> 1) & 3],
    };
    let prefix = (flags & 8 != 0).then_some("bpf_metadata_");
    let mut out = String::new();
    // Any id: the DATASEC readers must refuse what is not one.
    match (flags >> 4) & 7 {
        0 => drop(btf.decode(id, value)),
        1 => drop(btf.dump_json(id, value, &mut out)),
        2 => drop(btf.dump_value(id, value, opts, &mut out)),
        3 => drop(btf.datasec_vars(id)),
        4 => drop(btf.decode_datasec(id, value, prefix)),
        5 => drop(btf.dump_datasec_json(id, value, prefix)),
        _ => drop(btf.dump_datasec(id, value, prefix, opts)),
    }
});
