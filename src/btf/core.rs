//! CO-RE: one relocation record, the object's BTF and the candidate target types -> the
//! value its instruction must hold on the target kernel, or a request to poison it.
//! The rules are libbpf's (relo_core.c), so bpfbind and libbpf give the kernel the same code.

use std::fmt::Write as _;

use super::lookup::MAX_CHAIN;
use super::types::{Btf, CoreRelo, Member, Type};

/// `enum bpf_core_relo_kind` (include/uapi/linux/bpf.h).
pub mod relo_kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_ID_TARGET: u32 = 7;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
    pub const TYPE_MATCHES: u32 = 12;
}
use relo_kind as rk;

/// The kind as libbpf's messages spell it.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        rk::FIELD_BYTE_OFFSET => "byte_off",
        rk::FIELD_BYTE_SIZE => "byte_sz",
        rk::FIELD_EXISTS => "field_exists",
        rk::FIELD_SIGNED => "signed",
        rk::FIELD_LSHIFT_U64 => "lshift_u64",
        rk::FIELD_RSHIFT_U64 => "rshift_u64",
        rk::TYPE_ID_LOCAL => "local_type_id",
        rk::TYPE_ID_TARGET => "target_type_id",
        rk::TYPE_EXISTS => "type_exists",
        rk::TYPE_MATCHES => "type_matches",
        rk::TYPE_SIZE => "type_size",
        rk::ENUMVAL_EXISTS => "enumval_exists",
        rk::ENUMVAL_VALUE => "enumval_value",
        _ => "unknown",
    }
}

fn is_field_based(kind: u32) -> bool {
    kind <= rk::FIELD_RSHIFT_U64
}
fn is_type_based(kind: u32) -> bool {
    matches!(
        kind,
        rk::TYPE_ID_LOCAL | rk::TYPE_ID_TARGET | rk::TYPE_EXISTS | rk::TYPE_SIZE | rk::TYPE_MATCHES
    )
}
fn is_enumval_based(kind: u32) -> bool {
    matches!(kind, rk::ENUMVAL_EXISTS | rk::ENUMVAL_VALUE)
}

/// The longest access string libbpf accepts (BPF_CORE_SPEC_MAX_LEN).
const MAX_SPEC_LEN: usize = 64;

/// Types by id: a whole BTF, or a module's split BTF over the kernel's.
pub trait Types {
    fn ty(&self, id: u32) -> Option<&Type>;
}

impl Types for Btf {
    fn ty(&self, id: u32) -> Option<&Type> {
        self.type_by_id(id)
    }
}

/// A module's BTF: its own types numbered from `start`, over the kernel's `base`.
pub struct SplitTypes<'a> {
    pub base: &'a Btf,
    /// The module's types; `own[0]` is type id `start`.
    pub own: &'a [Type],
    pub start: u32,
}

impl Types for SplitTypes<'_> {
    fn ty(&self, id: u32) -> Option<&Type> {
        if id < self.start {
            self.base.type_by_id(id)
        } else {
            self.own.get((id - self.start) as usize)
        }
    }
}

/// libbpf's "essential" name: the name without a `___flavor` suffix.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() >= 5 {
        for i in (0..=b.len() - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                return &name[..i + 1];
            }
        }
    }
    name
}

fn is_composite(t: &Type) -> bool {
    matches!(t, Type::Struct { .. } | Type::Union { .. })
}
fn members(t: &Type) -> &[Member] {
    match t {
        Type::Struct { members, .. } | Type::Union { members, .. } => members,
        _ => &[],
    }
}
fn is_any_enum(t: &Type) -> bool {
    matches!(t, Type::Enum { .. })
}
fn enum_values(t: &Type) -> &[(String, i64)] {
    match t {
        Type::Enum { values, .. } => values,
        _ => &[],
    }
}

/// ENUM and ENUM64 are compatible with each other; every other kind only with itself.
fn kind_compat(a: &Type, b: &Type) -> bool {
    a.kind() == b.kind() || (is_any_enum(a) && is_any_enum(b))
}

/// Through typedefs and modifiers (const, volatile, restrict, type tags).
pub fn skip_mods(b: &dyn Types, mut id: u32) -> Option<(u32, &Type)> {
    for _ in 0..=MAX_CHAIN {
        let t = b.ty(id)?;
        match t {
            Type::Typedef { type_id, .. }
            | Type::Volatile { type_id }
            | Type::Const { type_id }
            | Type::Restrict { type_id }
            | Type::TypeTag { type_id, .. } => id = *type_id,
            _ => return Some((id, t)),
        }
    }
    None
}

/// libbpf's btf__resolve_size.
fn resolve_size(b: &dyn Types, id: u32) -> Option<u64> {
    super::lookup::size_in(b, id).ok().map(u64::from)
}

/// The size of a value of type `id` (libbpf's btf__resolve_size), over any types.
pub fn size_of_type(b: &dyn Types, id: u32) -> Option<u64> {
    resolve_size(b, id)
}

/// One step of an access path: a named member of `type_id` (a struct or union), or an
/// array index (`name` None) into elements of `type_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Accessor<'a> {
    type_id: u32,
    idx: u32,
    name: Option<&'a str>,
}

/// A relocation's access path resolved against one BTF (libbpf's bpf_core_spec).
#[derive(Debug, Clone)]
struct Spec<'a> {
    root_type_id: u32,
    /// Named steps only (anonymous members are in `raw` but not here).
    accs: Vec<Accessor<'a>>,
    raw: Vec<u32>,
    bit_offset: u64,
}

impl<'a> Spec<'a> {
    fn new(root_type_id: u32) -> Self {
        Spec {
            root_type_id,
            accs: Vec::new(),
            raw: Vec::new(),
            bit_offset: 0,
        }
    }
}

/// A flexible array: the last member of its struct, with no elements.
fn is_flex_arr(b: &dyn Types, acc: Option<&Accessor<'_>>, nelems: u32) -> bool {
    let Some(acc) = acc else { return false };
    if acc.name.is_none() || nelems > 0 {
        return false;
    }
    b.ty(acc.type_id)
        .is_some_and(|t| acc.idx as usize + 1 == members(t).len())
}

