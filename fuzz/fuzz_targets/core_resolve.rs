//! One CO-RE record against an arbitrary target BTF, with candidates found as the loader
//! finds them. Input: [len][local .BTF][len][target .BTF] then a record (`core_record`).
//! Where the target also parses whole, the lazy and the whole BTF must agree.
#![no_main]

use _native::btf::core::{describe, essential_name, resolve, Cand, Types};
use _native::btf::{Btf, CoreRelo, LazyBtf};
use bpfbind_fuzz::{split, take_u32};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(([local, target], rec)) = split::<2>(data) else {
        return;
    };
    let (type_id, rec) = take_u32(rec);
    let (kind, rec) = take_u32(rec);
    let (extra, rec) = take_u32(rec);
    let Ok(access) = std::str::from_utf8(rec) else {
        return;
    };
    let Ok(local) = Btf::parse(local) else {
        return;
    };
    let Ok(lazy) = LazyBtf::new(target.to_vec()) else {
        return;
    };
    let relo = CoreRelo {
        insn_off: 0,
        type_id,
        access: access.to_owned(),
        kind,
    };
    let _ = describe(&local, &relo);
    let Some(lt) = local.type_by_id(type_id) else {
        return;
    };
    let mut cands: Vec<Cand> = if lt.name().is_empty() {
        Vec::new()
    } else {
        let lk = lt.kind();
        lazy.named(essential_name(lt.name()), |k| LazyBtf::kind_compat(lk, k))
            .into_iter()
            .take(64)
            .map(|id| Cand { target: 0, id })
            .collect()
    };
    if extra != 0 {
        cands.push(Cand {
            target: 0,
            id: extra,
        });
    }
    let mut lazy_cands = cands.clone();
    let by_lazy = resolve(&local, &relo, &[&lazy as &dyn Types], &mut lazy_cands);
    if let Ok(whole) = Btf::parse(target) {
        let mut whole_cands = cands;
        let by_whole = resolve(&local, &relo, &[&whole as &dyn Types], &mut whole_cands);
        assert_eq!(by_lazy, by_whole, "lazy and whole target BTF disagree");
        assert_eq!(lazy_cands, whole_cands);
    }
});
