//! Stage: struct_ops. Each struct_ops map's kernel types (the ops struct and the
//! `bpf_struct_ops_<name>` value that wraps it), and for each program a map's function
//! pointer names, the kernel struct it attaches to and the member it implements, as
//! libbpf's bpf_map__init_kern_struct_ops works them out at load.

use std::collections::HashMap;

use crate::btf::core::{essential_name, skip_mods, Types};
use crate::btf::{kind, Type};
use crate::elf::{MapOrigin, ObjectSpec};
use crate::error::{Error, Result};

use super::core;

/// What the struct_ops maps of an object take from the kernel.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Map index -> (value size, `bpf_struct_ops_<name>` type id).
    maps: HashMap<usize, (u32, u32)>,
    /// Program -> (attach_btf_id: the kernel ops struct, expected_attach_type: member).
    programs: HashMap<String, (u32, u32)>,
}

fn refused(map: &str, msg: String) -> Error {
    Error::Refused {
        errno: libc::EINVAL,
        msg: format!("struct_ops map '{map}': {msg}"),
    }
}

fn members(t: Option<&Type>) -> &[crate::btf::Member] {
    match t {
        Some(Type::Struct { members, .. }) => members,
        _ => &[],
    }
}

impl Plan {
    pub fn for_load(spec: &ObjectSpec) -> Result<Plan> {
        let mut plan = Plan::default();
        let maps = spec
            .maps
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match &m.origin {
                MapOrigin::StructOps {
                    type_id,
                    data,
                    funcs,
                    ..
                } => Some((i, &m.name, *type_id, data, funcs)),
                _ => None,
            });
        for (i, name, type_id, data, funcs) in maps {
            let local = spec.btf.as_ref().ok_or_else(|| {
                Error::Invalid(format!("struct_ops map '{name}' needs the object's BTF"))
            })?;
            let kernel = core::kernel_target()?;
            let kbtf = kernel
                .whole()
                .ok_or_else(|| Error::Invalid("the kernel's BTF is not a whole BTF".into()))?;
            let tname = essential_name(local.name_of(type_id)).to_owned();
            let vname = format!("bpf_struct_ops_{tname}");
            let Some(vtype) = kbtf.find(&vname, kind::STRUCT) else {
                let in_module = core::module_targets()?
                    .iter()
                    .any(|m| m.find_exact(&vname, kind::STRUCT).is_some());
                return Err(if in_module {
                    Error::unsupported(
                        "struct_ops of kernel modules",
                        format!("map '{name}': struct {vname} is in a module's BTF"),
                    )
                } else {
                    refused(name, format!("the kernel has no struct {vname}"))
                });
            };
            let ktype = kbtf
                .find(&tname, kind::STRUCT)
                .ok_or_else(|| refused(name, format!("the kernel has no struct {tname}")))?;
            let vt = kbtf.ty(vtype);
            let value_size = match vt {
                Some(Type::Struct { size, .. }) => *size,
                _ => return Err(refused(name, format!("struct {vname} does not decode"))),
            };
            if !members(vt).iter().any(|m| m.type_id == ktype) {
                return Err(refused(
                    name,
                    format!("struct {vname} holds no struct {tname}"),
                ));
            }
            plan.maps.insert(i, (value_size, vtype));

            let kmembers = members(kbtf.ty(ktype));
            for (idx, m) in members(local.type_by_id(type_id)).iter().enumerate() {
                let func = funcs
                    .iter()
                    .find(|(f, _)| *f as usize == idx)
                    .map(|(_, p)| p);
                let size = local.size_of(m.type_id).unwrap_or(0) as usize;
                let off = (m.bit_offset / 8) as usize;
                let zero = data
                    .get(off..off + size)
                    .is_none_or(|b| b.iter().all(|&x| x == 0));
                let Some(kidx) = kmembers.iter().position(|k| k.name == m.name) else {
                    // libbpf skips a member the kernel lacks when the object leaves it zero.
                    if zero && func.is_none() {
                        continue;
                    }
                    return Err(refused(
                        name,
                        format!("the kernel's struct {tname} has no member '{}'", m.name),
                    ));
                };
                let km = &kmembers[kidx];
                if m.bitfield_size != 0 || km.bitfield_size != 0 {
                    return Err(Error::unsupported(
                        "struct_ops bitfield members",
                        format!("map '{name}': member '{}'", m.name),
                    ));
                }
                let lt = skip_mods(local, m.type_id).map(|(_, t)| t.kind());
                let kt = skip_mods(kbtf, km.type_id);
                if lt != kt.map(|(_, t)| t.kind()) {
                    return Err(refused(
                        name,
                        format!("member '{}' is of another kind than the kernel's", m.name),
                    ));
                }
                match (func, kt) {
                    (Some(prog), Some((_, Type::Ptr { type_id }))) => {
                        if !matches!(skip_mods(kbtf, *type_id), Some((_, Type::FuncProto { .. }))) {
                            return Err(refused(
                                name,
                                format!("the kernel's member '{}' is not a function", m.name),
                            ));
                        }
                        let want = (ktype, kidx as u32);
                        match plan.programs.insert(prog.clone(), want) {
                            Some(had) if had != want => {
                                return Err(refused(
                                    name,
                                    format!(
                                        "program '{prog}' implements members of two \
                                         different kinds"
                                    ),
                                ))
                            }
                            _ => {}
                        }
                    }
                    (None, Some((kid, _))) => {
                        let ksize = crate::btf::core::size_of_type(kbtf, kid);
                        if !zero && ksize != Some(size as u64) {
                            return Err(refused(
                                name,
                                format!(
                                    "member '{}' is {size} bytes, the kernel's {ksize:?}",
                                    m.name
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(plan)
    }

    /// The value size and kernel value type of map `index`, if it is a struct_ops map.
    pub fn map(&self, index: usize) -> Option<(u32, u32)> {
        self.maps.get(&index).copied()
    }

    /// The (attach_btf_id, expected_attach_type) of a struct_ops program.
    pub fn program(&self, name: &str) -> Option<(u32, u32)> {
        self.programs.get(name).copied()
    }
}
