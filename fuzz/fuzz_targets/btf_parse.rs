//! `.BTF` (whole, lazy and split) and `.BTF.ext`. Input: [len][.BTF] then `.BTF.ext`
//! (also tried as a split BTF over the first).
#![no_main]

use _native::btf::core::Types;
use _native::btf::{kind, Btf, BtfExt, LazyBtf};
use bpfbind_fuzz::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(([raw], ext)) = split::<1>(data) else {
        return;
    };
    if let Ok(btf) = Btf::parse(raw) {
        let _ = BtfExt::parse(ext, &btf);
        let _ = Btf::parse_split(ext, &btf);
        for id in 0..btf.types.len().min(256) as u32 {
            let _ = btf.resolve(id);
            let _ = btf.size_of(id);
            let _ = btf.name_of(id);
        }
        let again = Btf::parse(&btf.encode()).expect("an encoded BTF parses");
        assert_eq!(again.types, btf.types, "encode changed the types");
    }
    if let Ok(lazy) = LazyBtf::new(raw.to_vec()) {
        for id in 0..lazy.count().min(256) as u32 + 1 {
            let _ = lazy.ty(id);
        }
        let _ = lazy.find("int", kind::INT);
        let _ = lazy.named("task_struct", |k| LazyBtf::kind_compat(kind::STRUCT, k));
    }
});
