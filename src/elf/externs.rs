//! Extern symbols of an object (`.kconfig` and `.ksyms`), collected, ordered and laid out
//! the way libbpf's `bpf_object__collect_externs` does, with the BTF rewritten as it is.

use crate::btf::{kind, Btf, Type, VarSecInfo};
use crate::error::{Error, Result};

use super::model::{Extern, ExternKind, KcfgType, Kconfig, MapOrigin, MapSpec};
use super::reader::{RawElf, STB_WEAK};
use super::sections::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};

pub const KCONFIG_SEC: &str = ".kconfig";
pub const KSYMS_SEC: &str = ".ksyms";
const BTF_VAR_GLOBAL_ALLOCATED: u32 = 1;
const BTF_VAR_GLOBAL_EXTERN: u32 = 2;
const BTF_FUNC_GLOBAL: u32 = 1;
const BTF_FUNC_EXTERN: u32 = 2;
/// The name libbpf gives the VAR that stands in for kfuncs in the `.ksyms` DATASEC.
const DUMMY_KSYM: &str = "dummy_ksym";
const PTR_SIZE: u32 = 8;

fn err(msg: String) -> Error {
    Error::format(".BTF", 0, msg)
}

/// Through typedefs and modifiers; the id reached.
fn skip_mods(btf: &Btf, mut id: u32) -> u32 {
    for _ in 0..64 {
        match btf.type_by_id(id) {
            Some(
                Type::Typedef { type_id, .. }
                | Type::Volatile { type_id }
                | Type::Const { type_id }
                | Type::Restrict { type_id }
                | Type::TypeTag { type_id, .. },
            ) => id = *type_id,
            _ => break,
        }
    }
    id
}

/// How many types one alignment may look at: a struct shared by every member of the
/// struct above it, level after level, is otherwise looked at exponentially often.
const MAX_ALIGN_STEPS: u32 = 1 << 16;

/// The most bytes the `.kconfig` map's value may take (as for any data section's map).
const MAX_KCONFIG_SIZE: u32 = 1 << 30;

/// libbpf's btf__align_of, for the types a kconfig extern can have (and pointers).
fn align_of(btf: &Btf, id: u32, depth: u32, steps: &mut u32) -> Option<u32> {
    *steps = steps.checked_sub(1)?;
    if depth > 64 {
        return None;
    }
    match btf.type_by_id(id)? {
        Type::Int { size, .. } | Type::Enum { size, .. } | Type::Float { size, .. } => {
            Some((*size).min(PTR_SIZE))
        }
        Type::Ptr { .. } => Some(PTR_SIZE),
        Type::Typedef { type_id, .. }
        | Type::Volatile { type_id }
        | Type::Const { type_id }
        | Type::Restrict { type_id }
        | Type::TypeTag { type_id, .. } => align_of(btf, *type_id, depth + 1, steps),
        Type::Array { elem, .. } => align_of(btf, *elem, depth + 1, steps),
        Type::Struct { size, members, .. } | Type::Union { size, members, .. } => {
            let mut max = 1;
            for m in members {
                let a = align_of(btf, m.type_id, depth + 1, steps)?;
                max = max.max(a);
                if m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0 {
                    return Some(1);
                }
            }
            Some(if size % max != 0 { 1 } else { max })
        }
        _ => None,
    }
}

/// libbpf's find_kcfg_type: (type, signed), None for a type a kconfig value cannot have.
pub(crate) fn kcfg_type(btf: &Btf, id: u32, depth: u32) -> Option<(KcfgType, bool)> {
    if depth > 64 {
        return None;
    }
    match btf.type_by_id(skip_mods(btf, id))? {
        Type::Int { size, encoding, .. } => {
            if encoding & 4 != 0 {
                return (*size == 1).then_some((KcfgType::Bool, false));
            }
            let signed = encoding & 1 != 0;
            match size {
                1 => Some((KcfgType::Char, signed)),
                2 | 4 | 8 => Some((KcfgType::Int, signed)),
                _ => None,
            }
        }
        Type::Enum {
            name, size, is64, ..
        } => (name == "libbpf_tristate" && (*is64 || *size == 4))
            .then_some((KcfgType::Tristate, false)),
        Type::Array { elem, nelems, .. } if *nelems > 0 => {
            matches!(kcfg_type(btf, *elem, depth + 1), Some((KcfgType::Char, _)))
                .then_some((KcfgType::CharArr, false))
        }
        _ => None,
    }
}