fn parse_access(s: &str) -> Result<Vec<u32>, String> {
    if s.is_empty() || s.starts_with(':') {
        return Err(format!("invalid access string \"{s}\""));
    }
    let mut raw = Vec::new();
    for part in s.split(':') {
        if raw.len() == MAX_SPEC_LEN {
            return Err(format!(
                "access string \"{s}\" is longer than {MAX_SPEC_LEN} steps"
            ));
        }
        let idx: u32 = part
            .trim_start()
            .parse()
            .map_err(|_| format!("invalid access string \"{s}\""))?;
        raw.push(idx);
    }
    Ok(raw)
}

/// The local spec of a record (libbpf's bpf_core_parse_spec).
fn parse_spec<'a>(btf: &'a Btf, relo: &CoreRelo) -> Result<Spec<'a>, String> {
    let mut spec = Spec::new(relo.type_id);
    if is_type_based(relo.kind) {
        if relo.access != "0" {
            return Err(format!(
                "type-based relocation with access string \"{}\" (expected \"0\")",
                relo.access
            ));
        }
        return Ok(spec);
    }
    spec.raw = parse_access(&relo.access)?;
    let (mut id, t) = skip_mods(btf, relo.type_id)
        .ok_or_else(|| format!("type [{}] cannot be resolved", relo.type_id))?;
    let first = spec.raw[0];
    spec.accs.push(Accessor {
        type_id: id,
        idx: first,
        name: None,
    });
    if is_enumval_based(relo.kind) {
        let values = enum_values(t);
        if !is_any_enum(t) || spec.raw.len() > 1 || first as usize >= values.len() {
            return Err(format!(
                "enum value relocation against [{}] with access \"{}\" names no enumerator",
                relo.type_id, relo.access
            ));
        }
        spec.accs[0].name = Some(values[first as usize].0.as_str());
        return Ok(spec);
    }
    if !is_field_based(relo.kind) {
        return Err(format!("unknown relocation kind {}", relo.kind));
    }
    let sz = resolve_size(btf, id).ok_or_else(|| format!("type [{id}] has no size"))?;
    spec.bit_offset = u64::from(first) * sz * 8;
    for i in 1..spec.raw.len() {
        let (rid, t) =
            skip_mods(btf, id).ok_or_else(|| format!("type [{id}] cannot be resolved"))?;
        id = rid;
        let idx = spec.raw[i];
        if is_composite(t) {
            let m = members(t).get(idx as usize).ok_or_else(|| {
                format!("access \"{}\": [{id}] has no member #{idx}", relo.access)
            })?;
            spec.bit_offset += u64::from(m.bit_offset);
            if !m.name.is_empty() {
                spec.accs.push(Accessor {
                    type_id: id,
                    idx,
                    name: Some(m.name.as_str()),
                });
            }
            id = m.type_id;
        } else if let Type::Array { elem, nelems, .. } = t {
            let (eid, _) =
                skip_mods(btf, *elem).ok_or_else(|| format!("type [{elem}] cannot be resolved"))?;
            let flex = is_flex_arr(btf, spec.accs.last(), *nelems);
            if !flex && idx >= *nelems {
                return Err(format!(
                    "access \"{}\": index {idx} is past the {nelems} elements of [{id}]",
                    relo.access
                ));
            }
            spec.accs.push(Accessor {
                type_id: eid,
                idx,
                name: None,
            });
            id = eid;
            let sz = resolve_size(btf, eid).ok_or_else(|| format!("type [{eid}] has no size"))?;
            spec.bit_offset += u64::from(idx) * sz * 8;
        } else {
            return Err(format!(
                "access \"{}\" reaches [{id}], of kind {}, which has no members",
                relo.access,
                super::lookup::kind_name(t.kind())
            ));
        }
    }
    Ok(spec)
}

/// libbpf's bpf_core_fields_are_compat: may a local field's type be read as the target's?
fn fields_are_compat(
    local: &dyn Types,
    mut lid: u32,
    targ: &dyn Types,
    mut tid: u32,
) -> Result<bool, String> {
    for _ in 0..32 {
        let ((_, lt), (_, tt)) = match (skip_mods(local, lid), skip_mods(targ, tid)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("field type cannot be resolved".into()),
        };
        if is_composite(lt) && is_composite(tt) {
            return Ok(true);
        }
        if !kind_compat(lt, tt) {
            return Ok(false);
        }
        return Ok(match (lt, tt) {
            (Type::Ptr { .. }, _) | (Type::Float { .. }, _) => true,
            (Type::Fwd { name: ln, .. }, _) | (Type::Enum { name: ln, .. }, _) => {
                let (le, te) = (essential_name(ln), essential_name(tt.name()));
                le.is_empty() || te.is_empty() || le == te
            }
            (Type::Int { bit_offset: lo, .. }, Type::Int { bit_offset: to, .. }) => {
                *lo == 0 && *to == 0
            }
            (Type::Array { elem: le, .. }, Type::Array { elem: te, .. }) => {
                lid = *le;
                tid = *te;
                continue;
            }
            _ => false,
        });
    }
    Err("field types nest too deeply".into())
}

