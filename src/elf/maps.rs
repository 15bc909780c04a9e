//! Maps of an object: BTF-defined maps from the `.maps` DATASEC, and the internal ARRAY maps
//! libbpf makes of global-data sections (plus `.metadata`), named the way libbpf names them.

use crate::btf::{kind, Btf, Member, Type};
use crate::error::{Error, Result};

use super::btfapi;
use super::model::{map_type as mt, MapOrigin, MapSpec, SlotTarget};
use super::reader::{RawElf, STT_FUNC, STT_SECTION};
use super::sections::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};

/// The kernel's BPF_OBJ_NAME_LEN, NUL included.
const OBJ_NAME_LEN: usize = 16;
use crate::sys::uapi::BPF_MAP_TYPE_ARRAY;
const LIBBPF_PIN_BY_NAME: u32 = 1;
/// No kernel accepts a larger ARRAY value; refusing early keeps a hostile `.bss` size from
/// turning into a huge allocation.
const MAX_VALUE_SIZE: u64 = 1 << 30;

/// A map plus where its definition lives, for relocations.
pub(super) struct MapsOf {
    pub maps: Vec<MapSpec>,
    /// (offset in `.maps`, index in `maps`) of every BTF-defined map.
    pub btf_offsets: Vec<(u64, usize)>,
    /// (ELF section index, index in `maps`) of every internal map.
    pub data_sections: Vec<(usize, usize)>,
    /// (offset in the legacy `maps` section, index in `maps`).
    pub legacy_offsets: Vec<(u64, usize)>,
}

impl MapsOf {
    pub fn btf_map_at(&self, offset: u64) -> Option<usize> {
        self.btf_offsets
            .iter()
            .find(|(o, _)| *o == offset)
            .map(|&(_, m)| m)
    }
    pub fn legacy_map_at(&self, offset: u64) -> Option<usize> {
        self.legacy_offsets
            .iter()
            .find(|(o, _)| *o == offset)
            .map(|&(_, m)| m)
    }
    pub fn data_map_of(&self, section: usize) -> Option<usize> {
        self.data_sections
            .iter()
            .find(|(s, _)| *s == section)
            .map(|&(_, m)| m)
    }
}

/// What kind of internal map a section makes, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataKind {
    Data,
    Rodata,
    Bss,
    Metadata,
}

pub(super) fn data_kind(section: &str) -> Option<DataKind> {
    let is = |base: &str| {
        section == base
            || section
                .strip_prefix(base)
                .is_some_and(|r| r.starts_with('.'))
    };
    if is(".data") {
        Some(DataKind::Data)
    } else if is(".rodata") {
        Some(DataKind::Rodata)
    } else if is(".bss") {
        Some(DataKind::Bss)
    } else if section == ".metadata" {
        Some(DataKind::Metadata)
    } else {
        None
    }
}

