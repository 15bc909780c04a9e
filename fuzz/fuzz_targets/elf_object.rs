//! The ELF object parser on arbitrary bytes, and the BTF re-encoding a load does next.
#![no_main]

use _native::elf::ObjectSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = ObjectSpec::parse(data, "x") {
        if let Some(btf) = &spec.btf {
            let _ = btf.encode();
        }
    }
});