/// libbpf's find_extern_btf_id: the first VAR or FUNC of that name, which must be extern.
fn find_extern_btf_id(btf: &Btf, name: &str) -> Result<u32> {
    for (id, t) in btf.types.iter().enumerate() {
        let linkage_ok = match t {
            Type::Var {
                name: n, linkage, ..
            } if n == name => *linkage == BTF_VAR_GLOBAL_EXTERN,
            Type::Func {
                name: n, linkage, ..
            } if n == name => *linkage == BTF_FUNC_EXTERN,
            _ => continue,
        };
        if !linkage_ok {
            return Err(err(format!(
                "extern '{name}': its BTF {} is not declared extern",
                if matches!(t, Type::Var { .. }) {
                    "VAR"
                } else {
                    "FUNC"
                }
            )));
        }
        return Ok(id as u32);
    }
    Err(err(format!("extern '{name}' has no BTF VAR or FUNC")))
}

/// libbpf's find_extern_sec_btf_id: the first DATASEC that holds type `id`.
fn find_extern_sec(btf: &Btf, id: u32) -> Option<(u32, &str)> {
    btf.types.iter().enumerate().find_map(|(i, t)| match t {
        Type::Datasec { name, vars, .. } if vars.iter().any(|v| v.type_id == id) => {
            Some((i as u32, name.as_str()))
        }
        _ => None,
    })
}

/// libbpf's cmp_externs: kconfig before ksyms; kconfig by descending alignment, then
/// ascending size; ties by name.
fn order(a: &Extern, b: &Extern) -> std::cmp::Ordering {
    let key = |e: &Extern| match &e.kind {
        ExternKind::Kconfig(k) => (0, std::cmp::Reverse(k.align), k.size),
        ExternKind::Ksym { .. } => (1, std::cmp::Reverse(0), 0),
    };
    key(a)
        .cmp(&key(b))
        .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
}