/// libbpf's bpf_core_match_member: finds the local accessor's member in the target
/// composite `targ_id`, descending into anonymous members; pushes onto `spec`.
fn match_member<'t>(
    local: &Btf,
    lacc: &Accessor<'_>,
    targ: &'t dyn Types,
    targ_id: u32,
    spec: &mut Spec<'t>,
    next_id: &mut u32,
    steps: &mut u32,
) -> Result<bool, String> {
    let (targ_id, tt) = skip_mods(targ, targ_id)
        .ok_or_else(|| format!("target type [{targ_id}] cannot be resolved"))?;
    if !is_composite(tt) {
        return Ok(false);
    }
    let lt = local
        .type_by_id(lacc.type_id)
        .ok_or_else(|| format!("type [{}] missing", lacc.type_id))?;
    let lm = members(lt)
        .get(lacc.idx as usize)
        .ok_or_else(|| format!("type [{}] has no member #{}", lacc.type_id, lacc.idx))?;
    for (i, m) in members(tt).iter().enumerate() {
        step(steps)?;
        if spec.raw.len() == MAX_SPEC_LEN {
            return Err("target access path too deep".into());
        }
        spec.bit_offset += u64::from(m.bit_offset);
        spec.raw.push(i as u32);
        if m.name.is_empty() {
            if match_member(local, lacc, targ, m.type_id, spec, next_id, steps)? {
                return Ok(true);
            }
        } else if m.name == lm.name {
            spec.accs.push(Accessor {
                type_id: targ_id,
                idx: i as u32,
                name: Some(m.name.as_str()),
            });
            *next_id = m.type_id;
            let found = fields_are_compat(local, lm.type_id, targ, m.type_id)?;
            if !found {
                spec.accs.pop();
            }
            return Ok(found);
        }
        spec.bit_offset -= u64::from(m.bit_offset);
        spec.raw.pop();
    }
    Ok(false)
}

/// How many type pairs one comparison (or target members one field search) may look
/// at. libbpf visits a type again at every use, so types shared by many members or
/// parameters (a DAG walked as a tree) make the work exponential in the nesting; real
/// types stay far below this.
const MAX_COMPARE_STEPS: u32 = 1 << 20;

fn step(steps: &mut u32) -> Result<(), String> {
    *steps = steps
        .checked_sub(1)
        .ok_or("types too costly to compare (shared types nested too often)")?;
    Ok(())
}

/// libbpf's __bpf_core_types_are_compat (type_exists, type_size, target_type_id).
pub fn types_are_compat(
    local: &dyn Types,
    lid: u32,
    targ: &dyn Types,
    tid: u32,
    level: u32,
) -> Result<bool, String> {
    let mut steps = MAX_COMPARE_STEPS;
    compat(local, lid, targ, tid, level, &mut steps)
}

fn compat(
    local: &dyn Types,
    mut lid: u32,
    targ: &dyn Types,
    mut tid: u32,
    level: u32,
    steps: &mut u32,
) -> Result<bool, String> {
    step(steps)?;
    match (local.ty(lid), targ.ty(tid)) {
        (Some(l), Some(t)) if kind_compat(l, t) => {}
        (Some(_), Some(_)) => return Ok(false),
        _ => return Err("type cannot be resolved".into()),
    }
    for _ in 0..32 {
        let ((_, lt), (_, tt)) = match (skip_mods(local, lid), skip_mods(targ, tid)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("type cannot be resolved".into()),
        };
        if !kind_compat(lt, tt) {
            return Ok(false);
        }
        match (lt, tt) {
            (Type::Void, _)
            | (Type::Struct { .. }, _)
            | (Type::Union { .. }, _)
            | (Type::Enum { .. }, _)
            | (Type::Fwd { .. }, _) => return Ok(true),
            (Type::Int { bit_offset: lo, .. }, Type::Int { bit_offset: to, .. }) => {
                return Ok(*lo == 0 && *to == 0)
            }
            (Type::Ptr { type_id: a }, Type::Ptr { type_id: b }) => {
                lid = *a;
                tid = *b;
            }
            (Type::Array { elem: a, .. }, Type::Array { elem: b, .. }) => {
                lid = *a;
                tid = *b;
            }
            (
                Type::FuncProto {
                    ret: lr,
                    params: lp,
                },
                Type::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (a, b) in lp.iter().zip(tp) {
                    if level == 0 {
                        return Err("function prototypes nest too deeply".into());
                    }
                    let la = skip_mods(local, a.type_id).map_or(a.type_id, |x| x.0);
                    let tb = skip_mods(targ, b.type_id).map_or(b.type_id, |x| x.0);
                    if !compat(local, la, targ, tb, level - 1, steps)? {
                        return Ok(false);
                    }
                }
                lid = skip_mods(local, *lr).map_or(*lr, |x| x.0);
                tid = skip_mods(targ, *tr).map_or(*tr, |x| x.0);
            }
            _ => return Ok(false),
        }
    }
    Err("types nest too deeply".into())
}

/// libbpf's bpf_core_names_match: an empty name matches anything; otherwise the target
/// name must start with the local name's essential part.
fn names_match(local: &str, targ: &str) -> bool {
    local.is_empty() || targ.is_empty() || targ.starts_with(essential_name(local))
}

fn enums_match(lt: &Type, tt: &Type) -> bool {
    let (Type::Enum { size: ls, .. }, Type::Enum { size: ts, .. }) = (lt, tt) else {
        return false;
    };
    let (lv, tv) = (enum_values(lt), enum_values(tt));
    ls == ts
        && lv.len() <= tv.len()
        && lv
            .iter()
            .all(|(ln, _)| tv.iter().any(|(tn, _)| names_match(ln, tn)))
}

