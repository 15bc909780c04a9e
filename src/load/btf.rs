//! The object's BTF as the running kernel takes it: which BTF kinds the kernel knows
//! (probed once, by loading a tiny BTF of each, as libbpf probes), the object's BTF
//! rewritten for it (`Btf::sanitized`), and loaded.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use crate::btf::{Btf, BtfKinds, Param, Type, VarSecInfo};
use crate::elf::ObjectSpec;
use crate::error::Result;
use crate::sys;

/// Names kinds (`func,float,...` or `all`) to treat as unknown to the kernel, whatever
/// the probes say: libbpf's rewrites can then be seen at work on a kernel that has
/// every kind. For tests and for reproducing an old kernel's view.
pub const PRETEND_ENV: &str = "BPFBIND_PRETEND_BTF_LACKS";

fn int() -> Type {
    Type::int("int", 4, 1, 32)
}

fn accepted(types: Vec<Type>) -> bool {
    let mut all = vec![Type::Void];
    all.extend(types);
    let btf = Btf {
        types: all,
        strings: Vec::new(),
    };
    sys::btf_load(&btf.encode()).is_ok()
}

fn func(linkage: u32) -> Vec<Type> {
    vec![
        int(),
        Type::FuncProto {
            ret: 1,
            params: vec![Param {
                name: "x".into(),
                type_id: 1,
            }],
        },
        Type::Func {
            name: "f".into(),
            type_id: 2,
            linkage,
        },
    ]
}

fn datasec(name: &str) -> Vec<Type> {
    vec![
        int(),
        Type::Var {
            name: "v".into(),
            type_id: 1,
            linkage: 0,
        },
        Type::Datasec {
            name: name.into(),
            size: 4,
            vars: vec![VarSecInfo {
                type_id: 2,
                offset: 0,
                size: 4,
            }],
        },
    ]
}

fn probe() -> BtfKinds {
    BtfKinds {
        func: accepted(func(0)),
        global_func: accepted(func(1)),
        datasec: accepted(datasec(".data")),
        qmark_datasec: accepted(datasec("?.data")),
        float: accepted(vec![Type::Float {
            name: "float".into(),
            size: 4,
        }]),
        decl_tag: accepted({
            let mut t = datasec(".data");
            t.push(Type::DeclTag {
                name: "tag".into(),
                type_id: 2,
                component_idx: -1,
            });
            t
        }),
        type_tag: accepted(vec![
            int(),
            Type::TypeTag {
                name: "tag".into(),
                type_id: 1,
            },
            Type::Ptr { type_id: 2 },
        ]),
        enum64: accepted(vec![Type::Enum {
            name: "e".into(),
            size: 8,
            signed: false,
            values: vec![("A".into(), 1 << 40)],
            is64: true,
        }]),
    }
}

/// The BTF kinds of the running kernel (probed once per process), less those
/// `BPFBIND_PRETEND_BTF_LACKS` names.
pub fn kernel_kinds() -> BtfKinds {
    static KINDS: OnceLock<BtfKinds> = OnceLock::new();
    let kinds = *KINDS.get_or_init(probe);
    match std::env::var(PRETEND_ENV) {
        Ok(list) => kinds.without(&list),
        Err(_) => kinds,
    }
}

/// The object's BTF, rewritten for the kernel's kinds where it must be (silently, as
/// libbpf does: instructions are untouched), and loaded for its maps and programs to
/// refer to; with the kinds, which decide whether programs may carry func_info.
pub fn load(spec: &ObjectSpec) -> Result<(Option<OwnedFd>, BtfKinds)> {
    let Some(btf) = &spec.btf else {
        return Ok((None, BtfKinds::default()));
    };
    let kinds = kernel_kinds();
    let data = match btf.sanitized(&kinds) {
        Some(fixed) => fixed.encode(),
        None => btf.encode(),
    };
    Ok((Some(sys::btf_load(&data)?), kinds))
}