/// The externs of an object, in libbpf's order with kconfig offsets assigned, and `btf`
/// rewritten the way libbpf rewrites it before loading it.
pub(super) fn collect(raw: &RawElf<'_>, btf: Option<&mut Btf>) -> Result<Vec<Extern>> {
    let syms: Vec<(usize, &super::reader::Symbol)> = raw
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_extern() && !s.name.is_empty())
        .collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    let Some(btf) = btf else {
        return Err(err(format!(
            "extern '{}' needs BTF, and the object has no .BTF section",
            syms[0].1.name
        )));
    };
    let mut externs = Vec::with_capacity(syms.len());
    for (sym_idx, sym) in syms {
        let name = &sym.name;
        let btf_id = find_extern_btf_id(btf, name)?;
        let t = btf.type_by_id(btf_id).expect("found above").clone();
        let (Type::Var { type_id, .. } | Type::Func { type_id, .. }) = &t else {
            unreachable!("find_extern_btf_id returns VARs and FUNCs")
        };
        let is_func = matches!(t, Type::Func { .. });
        let (_, sec) = find_extern_sec(btf, btf_id).ok_or_else(|| {
            if is_func {
                // A BPF function defined in another object file.
                return Error::unsupported(
                    "calls to functions defined in other objects",
                    format!(
                        "'{name}' is declared extern but not __ksym: link the objects into \
                         one first (bpftool gen object out.bpf.o a.bpf.o b.bpf.o)"
                    ),
                );
            }
            err(format!(
                "extern '{name}' is in no DATASEC (declare it __kconfig or __ksym)"
            ))
        })?;
        let kind = match sec {
            KCONFIG_SEC => {
                if is_func {
                    return Err(Error::unsupported(
                        "extern functions in .kconfig",
                        format!("'{name}' is a function in {KCONFIG_SEC}"),
                    ));
                }
                let size = btf
                    .size_of(*type_id)
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| err(format!("extern (kcfg) '{name}': cannot size its type")))?;
                let mut steps = MAX_ALIGN_STEPS;
                let align = align_of(btf, *type_id, 0, &mut steps)
                    .filter(|&a| a > 0)
                    .ok_or_else(|| err(format!("extern (kcfg) '{name}': cannot align its type")))?;
                let (ty, signed) = kcfg_type(btf, *type_id, 0).ok_or_else(|| {
                    Error::unsupported(
                        "kconfig extern type",
                        format!(
                            "extern (kcfg) '{name}': only bool, char, enum libbpf_tristate, \
                             1/2/4/8-byte integers and char arrays are supported"
                        ),
                    )
                })?;
                ExternKind::Kconfig(Kconfig {
                    ty,
                    size,
                    align,
                    signed,
                    offset: 0,
                })
            }
            KSYMS_SEC => ExternKind::Ksym {
                type_id: skip_mods(btf, *type_id),
                is_func,
            },
            other => {
                return Err(Error::unsupported(
                    "extern section",
                    format!("extern '{name}' is in section '{other}' (only .kconfig and .ksyms)"),
                ))
            }
        };
        externs.push(Extern {
            name: name.clone(),
            weak: sym.bind == STB_WEAK,
            btf_id,
            sym_idx,
            kind,
        });
    }
    externs.sort_by(order);

    let mut off = 0u32;
    for e in &mut externs {
        if let ExternKind::Kconfig(k) = &mut e.kind {
            // Sizes come from the object's BTF: a few huge char arrays must not wrap
            // the offsets or ask for gigabytes of map value.
            let end = off
                .checked_next_multiple_of(k.align)
                .and_then(|o| Some((o, o.checked_add(k.size)?)))
                .filter(|&(_, end)| end <= MAX_KCONFIG_SIZE);
            let Some((offset, end)) = end else {
                return Err(err(format!(
                    "kconfig externs take more than {MAX_KCONFIG_SIZE} bytes (at '{}')",
                    e.name
                )));
            };
            k.offset = offset;
            off = end;
        }
    }
    fix_ksyms_btf(btf, &externs)?;
    fix_kconfig_btf(btf, &externs, off)?;
    Ok(externs)
}

fn find_extern<'e>(externs: &'e [Extern], name: &str) -> Option<&'e Extern> {
    externs.iter().find(|e| e.name == name)
}

fn datasec_vars(btf: &Btf, sec: u32) -> Vec<VarSecInfo> {
    match btf.type_by_id(sec) {
        Some(Type::Datasec { vars, .. }) => vars.clone(),
        _ => Vec::new(),
    }
}

fn set_datasec(btf: &mut Btf, sec: u32, new_size: u32, new_vars: Vec<VarSecInfo>) {
    if let Some(Type::Datasec { size, vars, .. }) = btf.types.get_mut(sec as usize) {
        *size = new_size;
        *vars = new_vars;
    }
}

/// The kernel takes only allocated VARs in a DATASEC: libbpf makes every `.kconfig` VAR
/// global-allocated at its extern's offset, and the section as large as the map value.
fn fix_kconfig_btf(btf: &mut Btf, externs: &[Extern], size: u32) -> Result<()> {
    let Some(sec) = btf.find(KCONFIG_SEC, kind::DATASEC) else {
        return Ok(());
    };
    if !externs
        .iter()
        .any(|e| matches!(e.kind, ExternKind::Kconfig(_)))
    {
        return Ok(());
    }
    let mut vars = datasec_vars(btf, sec);
    for v in &mut vars {
        let name = btf.name_of(v.type_id).to_owned();
        let Some(ExternKind::Kconfig(k)) = find_extern(externs, &name).map(|e| &e.kind) else {
            return Err(err(format!(
                "DATASEC '{KCONFIG_SEC}' holds '{name}', which is no kconfig extern of the object"
            )));
        };
        v.offset = k.offset;
        if let Some(Type::Var { linkage, .. }) = btf.types.get_mut(v.type_id as usize) {
            *linkage = BTF_VAR_GLOBAL_ALLOCATED;
        }
    }
    set_datasec(btf, sec, size, vars);
    Ok(())
}

