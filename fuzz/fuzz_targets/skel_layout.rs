//! The skeleton generator's type walk (`btf::layout`, behind `object_layout`): from an ELF
//! object as `gen skeleton` reads it, or from a bare `.BTF` for every type id.
#![no_main]

use _native::btf::layout::{desc, var_desc};
use _native::btf::{kind, Btf};
use _native::elf::ObjectSpec;
use libfuzzer_sys::fuzz_target;

fn datasec(btf: &Btf, id: u32) {
    if let Ok(vars) = btf.datasec_vars(id) {
        for (name, tid, _, size) in vars {
            let _ = var_desc(btf, &name, tid, size);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"\x7fELF") {
        let Ok(spec) = ObjectSpec::parse(data, "x") else {
            return;
        };
        let Some(btf) = &spec.btf else {
            return;
        };
        for m in &spec.maps {
            if m.section().is_some() && m.btf_value_type_id != 0 {
                datasec(btf, m.btf_value_type_id);
            }
        }
    } else if let Ok(btf) = Btf::parse(data) {
        for id in 0..btf.types.len().min(256) as u32 {
            let _ = desc(&btf, id);
            if btf.kind_of(id) == kind::DATASEC {
                datasec(&btf, id);
            }
        }
    }
});
