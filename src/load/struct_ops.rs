//! Stage: struct_ops. Each struct_ops map's kernel types (the ops struct and the
//! `bpf_struct_ops_<name>` value that wraps it), and for each program a map's function
//! pointer names, the kernel struct it attaches to and the member it implements, as
//! libbpf's bpf_map__init_kern_struct_ops works them out at load.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use crate::btf::core::{essential_name, skip_mods, Types};
use crate::btf::{kind, Type};
use crate::elf::{MapOrigin, ObjectSpec};
use crate::error::{Error, Result};

use super::core;

/// Where a struct_ops map's value takes the object's data and programs: the kernel's
/// `bpf_struct_ops_<name>` with the ops struct at `data_off` (libbpf's kern_vdata).
#[derive(Debug, Default)]
struct ValueLayout {
    size: usize,
    data_off: usize,
    /// (offset in the object's struct, offset in the kernel's, bytes) of data members.
    copies: Vec<(usize, usize, usize)>,
    /// (offset in the kernel's struct, program) of function members.
    funcs: Vec<(usize, String)>,
}

/// What the struct_ops maps of an object take from the kernel.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Map index -> (value size, `bpf_struct_ops_<name>` type id).
    maps: HashMap<usize, (u32, u32)>,
    values: HashMap<usize, ValueLayout>,
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
            let Some(data_member) = members(vt).iter().find(|m| m.type_id == ktype) else {
                return Err(refused(
                    name,
                    format!("struct {vname} holds no struct {tname}"),
                ));
            };
            plan.maps.insert(i, (value_size, vtype));
            let mut layout = ValueLayout {
                size: value_size as usize,
                data_off: (data_member.bit_offset / 8) as usize,
                ..Default::default()
            };

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
                let koff = (km.bit_offset / 8) as usize;
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
                        layout.funcs.push((koff, prog.clone()));
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
                        if !zero {
                            layout.copies.push((off, koff, size));
                        }
                    }
                    _ => {}
                }
            }
            plan.values.insert(i, layout);
        }
        Ok(plan)
    }

    /// The value that registers struct_ops map `index` (libbpf's kern_vdata): its data
    /// members copied from the object, each function member the fd of the program that
    /// implements it. None for other maps.
    pub fn value(
        &self,
        index: usize,
        data: &[u8],
        programs: &[super::LoadedProgram],
    ) -> Option<Result<Vec<u8>>> {
        let layout = self.values.get(&index)?;
        Some((|| {
            let mut v = vec![0u8; layout.size];
            let mut put = |at: usize, bytes: &[u8]| {
                let at = layout.data_off + at;
                match v.get_mut(at..at + bytes.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(bytes);
                        Ok(())
                    }
                    None => Err(Error::Invalid(format!(
                        "struct_ops member at offset {at} is outside the kernel's value"
                    ))),
                }
            };
            for &(off, koff, len) in &layout.copies {
                let src = data.get(off..off + len).ok_or_else(|| {
                    Error::Invalid(format!("struct_ops data member at {off} is past the data"))
                })?;
                put(koff, src)?;
            }
            for (koff, prog) in &layout.funcs {
                let p = programs.iter().find(|p| &p.name == prog).ok_or_else(|| {
                    Error::Invalid(format!(
                        "struct_ops program '{prog}' was not loaded (autoload is off)"
                    ))
                })?;
                put(*koff, &u64::from(p.fd.as_raw_fd() as u32).to_le_bytes())?;
            }
            Ok(v)
        })())
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