/// libbpf turns `.ksyms` into a DATASEC of 4-byte allocated ints: each VAR becomes an
/// allocated `int`, each kfunc's slot points to one added `dummy_ksym` VAR (the FUNC made
/// global, its unnamed parameters named `dummy_ksym`), slots 4 bytes apart.
fn fix_ksyms_btf(btf: &mut Btf, externs: &[Extern]) -> Result<()> {
    let Some(sec) = btf.find(KSYMS_SEC, kind::DATASEC) else {
        return Ok(());
    };
    let mut vars = datasec_vars(btf, sec);
    let int_id = btf
        .types
        .iter()
        .position(|t| matches!(t, Type::Int { bits: 32, .. }))
        .unwrap_or(0) as u32;
    let has_func = vars
        .iter()
        .any(|v| matches!(btf.type_by_id(v.type_id), Some(Type::Func { .. })));
    let dummy = if has_func {
        btf.types.push(Type::Var {
            name: DUMMY_KSYM.into(),
            type_id: int_id,
            linkage: BTF_VAR_GLOBAL_ALLOCATED,
        });
        Some((btf.types.len() - 1) as u32)
    } else {
        None
    };
    let mut off = 0u32;
    for v in &mut vars {
        let vt = v.type_id as usize;
        let name = btf.name_of(v.type_id).to_owned();
        if find_extern(externs, &name).is_none() {
            return Err(err(format!(
                "DATASEC '{KSYMS_SEC}' holds '{name}', which is no extern of the object"
            )));
        }
        match btf.types.get(vt).cloned() {
            Some(Type::Func { type_id: proto, .. }) => {
                if let Some(Type::FuncProto { params, .. }) = btf.types.get_mut(proto as usize) {
                    for p in params.iter_mut() {
                        if p.type_id != 0 && p.name.is_empty() {
                            p.name = DUMMY_KSYM.into();
                        }
                    }
                }
                if let Some(Type::Func { linkage, .. }) = btf.types.get_mut(vt) {
                    *linkage = BTF_FUNC_GLOBAL;
                }
                v.type_id = dummy.expect("a FUNC is in .ksyms");
            }
            Some(Type::Var { .. }) => {
                if let Some(Type::Var {
                    type_id, linkage, ..
                }) = btf.types.get_mut(vt)
                {
                    *linkage = BTF_VAR_GLOBAL_ALLOCATED;
                    *type_id = int_id;
                }
            }
            _ => {
                return Err(err(format!(
                    "DATASEC '{KSYMS_SEC}' holds type [{vt}], neither a VAR nor a FUNC"
                )))
            }
        }
        v.offset = off;
        v.size = 4;
        off += 4;
    }
    set_datasec(btf, sec, off, vars);
    Ok(())
}

/// The `.kconfig` internal map libbpf creates when there are kconfig externs: value laid
/// out by the externs' offsets, zeroes until load fills it in, read-only to programs, frozen.
pub(super) fn kconfig_map(
    externs: &[Extern],
    btf: Option<&Btf>,
    object_name: &str,
) -> Option<MapSpec> {
    let size = externs
        .iter()
        .filter_map(|e| match &e.kind {
            ExternKind::Kconfig(k) => Some(k.offset + k.size),
            _ => None,
        })
        .max()?;
    let datasec = btf.and_then(|b| b.find(KCONFIG_SEC, kind::DATASEC));
    let mut flags = BPF_F_RDONLY_PROG;
    // libbpf's map_is_mmapable: its VARs are global-allocated by now, so any makes it so.
    if datasec.is_some_and(|d| btf.is_some_and(|b| !datasec_vars(b, d).is_empty())) {
        flags |= BPF_F_MMAPABLE;
    }
    let kernel_name = super::maps::internal_map_name(object_name, KCONFIG_SEC);
    Some(MapSpec {
        key_size: 4,
        value_size: size,
        max_entries: 1,
        flags,
        btf_value_type_id: datasec.unwrap_or(0),
        initial: Some(vec![0; size as usize]),
        freeze: true,
        ..MapSpec::new(
            KCONFIG_SEC,
            kernel_name,
            MapOrigin::Kconfig,
            super::model::map_type::ARRAY,
        )
    })
}