/// libbpf's __bpf_core_types_match (type_matches): a stricter, structural comparison.
fn types_match(
    local: &dyn Types,
    lid: u32,
    targ: &dyn Types,
    tid: u32,
    mut behind_ptr: bool,
    level: u32,
    steps: &mut u32,
) -> Result<bool, String> {
    step(steps)?;
    if level == 0 {
        return Err("types nest too deeply".into());
    }
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..32 {
        let ((_, lt), (_, tt)) = match (skip_mods(local, lid), skip_mods(targ, tid)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("type cannot be resolved".into()),
        };
        if !names_match(lt.name(), tt.name()) {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind(), tt.kind());
        match lt {
            Type::Void => return Ok(lk == tk),
            Type::Fwd { is_union: lf, .. } => {
                return Ok(match tt {
                    Type::Fwd { is_union: tf, .. } => lf == tf,
                    Type::Struct { .. } if behind_ptr => !lf,
                    Type::Union { .. } if behind_ptr => *lf,
                    _ => false,
                })
            }
            Type::Enum { .. } => return Ok(is_any_enum(tt) && enums_match(lt, tt)),
            Type::Struct { .. } | Type::Union { .. } => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    return Ok(match tt {
                        Type::Fwd { is_union, .. } => matches!(lt, Type::Union { .. }) == *is_union,
                        _ => false,
                    });
                }
                if lk != tk {
                    return Ok(false);
                }
                let tms = members(tt);
                let lms = members(lt);
                if lms.len() > tms.len() {
                    return Ok(false);
                }
                for lm in lms {
                    let mut matched = false;
                    for tm in tms {
                        if !names_match(&lm.name, &tm.name) {
                            continue;
                        }
                        if types_match(
                            local,
                            lm.type_id,
                            targ,
                            tm.type_id,
                            behind_ptr,
                            level - 1,
                            steps,
                        )? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            Type::Int {
                size: lsz,
                encoding: le,
                ..
            } => {
                return Ok(match tt {
                    Type::Int {
                        size: tsz,
                        encoding: te,
                        ..
                    } => lsz == tsz && (le & 1) == (te & 1),
                    _ => false,
                })
            }
            Type::Ptr { type_id: a } => {
                let Type::Ptr { type_id: b } = tt else {
                    return Ok(false);
                };
                behind_ptr = true;
                lid = *a;
                tid = *b;
            }
            Type::Array {
                elem: a,
                nelems: ln,
                ..
            } => {
                let Type::Array {
                    elem: b,
                    nelems: tn,
                    ..
                } = tt
                else {
                    return Ok(false);
                };
                if ln != tn {
                    return Ok(false);
                }
                lid = *a;
                tid = *b;
            }
            Type::FuncProto {
                ret: lr,
                params: lp,
            } => {
                let Type::FuncProto {
                    ret: tr,
                    params: tp,
                } = tt
                else {
                    return Ok(false);
                };
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (a, b) in lp.iter().zip(tp) {
                    if !types_match(
                        local,
                        a.type_id,
                        targ,
                        b.type_id,
                        behind_ptr,
                        level - 1,
                        steps,
                    )? {
                        return Ok(false);
                    }
                }
                lid = *lr;
                tid = *tr;
            }
            _ => return Ok(false),
        }
    }
    Err("types nest too deeply".into())
}

/// libbpf's bpf_core_spec_match: the target spec of `local` in candidate `targ_id`, or None
/// when the candidate does not match.
fn spec_match<'t>(
    local: &Spec<'_>,
    local_btf: &Btf,
    kind: u32,
    targ: &'t dyn Types,
    targ_id: u32,
) -> Result<Option<Spec<'t>>, String> {
    let mut spec = Spec::new(targ_id);
    if is_type_based(kind) {
        let ok = if kind == rk::TYPE_MATCHES {
            let mut steps = MAX_COMPARE_STEPS;
            types_match(
                local_btf,
                local.root_type_id,
                targ,
                targ_id,
                false,
                32,
                &mut steps,
            )?
        } else {
            types_are_compat(local_btf, local.root_type_id, targ, targ_id, 32)?
        };
        return Ok(ok.then_some(spec));
    }
    let lacc = local.accs[0];
    if is_enumval_based(kind) {
        let Some((tid, tt)) = skip_mods(targ, targ_id) else {
            return Ok(None);
        };
        if !is_any_enum(tt) {
            return Ok(None);
        }
        let lname = essential_name(lacc.name.unwrap_or(""));
        for (i, (n, _)) in enum_values(tt).iter().enumerate() {
            if essential_name(n) == lname {
                spec.accs.push(Accessor {
                    type_id: tid,
                    idx: i as u32,
                    name: Some(n.as_str()),
                });
                spec.raw.push(i as u32);
                return Ok(Some(spec));
            }
        }
        return Ok(None);
    }
    if !is_field_based(kind) {
        return Err(format!("unknown relocation kind {kind}"));
    }
    let mut tid = targ_id;
    let mut steps = MAX_COMPARE_STEPS;
    for (i, lacc) in local.accs.iter().enumerate() {
        let (rid, tt) = skip_mods(targ, tid)
            .ok_or_else(|| format!("target type [{tid}] cannot be resolved"))?;
        tid = rid;
        if lacc.name.is_some() {
            let mut next = tid;
            if !match_member(local_btf, lacc, targ, tid, &mut spec, &mut next, &mut steps)? {
                return Ok(None);
            }
            tid = next;
        } else {
            if i > 0 {
                let Type::Array { elem, nelems, .. } = tt else {
                    return Ok(None);
                };
                let flex = is_flex_arr(targ, spec.accs.last(), *nelems);
                if !flex && lacc.idx >= *nelems {
                    return Ok(None);
                }
                tid = skip_mods(targ, *elem)
                    .ok_or_else(|| format!("target type [{elem}] cannot be resolved"))?
                    .0;
            }
            if spec.raw.len() == MAX_SPEC_LEN {
                return Err("target access path too deep".into());
            }
            spec.accs.push(Accessor {
                type_id: tid,
                idx: lacc.idx,
                name: None,
            });
            spec.raw.push(lacc.idx);
            let sz = resolve_size(targ, tid)
                .ok_or_else(|| format!("target type [{tid}] has no size"))?;
            spec.bit_offset += u64::from(lacc.idx) * sz * 8;
        }
    }
    Ok(Some(spec))
}

/// What a relocation resolves to (libbpf's bpf_core_relo_res).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resolution {
    pub orig_val: u64,
    pub new_val: u64,
    /// The instruction must be replaced by a call to an invalid helper.
    pub poison: bool,
    /// The instruction must hold `orig_val` before patching.
    pub validate: bool,
    /// A load/store whose size would change in a way that reads a wrong value.
    pub fail_memsz_adjust: bool,
    pub orig_sz: u32,
    pub new_sz: u32,
}

/// A field value of one spec: the value, the field's size and type for loads/stores.
struct FieldVal {
    val: u64,
    sz: u32,
    type_id: u32,
    validate: bool,
}