/// libbpf's `internal_map_name`: the section name keeps at least 7 characters (all of it up to
/// 15), the object name fills what is left of the 15; custom `.data.foo`-like names (a second
/// dot) get no prefix; bytes other than alphanumerics, `_` and `.` become `_`.
///
/// libbpf's object name stops at the file name's first dot (`x.bpf.o` -> `x`), while ours
/// only drops the last extension, so the prefix is cut at the first dot here.
pub fn internal_map_name(object_name: &str, section: &str) -> String {
    let obj = object_name.split('.').next().unwrap_or("").as_bytes();
    let sec = section.as_bytes();
    let sfx_len = sec.len().clamp(7, OBJ_NAME_LEN - 1);
    let pfx_len = if sec.len() > 1 && sec[1..].contains(&b'.') {
        0
    } else {
        (OBJ_NAME_LEN - sfx_len - 1).min(obj.len())
    };
    obj[..pfx_len]
        .iter()
        .chain(&sec[..sfx_len.min(sec.len())])
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

/// `name` cut to the kernel's 15 bytes, on a character boundary.
pub(super) fn kernel_name(name: &str) -> String {
    let mut end = name.len().min(OBJ_NAME_LEN - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

pub(super) fn collect(raw: &RawElf<'_>, btf: Option<&Btf>, object_name: &str) -> Result<MapsOf> {
    let mut out = MapsOf {
        maps: Vec::new(),
        btf_offsets: Vec::new(),
        data_sections: Vec::new(),
        legacy_offsets: Vec::new(),
    };
    if let Some(idx) = raw.section_index(".maps") {
        btf_maps(raw, idx, btf, &mut out)?;
    }
    if let Some(idx) = raw.section_index("maps") {
        legacy_maps(raw, idx, &mut out)?;
    }
    for (sec, link) in [(".struct_ops", false), (".struct_ops.link", true)] {
        if let Some(idx) = raw.section_index(sec) {
            struct_ops_maps(raw, idx, btf, link, &mut out)?;
        }
    }
    for (idx, sec) in raw.sections.iter().enumerate() {
        let Some(kind) = data_kind(&sec.name) else {
            continue;
        };
        if sec.is_exec()
            || (sec.sh_type != object::elf::SHT_PROGBITS.0 && !sec.is_nobits())
            || sec.size == 0
        {
            continue;
        }
        if sec.size > MAX_VALUE_SIZE {
            return Err(Error::format(
                &sec.name,
                sec.offset,
                format!("section of {} bytes is too large for a map value", sec.size),
            ));
        }
        let size = sec.size as u32;
        let initial = if sec.is_nobits() {
            vec![0; size as usize]
        } else {
            sec.data.to_vec()
        };
        let datasec = btf.and_then(|b| btfapi::find(b, &sec.name, kind::DATASEC).map(|id| (b, id)));
        let readonly = matches!(kind, DataKind::Rodata | DataKind::Metadata);
        let mut flags = if readonly { BPF_F_RDONLY_PROG } else { 0 };
        if datasec.is_some_and(|(b, id)| has_global_var(b, id)) {
            flags |= BPF_F_MMAPABLE;
        }
        out.data_sections.push((idx, out.maps.len()));
        let origin = if kind == DataKind::Metadata {
            MapOrigin::Metadata
        } else {
            MapOrigin::Data {
                section: sec.name.clone(),
            }
        };
        let name = internal_map_name(object_name, &sec.name);
        out.maps.push(MapSpec {
            key_size: 4,
            value_size: size,
            max_entries: 1,
            flags,
            btf_value_type_id: datasec.map_or(0, |(_, id)| id),
            initial: Some(initial),
            freeze: readonly,
            ..MapSpec::new(&sec.name, name, origin, BPF_MAP_TYPE_ARRAY)
        });
    }
    Ok(out)
}

/// The fields of `struct bpf_map_def` (type, key_size, value_size, max_entries,
/// map_flags), the part of a legacy definition every loader reads.
const LEGACY_DEF: u64 = 20;

/// The legacy `maps` section: one `struct bpf_map_def` per symbol, as cilium/ebpf reads it
/// (libbpf 1.x refuses the section). Fields past the five known ones (iproute2's id,
/// pinning and inner map) must be zero: bpfbind does not act on them.
fn legacy_maps(raw: &RawElf<'_>, idx: usize, out: &mut MapsOf) -> Result<()> {
    let sec = &raw.sections[idx];
    if sec.size == 0 {
        return Ok(());
    }
    let mut syms: Vec<_> = raw
        .symbols
        .iter()
        .filter(|s| s.section == Some(idx) && s.kind != STT_SECTION && !s.name.is_empty())
        .collect();
    syms.sort_by_key(|s| s.value);
    if syms.is_empty() {
        return Err(Error::format(
            "maps",
            sec.offset,
            "the legacy maps section has no map symbols",
        ));
    }
    for s in syms {
        let err = |msg: String| {
            Error::format(
                "maps",
                sec.offset.saturating_add(s.value),
                format!("legacy map '{}': {msg}", s.name),
            )
        };
        let def = s
            .value
            .checked_add(s.size)
            .filter(|&end| s.size >= LEGACY_DEF && end <= sec.size)
            .and_then(|end| sec.data.get(s.value as usize..end as usize))
            .ok_or_else(|| {
                err(format!(
                    "definition of {} bytes at {:#x} is not a bpf_map_def ({LEGACY_DEF} bytes \
                     or more) inside the section",
                    s.size, s.value
                ))
            })?;
        let word = |i: usize| {
            u32::from_le_bytes([def[4 * i], def[4 * i + 1], def[4 * i + 2], def[4 * i + 3]])
        };
        if def[LEGACY_DEF as usize..].iter().any(|&b| b != 0) {
            return Err(Error::unsupported(
                "legacy map definition fields beyond bpf_map_def",
                format!(
                    "map '{}' sets fields after map_flags (iproute2's id, pinning or inner \
                     map), which bpfbind does not apply",
                    s.name
                ),
            ));
        }
        out.legacy_offsets.push((s.value, out.maps.len()));
        out.maps.push(MapSpec {
            key_size: word(1),
            value_size: word(2),
            max_entries: word(3),
            flags: word(4),
            ..MapSpec::new(&s.name, kernel_name(&s.name), MapOrigin::Legacy, word(0))
        });
    }
    Ok(())
}

/// BPF_F_LINK: a struct_ops map registered through a link rather than by its update.
const BPF_F_LINK: u32 = 1 << 13;

/// `.struct_ops` / `.struct_ops.link`: each variable is a kernel ops struct filled in by
/// the object, its function pointers relocated to the programs that implement them (as
/// libbpf's init_struct_ops_maps and bpf_object__collect_st_ops_relos read them).
fn struct_ops_maps(
    raw: &RawElf<'_>,
    idx: usize,
    btf: Option<&Btf>,
    link: bool,
    out: &mut MapsOf,
) -> Result<()> {
    let sec = &raw.sections[idx];
    if sec.size == 0 {
        return Ok(());
    }
    let err = |at: u64, msg: String| Error::format(&sec.name, sec.offset.saturating_add(at), msg);
    let btf = btf.ok_or_else(|| err(0, "struct_ops maps need the object's BTF".into()))?;
    let datasec = btfapi::find(btf, &sec.name, kind::DATASEC)
        .ok_or_else(|| err(0, format!("the BTF has no DATASEC '{}'", sec.name)))?;
    let Some(Type::Datasec { vars, .. }) = btfapi::type_by_id(btf, datasec) else {
        return Err(err(0, "not a DATASEC".into()));
    };
    let first = out.maps.len();
    let mut spans = Vec::new();
    for vsi in vars {
        let Some(Type::Var { name, type_id, .. }) = btfapi::type_by_id(btf, vsi.type_id) else {
            return Err(err(
                u64::from(vsi.offset),
                format!("entry [{}] is not a VAR", vsi.type_id),
            ));
        };
        let struct_id = btfapi::resolve(btf, *type_id).unwrap_or(0);
        if !matches!(
            btfapi::type_by_id(btf, struct_id),
            Some(Type::Struct { .. })
        ) {
            return Err(err(
                u64::from(vsi.offset),
                format!("struct_ops variable '{name}' is not a struct"),
            ));
        }
        let (start, end) = (
            u64::from(vsi.offset),
            u64::from(vsi.offset) + u64::from(vsi.size),
        );
        let data = sec
            .data
            .get(start as usize..end as usize)
            .ok_or_else(|| {
                err(
                    start,
                    format!("struct_ops variable '{name}' is outside the section"),
                )
            })?
            .to_vec();
        spans.push((start, end, struct_id));
        out.maps.push(MapSpec {
            key_size: 4,
            max_entries: 1,
            flags: if link { BPF_F_LINK } else { 0 },
            ..MapSpec::new(
                name,
                kernel_name(name),
                MapOrigin::StructOps {
                    section: sec.name.clone(),
                    type_id: struct_id,
                    data,
                    funcs: Vec::new(),
                },
                mt::STRUCT_OPS,
            )
        });
    }
    for rs in raw.rel_sections.iter().filter(|r| r.target == idx) {
        for rel in &rs.rels {
            let sym = &raw.symbols[rel.sym];
            let (i, &(start, _, struct_id)) = spans
                .iter()
                .enumerate()
                .find(|(_, (s, e, _))| *s <= rel.offset && rel.offset < *e)
                .ok_or_else(|| {
                    err(
                        rel.offset,
                        format!(
                            "relocation against '{}' outside every struct_ops variable",
                            sym.name
                        ),
                    )
                })?;
            let bit = (rel.offset - start) * 8;
            let Some(Type::Struct { members, .. }) = btfapi::type_by_id(btf, struct_id) else {
                continue;
            };
            let member = members
                .iter()
                .position(|m| u64::from(m.bit_offset) == bit)
                .ok_or_else(|| {
                    err(
                        rel.offset,
                        format!("relocation against '{}' is at no member", sym.name),
                    )
                })?;
            let is_ptr = matches!(
                btfapi::resolve(btf, members[member].type_id)
                    .and_then(|t| btfapi::type_by_id(btf, t)),
                Some(Type::Ptr { .. })
            );
            let in_program = sym.kind == STT_FUNC
                && sym
                    .section
                    .is_some_and(|s| raw.sections[s].is_exec() && raw.sections[s].name != ".text");
            if !is_ptr || !in_program {
                return Err(err(
                    rel.offset,
                    format!(
                        "member '{}' must be a function pointer to a struct_ops program, not '{}'",
                        members[member].name, sym.name
                    ),
                ));
            }
            if let MapOrigin::StructOps { funcs, .. } = &mut out.maps[first + i].origin {
                funcs.push((member as u32, sym.name.clone()));
            }
        }
    }
    Ok(())
}

/// libbpf's `map_is_mmapable`: some VAR of the DATASEC is not static.
fn has_global_var(btf: &Btf, datasec: u32) -> bool {
    let Some(Type::Datasec { vars, .. }) = btfapi::type_by_id(btf, datasec) else {
        return false;
    };
    vars.iter().any(|v| matches!(btfapi::type_by_id(btf, v.type_id), Some(Type::Var { linkage, .. }) if *linkage != 0))
}

fn btf_maps(raw: &RawElf<'_>, idx: usize, btf: Option<&Btf>, out: &mut MapsOf) -> Result<()> {
    let sec = &raw.sections[idx];
    let err = |msg: String| Error::format(".maps", sec.offset, msg);
    if sec.size == 0 {
        return Ok(());
    }
    let btf = btf.ok_or_else(|| {
        err("BTF-defined maps need the object's .BTF section, which is missing".into())
    })?;
    let mut defs = Vec::new();
    let datasec = btfapi::find(btf, ".maps", kind::DATASEC)
        .ok_or_else(|| err("the BTF has no DATASEC '.maps' describing the maps".into()))?;
    let Some(Type::Datasec { vars, .. }) = btfapi::type_by_id(btf, datasec) else {
        return Err(err("DATASEC '.maps' is not a DATASEC".into()));
    };
    for vsi in vars {
        let (name, var_type, linkage) = match btfapi::type_by_id(btf, vsi.type_id) {
            Some(Type::Var {
                name,
                type_id,
                linkage,
            }) => (name.as_str(), *type_id, *linkage),
            _ => {
                return Err(err(format!(
                    "entry [{}] of DATASEC '.maps' is not a VAR",
                    vsi.type_id
                )))
            }
        };
        if name.is_empty() {
            return Err(err("a map has an empty name".into()));
        }
        let merr = |msg: String| {
            Error::format(
                ".maps",
                sec.offset.saturating_add(u64::from(vsi.offset)),
                format!("map '{name}': {msg}"),
            )
        };
        if u64::from(vsi.offset) + u64::from(vsi.size) > sec.size {
            return Err(merr(format!(
                "definition [{:#x}, +{:#x}) is outside the section ({:#x} bytes)",
                vsi.offset, vsi.size, sec.size
            )));
        }
        if linkage != 1 {
            return Err(merr(
                "only global map definitions are supported (static or extern map)".into(),
            ));
        }
        let Some(Type::Struct { size, members, .. }) = resolved(btf, var_type) else {
            return Err(merr("definition is not a struct".into()));
        };
        if *size > vsi.size {
            return Err(merr(format!(
                "definition struct ({size} bytes) is larger than the variable ({})",
                vsi.size
            )));
        }
        let spec = parse_def(btf, name, members, false).map_err(merr)?;
        let values_off = members
            .last()
            .filter(|m| m.name == "values")
            .map(|m| u64::from(m.bit_offset / 8));
        defs.push((
            u64::from(vsi.offset),
            u64::from(vsi.size),
            values_off,
            out.maps.len(),
        ));
        out.btf_offsets
            .push((u64::from(vsi.offset), out.maps.len()));
        out.maps.push(spec);
    }
    init_slots(raw, idx, &defs, out)
}

/// `.rel.maps`: each relocation is a slot of a `values` initialiser, pointing at a map (of
/// maps of maps) or a program (of prog arrays), as libbpf's bpf_object__collect_map_relos.
fn init_slots(
    raw: &RawElf<'_>,
    maps_idx: usize,
    defs: &[(u64, u64, Option<u64>, usize)],
    out: &mut MapsOf,
) -> Result<()> {
    let sec = &raw.sections[maps_idx];
    for rs in raw.rel_sections.iter().filter(|r| r.target == maps_idx) {
        for (n, rel) in rs.rels.iter().enumerate() {
            let sym = &raw.symbols[rel.sym];
            let err = |msg: String| {
                Error::format(
                    ".maps",
                    sec.offset.saturating_add(rel.offset),
                    format!(".maps relocation #{n} against '{}': {msg}", sym.name),
                )
            };
            let &(off, _, values_off, m) = defs
                .iter()
                .find(|(o, size, _, _)| *o <= rel.offset && rel.offset + 8 <= o + size)
                .ok_or_else(|| err("no map definition holds it".into()))?;
            let values_off =
                values_off.ok_or_else(|| err("the map has no 'values' member".into()))?;
            let slot = (rel.offset - off)
                .checked_sub(values_off)
                .filter(|s| s % 8 == 0)
                .map(|s| s / 8)
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| err("it is not a slot of 'values'".into()))?;
            let map_type = out.maps[m].map_type;
            let target = if matches!(map_type, mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS) {
                if map_type == mt::HASH_OF_MAPS && out.maps[m].key_size != 4 {
                    return Err(err(
                        "a hash of maps with initialisers needs 4-byte keys".into()
                    ));
                }
                if sym.section != Some(maps_idx) {
                    return Err(err("it is not a BTF-defined map".into()));
                }
                let t = out
                    .maps
                    .iter()
                    .position(|x| x.origin == MapOrigin::Btf && x.name == sym.name)
                    .ok_or_else(|| err("no such map".into()))?;
                SlotTarget::Map(t)
            } else {
                let in_program_section = sym
                    .section
                    .is_some_and(|s| raw.sections[s].is_exec() && raw.sections[s].name != ".text");
                if sym.kind != STT_FUNC || !in_program_section {
                    return Err(err(
                        "it is not a program (an entry point outside .text)".into()
                    ));
                }
                SlotTarget::Program(sym.name.clone())
            };
            let slots = &mut out.maps[m].init_slots;
            slots.retain(|(s, _)| *s != slot);
            slots.push((slot, target));
        }
    }
    for m in &mut out.maps {
        m.init_slots.sort_by_key(|(s, _)| *s);
    }
    Ok(())
}

/// The type behind typedefs and modifiers.
fn resolved(btf: &Btf, id: u32) -> Option<&Type> {
    btfapi::type_by_id(btf, btfapi::resolve(btf, id)?)
}

/// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N elements.
fn field_int(btf: &Btf, m: &Member) -> Result<u32, String> {
    let Some(Type::Ptr { type_id }) = resolved(btf, m.type_id) else {
        return Err(format!(
            "'{}' is not an __uint() field (expected a pointer)",
            m.name
        ));
    };
    match btfapi::type_by_id(btf, *type_id) {
        Some(Type::Array { nelems, .. }) => Ok(*nelems),
        _ => Err(format!(
            "'{}' is not an __uint() field (expected a pointer to an array)",
            m.name
        )),
    }
}

/// `__type(name, T)` is `T *name`: returns (T's id, T's size).
fn field_type(btf: &Btf, m: &Member) -> Result<(u32, u32), String> {
    let Some(Type::Ptr { type_id }) = btfapi::type_by_id(btf, m.type_id) else {
        return Err(format!(
            "'{}' is not a __type() field (expected a pointer)",
            m.name
        ));
    };
    let size = btfapi::size_of(btf, *type_id)
        .map_err(|e| format!("cannot size the '{}' type [{type_id}]: {e}", m.name))?;
    Ok((*type_id, size))
}

fn set_size(slot: &mut u32, size: u32, what: &str) -> Result<(), String> {
    if *slot != 0 && *slot != size {
        return Err(format!("conflicting {what} sizes {} and {size}", *slot));
    }
    *slot = size;
    Ok(())
}

fn parse_def(btf: &Btf, name: &str, members: &[Member], is_inner: bool) -> Result<MapSpec, String> {
    let mut spec = MapSpec::new(name, kernel_name(name), MapOrigin::Btf, 0);
    let mut has_type = false;
    for (i, m) in members.iter().enumerate() {
        match m.name.as_str() {
            "type" => {
                spec.map_type = field_int(btf, m)?;
                has_type = true;
            }
            "max_entries" => spec.max_entries = field_int(btf, m)?,
            "map_flags" => spec.flags = field_int(btf, m)?,
            "numa_node" => spec.numa_node = field_int(btf, m)?,
            "key_size" => set_size(&mut spec.key_size, field_int(btf, m)?, "key")?,
            "value_size" => set_size(&mut spec.value_size, field_int(btf, m)?, "value")?,
            "key" => {
                let (id, size) = field_type(btf, m)?;
                set_size(&mut spec.key_size, size, "key")?;
                spec.btf_key_type_id = id;
            }
            "value" => {
                let (id, size) = field_type(btf, m)?;
                set_size(&mut spec.value_size, size, "value")?;
                spec.btf_value_type_id = id;
            }
            "pinning" => {
                let v = field_int(btf, m)?;
                if v != 0 && v != LIBBPF_PIN_BY_NAME {
                    return Err(format!(
                        "invalid pinning value {v} (0 or LIBBPF_PIN_BY_NAME)"
                    ));
                }
                spec.pinning = v;
            }
            "map_extra" => spec.map_extra = field_long(btf, m)?,
            "values" => {
                if is_inner {
                    return Err(
                        "inner maps of inner maps are not supported (libbpf neither)".into(),
                    );
                }
                if i + 1 != members.len() {
                    return Err("'values' must be the last member of the definition".into());
                }
                let in_map = matches!(spec.map_type, mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS);
                if !in_map && spec.map_type != mt::PROG_ARRAY {
                    return Err("'values' is only for maps of maps and prog arrays".into());
                }
                set_size(&mut spec.value_size, 4, "value")?;
                let elem = match btfapi::type_by_id(btf, m.type_id) {
                    Some(Type::Array {
                        elem, nelems: 0, ..
                    }) => *elem,
                    _ => return Err("'values' must be an array of zero elements".into()),
                };
                let pointee = match resolved(btf, elem) {
                    Some(Type::Ptr { type_id }) => *type_id,
                    _ => return Err("'values' must hold pointers".into()),
                };
                match (in_map, resolved(btf, pointee)) {
                    (false, Some(Type::FuncProto { .. })) => {}
                    (true, Some(Type::Struct { members: inner, .. })) => {
                        let inner_name = format!("{name}.inner");
                        spec.inner = Some(Box::new(parse_def(btf, &inner_name, inner, true)?));
                    }
                    (false, _) => {
                        return Err("a prog array's 'values' must point to functions".into())
                    }
                    (true, _) => {
                        return Err(
                            "a map of maps' 'values' must point to an inner map definition".into(),
                        )
                    }
                }
            }
            other => return Err(format!("unknown map definition field '{other}'")),
        }
    }
    if !has_type {
        return Err("the definition has no 'type' field".into());
    }
    Ok(spec)
}

/// `__ulong(name, N)`: an enum with a single value N, or an `__uint()`.
fn field_long(btf: &Btf, m: &Member) -> Result<u64, String> {
    match resolved(btf, m.type_id) {
        Some(Type::Ptr { .. }) => field_int(btf, m).map(u64::from),
        Some(Type::Enum { values, .. }) if values.len() == 1 => Ok(values[0].1 as u64),
        _ => Err(format!(
            "'{}' is not an __ulong() or __uint() field",
            m.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_names_follow_libbpf() {
        assert_eq!(
            internal_map_name("metadata_used.bpf", ".rodata"),
            "metadata.rodata"
        );
        assert_eq!(
            internal_map_name("my_object_name", ".rodata"),
            "my_objec.rodata"
        );
        assert_eq!(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
        assert_eq!(
            internal_map_name("my_object_name", ".kconfig"),
            "my_obje.kconfig"
        );
        assert_eq!(
            internal_map_name("my_object_name", ".metadata"),
            "my_obj.metadata"
        );
        assert_eq!(internal_map_name("x", ".data"), "x.data");
        assert_eq!(internal_map_name("a.bpf", ".rodata"), "a.rodata");
        assert_eq!(
            internal_map_name("obj", ".rodata.abracadabra"),
            ".rodata.abracad"
        );
        assert_eq!(internal_map_name("obj", ".data.custom"), ".data.custom");
        assert_eq!(internal_map_name("my-obj", ".data"), "my_obj.data");
        assert_eq!(internal_map_name("héllo", ".bss"), "h__llo.bss");
        assert_eq!(internal_map_name("", ".rodata"), ".rodata");
    }

    #[test]
    fn data_kinds() {
        assert_eq!(data_kind(".data"), Some(DataKind::Data));
        assert_eq!(data_kind(".data.foo"), Some(DataKind::Data));
        assert_eq!(data_kind(".rodata.str1.1"), Some(DataKind::Rodata));
        assert_eq!(data_kind(".bss.x"), Some(DataKind::Bss));
        assert_eq!(data_kind(".metadata"), Some(DataKind::Metadata));
        assert_eq!(data_kind(".datax"), None);
        assert_eq!(data_kind(".metadata.x"), None);
        assert_eq!(data_kind("license"), None);
    }

    #[test]
    fn kernel_names_are_cut_on_char_boundaries() {
        assert_eq!(kernel_name("short"), "short");
        assert_eq!(kernel_name("a_very_long_map_name"), "a_very_long_map");
        assert_eq!(kernel_name("aaaaaaaaaaaaaaé"), "aaaaaaaaaaaaaa");
    }
}
