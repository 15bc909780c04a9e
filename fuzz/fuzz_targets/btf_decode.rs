//! Metadata values: `Value` decoding and bpftool's printer, for one type and for every
//! DATASEC. Input: [len][.BTF] then type id (u32), flags (u8) and the value's bytes.
#![no_main]

use _native::btf::{kind, BpftoolVersion, Btf, DumpOptions};
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
    let (type_id, rest) = take_u32(rest);
    let (flags, value) = rest.split_first().map_or((0, &[][..]), |(f, v)| (*f, v));
    let opts = DumpOptions {
        plain: flags & 1 != 0,
        bpftool: VERSIONS[usize::from(flags >> 1) & 3],
    };
    let prefix = (flags & 8 != 0).then_some("bpf_metadata_");
    let _ = btf.decode(type_id, value);
    let mut out = String::new();
    let _ = btf.dump_json(type_id, value, &mut out);
    out.clear();
    let _ = btf.dump_value(type_id, value, opts, &mut out);
    let datasecs = btf
        .types
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind() == kind::DATASEC)
        .map(|(i, _)| i as u32)
        .take(8);
    for id in datasecs {
        let _ = btf.datasec_vars(id);
        let _ = btf.decode_datasec(id, value, prefix);
        let _ = btf.dump_datasec_json(id, value, prefix);
        let _ = btf.dump_datasec(id, value, prefix, opts);
    }
});