/// Err(None) asks for poisoning; Err(Some(msg)) fails the relocation.
fn calc_field(
    kind: u32,
    spec: Option<&Spec<'_>>,
    b: &dyn Types,
) -> Result<FieldVal, Option<String>> {
    let mut out = FieldVal {
        val: 0,
        sz: 0,
        type_id: 0,
        validate: true,
    };
    if kind == rk::FIELD_EXISTS {
        out.val = u64::from(spec.is_some());
        return Ok(out);
    }
    let spec = spec.ok_or(None)?;
    let acc = *spec
        .accs
        .last()
        .ok_or_else(|| Some("empty access path".to_string()))?;
    let t = b
        .ty(acc.type_id)
        .ok_or_else(|| Some(format!("type [{}] missing", acc.type_id)))?;
    if acc.name.is_none() {
        let sz = resolve_size(b, acc.type_id)
            .ok_or_else(|| Some(format!("type [{}] has no size", acc.type_id)))?
            as u32;
        match kind {
            rk::FIELD_BYTE_OFFSET => {
                out.val = spec.bit_offset / 8;
                out.sz = sz;
                out.type_id = acc.type_id;
            }
            rk::FIELD_BYTE_SIZE => out.val = u64::from(sz),
            _ => {
                return Err(Some(format!(
                    "a {} relocation cannot be applied to an array access",
                    kind_name(kind)
                )))
            }
        }
        return Ok(out);
    }
    let m = members(t)
        .get(acc.idx as usize)
        .ok_or_else(|| Some(format!("type [{}] has no member #{}", acc.type_id, acc.idx)))?;
    let (field_type_id, mt) = skip_mods(b, m.type_id)
        .ok_or_else(|| Some(format!("type [{}] cannot be resolved", m.type_id)))?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = u64::from(m.bitfield_size);
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        let mut sz = match mt {
            Type::Int { size, .. } | Type::Enum { size, .. } => u64::from(*size),
            _ => resolve_size(b, field_type_id).unwrap_or(0),
        };
        if sz == 0 {
            return Err(Some(format!(
                "bitfield of type [{field_type_id}] has no size"
            )));
        }
        let mut off = bit_off / 8 / sz * sz;
        while bit_off + bit_sz - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err(Some(
                    "the bitfield cannot be read with one 64-bit load".into(),
                ));
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        byte_sz = sz;
        byte_off = off;
    } else {
        byte_sz = resolve_size(b, field_type_id)
            .ok_or_else(|| Some(format!("type [{field_type_id}] has no size")))?;
        byte_off = bit_off / 8;
        bit_sz = byte_sz * 8;
    }
    // Bitfield offsets and sizes are the compiler's guess; only signedness is certain.
    out.validate = !bitfield;
    match kind {
        rk::FIELD_BYTE_OFFSET => {
            out.val = byte_off;
            if !bitfield {
                out.sz = byte_sz as u32;
                out.type_id = field_type_id;
            }
        }
        rk::FIELD_BYTE_SIZE => out.val = byte_sz,
        rk::FIELD_SIGNED => {
            out.val = u64::from(match mt {
                Type::Enum { signed, .. } => *signed,
                Type::Int { encoding, .. } => encoding & 1 != 0,
                _ => false,
            });
            out.validate = true;
        }
        // Little-endian layout: bpfbind loads little-endian objects only.
        rk::FIELD_LSHIFT_U64 => out.val = 64u64.wrapping_sub(bit_off + bit_sz - byte_off * 8),
        rk::FIELD_RSHIFT_U64 => {
            out.val = 64u64.wrapping_sub(bit_sz);
            out.validate = true;
        }
        _ => return Err(Some(format!("unknown relocation kind {kind}"))),
    }
    Ok(out)
}

fn calc_type(kind: u32, spec: Option<&Spec<'_>>, b: &dyn Types) -> Result<(u64, bool), String> {
    let Some(spec) = spec else {
        return Ok((0, true));
    };
    Ok(match kind {
        // Type ids change when objects are linked: only local values are checked.
        rk::TYPE_ID_TARGET => (u64::from(spec.root_type_id), false),
        rk::TYPE_EXISTS | rk::TYPE_MATCHES => (1, true),
        rk::TYPE_SIZE => (
            resolve_size(b, spec.root_type_id)
                .ok_or_else(|| format!("type [{}] has no size", spec.root_type_id))?,
            true,
        ),
        _ => return Err(format!("unknown relocation kind {kind}")),
    })
}

/// Err(None) asks for poisoning.
fn calc_enumval(kind: u32, spec: Option<&Spec<'_>>, b: &dyn Types) -> Result<u64, Option<String>> {
    match kind {
        rk::ENUMVAL_EXISTS => Ok(u64::from(spec.is_some())),
        rk::ENUMVAL_VALUE => {
            let acc = spec.ok_or(None)?.accs[0];
            let t = b
                .ty(acc.type_id)
                .ok_or_else(|| Some("enum type missing".to_string()))?;
            let v = enum_values(t)
                .get(acc.idx as usize)
                .ok_or_else(|| Some("enumerator missing".to_string()))?
                .1;
            // libbpf reads a 32-bit enumerator as __s32, so it widens with its sign.
            Ok(match t {
                Type::Enum { is64: false, .. } => (v as u32 as i32) as i64 as u64,
                _ => v as u64,
            })
        }
        _ => Err(Some(format!("unknown relocation kind {kind}"))),
    }
}

/// libbpf's bpf_core_calc_relo: the local and the target value (target spec None when no
/// candidate matched).
fn calc_relo(
    kind: u32,
    local_btf: &Btf,
    local: &Spec<'_>,
    targ_btf: Option<&dyn Types>,
    targ: Option<&Spec<'_>>,
) -> Result<Resolution, String> {
    let mut res = Resolution {
        validate: true,
        ..Default::default()
    };
    let tb: &dyn Types = targ_btf.unwrap_or(local_btf);
    if is_field_based(kind) {
        let lv = calc_field(kind, Some(local), local_btf);
        let outcome = lv.and_then(|lv| calc_field(kind, targ, tb).map(|tv| (lv, tv)));
        match outcome {
            Ok((lv, tv)) => {
                res.orig_val = lv.val;
                res.validate = lv.validate;
                res.orig_sz = lv.sz;
                res.new_val = tv.val;
                res.new_sz = tv.sz;
                if res.orig_sz != res.new_sz {
                    let ot = local_btf.type_by_id(lv.type_id);
                    let nt = tb.ty(tv.type_id);
                    let safe = match (ot, nt) {
                        (Some(Type::Ptr { .. }), Some(Type::Ptr { .. })) => true,
                        (
                            Some(Type::Int { encoding: a, .. }),
                            Some(Type::Int { encoding: b, .. }),
                        ) => a & 1 == 0 && b & 1 == 0,
                        _ => false,
                    };
                    res.fail_memsz_adjust = !safe;
                }
            }
            Err(None) => res.poison = true,
            Err(Some(msg)) => return Err(msg),
        }
    } else if is_type_based(kind) {
        let (ov, validate) = calc_type(kind, Some(local), local_btf)?;
        res.orig_val = ov;
        res.validate = validate;
        res.new_val = calc_type(kind, targ, tb)?.0;
    } else if is_enumval_based(kind) {
        let both = calc_enumval(kind, Some(local), local_btf)
            .and_then(|ov| calc_enumval(kind, targ, tb).map(|nv| (ov, nv)));
        match both {
            Ok((ov, nv)) => {
                res.orig_val = ov;
                res.new_val = nv;
            }
            Err(None) => res.poison = true,
            Err(Some(msg)) => return Err(msg),
        }
    } else {
        return Err(format!("unknown relocation kind {kind}"));
    }
    Ok(res)
}

/// A candidate target type: which target BTF (index into the caller's list) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cand {
    pub target: usize,
    pub id: u32,
}

/// Resolves one record against its candidates (libbpf's bpf_core_calc_relo_insn). Like
/// libbpf, candidates that do not match are dropped from `cands`, which the caller caches
/// per local type; when none matches, `cands` is left as it was.
pub fn resolve(
    local_btf: &Btf,
    relo: &CoreRelo,
    targets: &[&dyn Types],
    cands: &mut Vec<Cand>,
) -> Result<Resolution, String> {
    let local =
        parse_spec(local_btf, relo).map_err(|e| format!("{}: {e}", describe(local_btf, relo)))?;
    if relo.kind == rk::TYPE_ID_LOCAL {
        return Ok(Resolution {
            orig_val: u64::from(relo.type_id),
            new_val: u64::from(relo.type_id),
            validate: false,
            ..Default::default()
        });
    }
    let mut chosen: Option<(Resolution, Spec<'_>)> = None;
    let mut kept = Vec::new();
    for c in cands.iter() {
        let tb = *targets
            .get(c.target)
            .ok_or_else(|| "candidate names an unknown target".to_string())?;
        let Some(ts) = spec_match(&local, local_btf, relo.kind, tb, c.id)? else {
            continue;
        };
        let r = calc_relo(relo.kind, local_btf, &local, Some(tb), Some(&ts))?;
        match &chosen {
            None => chosen = Some((r, ts)),
            Some((cr, cs)) => {
                if ts.bit_offset != cs.bit_offset {
                    return Err(format!(
                        "{}: field offset ambiguity between candidates: {} != {} bits",
                        describe(local_btf, relo),
                        cs.bit_offset,
                        ts.bit_offset
                    ));
                }
                if r.poison != cr.poison || (!r.poison && r.new_val != cr.new_val) {
                    return Err(format!(
                        "{}: candidates disagree: {} != {}",
                        describe(local_btf, relo),
                        cr.new_val,
                        r.new_val
                    ));
                }
            }
        }
        kept.push(*c);
    }
    match chosen {
        Some((r, _)) => {
            *cands = kept;
            Ok(r)
        }
        None => calc_relo(relo.kind, local_btf, &local, None, None),
    }
}

/// `byte_off [7] struct task_struct.pid (access "0:1")`: a record in words, for errors.
pub fn describe(btf: &Btf, relo: &CoreRelo) -> String {
    let t = btf.type_by_id(relo.type_id);
    let kind = t.map_or("?", |t| super::lookup::kind_name(t.kind()));
    let name = t.map_or("", Type::name);
    let mut s = format!(
        "{} [{}] {} {}",
        kind_name(relo.kind),
        relo.type_id,
        kind.to_ascii_lowercase(),
        if name.is_empty() { "(anon)" } else { name }
    );
    if let Ok(spec) = parse_spec(btf, relo) {
        for name in spec.accs.iter().filter_map(|a| a.name) {
            let _ = write!(s, ".{name}");
        }
    }
    let _ = write!(s, " (access \"{}\")", relo.access);
    s
}

#[cfg(test)]
mod tests {
    use super::super::testutil::RawBtf;
    use super::super::types::kind;
    use super::*;

    fn relo(type_id: u32, access: &str, kind: u32) -> CoreRelo {
        CoreRelo {
            insn_off: 0,
            type_id,
            access: access.into(),
            kind,
        }
    }

    /// Local `struct s___mine { int b; int a; int gone; u8 bits: 3; }` against the target
    /// `struct s { long pad; int a; union { int b; }; unsigned int bits: 5, more: 3; }`.
    fn local_and_target() -> (Btf, u32, Btf, u32) {
        let mut l = RawBtf::new();
        let int = l.int("int", 4, 1, 32);
        let u8t = l.int("unsigned char", 1, 0, 8);
        let s = l.composite(
            kind::STRUCT,
            "s___mine",
            16,
            true,
            &[
                ("b", int, 0),
                ("a", int, 32),
                ("gone", int, 64),
                ("bits", u8t, (3 << 24) | 96),
            ],
        );
        let mut t = RawBtf::new();
        let tint = t.int("int", 4, 1, 32);
        let long = t.int("long", 8, 1, 64);
        let uint = t.int("unsigned int", 4, 0, 32);
        let un = t.union("", 4, &[("b", tint, 0)]);
        let ts = t.composite(
            kind::STRUCT,
            "s",
            24,
            true,
            &[
                ("pad", long, 0),
                ("a", tint, 64),
                ("", un, 96),
                ("bits", uint, (5 << 24) | 128),
                ("more", uint, (3 << 24) | 133),
            ],
        );
        (
            Btf::parse(&l.bytes()).unwrap(),
            s,
            Btf::parse(&t.bytes()).unwrap(),
            ts,
        )
    }

    fn run(local: &Btf, target: &Btf, cand: u32, r: &CoreRelo) -> Resolution {
        let mut cands = vec![Cand {
            target: 0,
            id: cand,
        }];
        resolve(local, r, &[target as &dyn Types], &mut cands).unwrap()
    }

    #[test]
    fn fields_move_to_the_target_layout() {
        let (l, s, t, ts) = local_and_target();
        let off = |acc: &str| run(&l, &t, ts, &relo(s, acc, rk::FIELD_BYTE_OFFSET));
        // a: local offset 4, target 8.
        let r = off("0:1");
        assert_eq!(
            (r.orig_val, r.new_val, r.poison, r.validate),
            (4, 8, false, true)
        );
        // b lives in an anonymous union in the target: found through it, at 12.
        assert_eq!(off("0:0").new_val, 12);
        // gone: no such field, so the instruction is poisoned.
        assert!(off("0:2").poison);
        let ex = run(&l, &t, ts, &relo(s, "0:2", rk::FIELD_EXISTS));
        assert_eq!((ex.orig_val, ex.new_val, ex.poison), (1, 0, false));
        let sz = run(&l, &t, ts, &relo(s, "0:1", rk::FIELD_BYTE_SIZE));
        assert_eq!((sz.orig_val, sz.new_val), (4, 4));
    }

    #[test]
    fn bitfields_and_signedness() {
        let (l, s, t, ts) = local_and_target();
        // Target bits: 5 bits at bit 128 of a 4-byte unsigned int.
        let r = |k| run(&l, &t, ts, &relo(s, "0:3", k));
        assert_eq!(r(rk::FIELD_BYTE_OFFSET).new_val, 16);
        assert_eq!(r(rk::FIELD_BYTE_SIZE).new_val, 4);
        assert_eq!(r(rk::FIELD_LSHIFT_U64).new_val, 64 - 5);
        assert_eq!(r(rk::FIELD_RSHIFT_U64).new_val, 64 - 5);
        assert_eq!(r(rk::FIELD_SIGNED).new_val, 0);
        assert!(
            !r(rk::FIELD_BYTE_OFFSET).validate,
            "bitfield offsets are guesses"
        );
        assert_eq!(
            run(&l, &t, ts, &relo(s, "0:1", rk::FIELD_SIGNED)).new_val,
            1
        );
    }

    #[test]
    fn types_and_enums() {
        let mut l = RawBtf::new();
        let e = l.enum32("e___x", 4, false, &[("B___x", 0), ("A", 0)]);
        let int = l.int("int", 4, 1, 32);
        let s = l.strukt("s___mine", 4, &[("a", int, 0)]);
        let mut t = RawBtf::new();
        t.int("int", 4, 1, 32);
        let te = t.enum32("e", 4, true, &[("A", 7), ("B", 0xffff_fffe)]);
        let ts = t.strukt("s", 12, &[("a", 1, 0)]);
        let (l, t) = (
            Btf::parse(&l.bytes()).unwrap(),
            Btf::parse(&t.bytes()).unwrap(),
        );
        let v = run(&l, &t, te, &relo(e, "0", rk::ENUMVAL_VALUE));
        // B is -2 as a signed 32-bit enumerator, widened with its sign as libbpf does.
        assert_eq!(v.new_val, (-2i64) as u64);
        assert_eq!(run(&l, &t, te, &relo(e, "1", rk::ENUMVAL_VALUE)).new_val, 7);
        assert_eq!(run(&l, &t, ts, &relo(s, "0", rk::TYPE_SIZE)).new_val, 12);
        assert_eq!(run(&l, &t, ts, &relo(s, "0", rk::TYPE_EXISTS)).new_val, 1);
        assert_eq!(run(&l, &t, ts, &relo(s, "0", rk::TYPE_MATCHES)).new_val, 1);
        assert_eq!(
            run(&l, &t, ts, &relo(s, "0", rk::TYPE_ID_TARGET)).new_val,
            ts as u64
        );
        let local_id = run(&l, &t, ts, &relo(s, "0", rk::TYPE_ID_LOCAL));
        assert_eq!(local_id.new_val, s as u64);
        // No candidate at all: existence is 0, a value is poisoned.
        let none = resolve(
            &l,
            &relo(s, "0", rk::TYPE_EXISTS),
            &[&t as &dyn Types],
            &mut vec![],
        );
        assert_eq!(none.unwrap().new_val, 0);
        let none = resolve(
            &l,
            &relo(e, "0", rk::ENUMVAL_VALUE),
            &[&t as &dyn Types],
            &mut vec![],
        );
        assert!(none.unwrap().poison);
    }

    #[test]
    fn ambiguous_candidates_are_refused_and_misses_pruned() {
        let mut l = RawBtf::new();
        let int = l.int("int", 4, 1, 32);
        let s = l.strukt("s", 4, &[("a", int, 0)]);
        let mut t = RawBtf::new();
        let tint = t.int("int", 4, 1, 32);
        let s1 = t.strukt("s", 8, &[("a", tint, 0)]);
        let s2 = t.strukt("s___v2", 8, &[("a", tint, 32)]);
        let s3 = t.strukt("s___v3", 8, &[("z", tint, 0)]);
        let (l, t) = (
            Btf::parse(&l.bytes()).unwrap(),
            Btf::parse(&t.bytes()).unwrap(),
        );
        let targets = [&t as &dyn Types];
        let c = |id| Cand { target: 0, id };
        let r = relo(s, "0:0", rk::FIELD_BYTE_OFFSET);
        let err = resolve(&l, &r, &targets, &mut vec![c(s1), c(s2)]).unwrap_err();
        assert!(err.contains("ambiguity"), "{err}");
        let mut cands = vec![c(s1), c(s3)];
        assert_eq!(resolve(&l, &r, &targets, &mut cands).unwrap().new_val, 0);
        assert_eq!(cands, vec![c(s1)]);
    }

    #[test]
    fn split_btf_resolves_base_types_and_strings() {
        let mut base = RawBtf::new();
        base.int("int", 4, 1, 32);
        let base = Btf::parse(&base.bytes()).unwrap();
        let base_len = base.strings.len() as u32;
        let mut m = RawBtf::new();
        let name = m.str("mod_struct") + base_len;
        let field = m.str("x") + base_len;
        // struct mod_struct { int x; }: the int is base type [1], names are split strings.
        let info = (kind::STRUCT << 24) | 1;
        m.raw(name, info, 4, &[field, 1, 0]);
        let own = Btf::parse_split(&m.bytes(), &base).unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].name(), "mod_struct");
        let split = SplitTypes {
            base: &base,
            own: &own,
            start: base.types.len() as u32,
        };
        assert_eq!(split.ty(2).map(Type::name), Some("mod_struct"));
        assert_eq!(split.ty(1).map(Type::name), Some("int"));
        assert!(split.ty(3).is_none());
        // A reference past the last type is refused.
        let mut bad = RawBtf::new();
        bad.raw(0, kind::PTR << 24, 9, &[]);
        assert!(Btf::parse_split(&bad.bytes(), &base).is_err());
    }

    /// `levels` of structs (or func protos) named `s`, each of 8 anonymous members (or
    /// parameters) of the level below, over an int of `leaf` bytes: a DAG that the
    /// comparison walks as a tree, 8^levels pairs.
    fn shared(k: u32, levels: u32, leaf: u32) -> (Btf, u32) {
        let mut b = RawBtf::new();
        let mut top = b.int("int", leaf, 1, leaf * 8);
        for _ in 0..levels {
            top = if k == kind::STRUCT {
                let members: Vec<_> = (0..8).map(|_| ("", top, 0)).collect();
                b.strukt("s", 4, &members)
            } else {
                let ptr = b.ptr(top);
                let params: Vec<u32> = (0..8).flat_map(|_| [0, ptr]).collect();
                b.raw(0, (kind::FUNC_PROTO << 24) | 8, ptr, &params)
            };
        }
        if k != kind::STRUCT {
            top = b.refer(kind::TYPEDEF, "s", top);
        }
        (Btf::parse(&b.bytes()).unwrap(), top)
    }

    /// A local and a target type (a BTF file given as btf_path) each built from types
    /// shared 8 times over 12 levels: type_matches compared 8^12 member pairs and
    /// type_exists 8^12 parameters (a hang); a budget of pairs ends it in an error.
    #[test]
    fn shared_types_cannot_make_comparisons_exponential() {
        for (k, relo_kind, leaf) in [
            (kind::STRUCT, rk::TYPE_MATCHES, 8),
            (kind::FUNC_PROTO, rk::TYPE_EXISTS, 4),
        ] {
            let (local, lid) = shared(k, 12, 4);
            let (target, tid) = shared(k, 12, leaf);
            let mut cands = vec![Cand { target: 0, id: tid }];
            let r = relo(lid, "0", relo_kind);
            let err = resolve(&local, &r, &[&target as &dyn Types], &mut cands).unwrap_err();
            assert!(err.contains("too costly to compare"), "{err}");
            // Two levels compare in a few dozen steps, as before.
            let (local, lid) = shared(k, 2, 4);
            let (target, tid) = shared(k, 2, 4);
            let mut cands = vec![Cand { target: 0, id: tid }];
            let r = relo(lid, "0", relo_kind);
            let res = resolve(&local, &r, &[&target as &dyn Types], &mut cands).unwrap();
            assert_eq!((res.orig_val, res.new_val), (1, 1));
        }
    }

    /// A target (a BTF file given as btf_path) whose struct holds 64 anonymous members
    /// of one union, which holds 64 of the next, six levels deep: the field search
    /// (libbpf's bpf_core_match_member) read 64^6 members for a missing field.
    #[test]
    fn field_search_in_shared_anonymous_members_is_bounded() {
        let mut l = RawBtf::new();
        let int = l.int("int", 4, 1, 32);
        let ls = l.strukt("s", 4, &[("missing", int, 0)]);
        let local = Btf::parse(&l.bytes()).unwrap();
        let mut t = RawBtf::new();
        let mut inner = t.int("int", 4, 1, 32);
        for _ in 0..6 {
            let members: Vec<_> = (0..64).map(|_| ("", inner, 0)).collect();
            inner = t.union("", 4, &members);
        }
        let ts = t.strukt("s", 4, &[("", inner, 0)]);
        let target = Btf::parse(&t.bytes()).unwrap();
        let mut cands = vec![Cand { target: 0, id: ts }];
        let r = relo(ls, "0:0", rk::FIELD_BYTE_OFFSET);
        let err = resolve(&local, &r, &[&target as &dyn Types], &mut cands).unwrap_err();
        assert!(err.contains("too costly"), "{err}");
    }

    #[test]
    fn essential_names_drop_one_flavor() {
        assert_eq!(essential_name("task_struct___old"), "task_struct");
        assert_eq!(essential_name("task_struct"), "task_struct");
        assert_eq!(essential_name("a___b___c"), "a___b");
        assert_eq!(essential_name("a____b"), "a____b");
        assert_eq!(essential_name("___x"), "___x");
        assert_eq!(essential_name("x___"), "x___");
        assert_eq!(essential_name(""), "");
    }

    #[test]
    fn access_strings() {
        assert_eq!(parse_access("0:1:2").unwrap(), vec![0, 1, 2]);
        assert!(parse_access("").is_err());
        assert!(parse_access(":1").is_err());
        assert!(parse_access("0:x").is_err());
        assert!(parse_access("0:-1").is_err());
        let long = vec!["0"; MAX_SPEC_LEN + 1].join(":");
        assert!(parse_access(&long).is_err());
    }
}
