//! Queries over a parsed `Btf`: strings by offset, types by id or name, modifier chains, sizes.
//! Every walk along type references is capped, so hand-built models with cycles cannot hang us.

use super::core::Types;
use super::types::{kind, Btf, Type};
use crate::error::{Error, Result};

/// The longest chain of references we follow (libbpf's MAX_RESOLVE_DEPTH); a valid object
/// never comes close, so hitting it means a cycle or garbage.
pub(crate) const MAX_CHAIN: usize = 32;

/// BPF is a 64-bit target whatever the host.
pub(crate) const PTR_SIZE: u32 = 8;

impl Type {
    /// The kernel's kind number (`kind::*`); `Void` is `kind::UNKN`.
    pub fn kind(&self) -> u32 {
        match self {
            Type::Void => kind::UNKN,
            Type::Int { .. } => kind::INT,
            Type::Ptr { .. } => kind::PTR,
            Type::Array { .. } => kind::ARRAY,
            Type::Struct { .. } => kind::STRUCT,
            Type::Union { .. } => kind::UNION,
            Type::Enum { is64: false, .. } => kind::ENUM,
            Type::Enum { is64: true, .. } => kind::ENUM64,
            Type::Fwd { .. } => kind::FWD,
            Type::Typedef { .. } => kind::TYPEDEF,
            Type::Volatile { .. } => kind::VOLATILE,
            Type::Const { .. } => kind::CONST,
            Type::Restrict { .. } => kind::RESTRICT,
            Type::TypeTag { .. } => kind::TYPE_TAG,
            Type::Func { .. } => kind::FUNC,
            Type::FuncProto { .. } => kind::FUNC_PROTO,
            Type::Var { .. } => kind::VAR,
            Type::Datasec { .. } => kind::DATASEC,
            Type::Float { .. } => kind::FLOAT,
            Type::DeclTag { .. } => kind::DECL_TAG,
        }
    }

    /// The type's name; "" for anonymous types and kinds that carry none.
    pub fn name(&self) -> &str {
        match self {
            Type::Int { name, .. }
            | Type::Struct { name, .. }
            | Type::Union { name, .. }
            | Type::Enum { name, .. }
            | Type::Fwd { name, .. }
            | Type::Typedef { name, .. }
            | Type::TypeTag { name, .. }
            | Type::Func { name, .. }
            | Type::Var { name, .. }
            | Type::Datasec { name, .. }
            | Type::Float { name, .. }
            | Type::DeclTag { name, .. } => name,
            Type::Void
            | Type::Ptr { .. }
            | Type::Array { .. }
            | Type::Volatile { .. }
            | Type::Const { .. }
            | Type::Restrict { .. }
            | Type::FuncProto { .. } => "",
        }
    }

    /// The one type this is a qualifier or alias of (typedef, volatile, const, restrict,
    /// type_tag).
    pub(crate) fn modified(&self, through_typedef: bool) -> Option<u32> {
        match self {
            Type::Typedef { type_id, .. } if through_typedef => Some(*type_id),
            Type::Volatile { type_id }
            | Type::Const { type_id }
            | Type::Restrict { type_id }
            | Type::TypeTag { type_id, .. } => Some(*type_id),
            _ => None,
        }
    }
}

/// Errors about the model itself (not about bytes being parsed): ids come from the model.
pub(crate) fn type_err(id: u32, msg: impl std::fmt::Display) -> Error {
    Error::format(".BTF", 0, format!("type [{id}]: {msg}"))
}

fn no_such_type(id: u32) -> Error {
    Error::Invalid(format!("BTF has no type [{id}]"))
}

impl Btf {
    /// The NUL-terminated string at `off` in the string table.
    pub fn name_at(&self, off: u32) -> Option<&str> {
        let tail = self.strings.get(usize::try_from(off).ok()?..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(tail.get(..end)?).ok()
    }

    pub fn type_by_id(&self, id: u32) -> Option<&Type> {
        self.types.get(usize::try_from(id).ok()?)
    }

    /// The first type of `kind` (a `kind::*` constant) named `name`.
    pub fn find(&self, name: &str, kind: u32) -> Option<u32> {
        let idx = self
            .types
            .iter()
            .position(|t| t.kind() == kind && t.name() == name)?;
        u32::try_from(idx).ok()
    }

    /// The type's name, "" when anonymous or unknown.
    pub fn name_of(&self, id: u32) -> &str {
        self.type_by_id(id).map_or("", Type::name)
    }

    /// The type's kind (`kind::*`); `kind::UNKN` for void and for ids not in the table.
    pub fn kind_of(&self, id: u32) -> u32 {
        self.type_by_id(id).map_or(kind::UNKN, Type::kind)
    }

    /// Follows typedef, volatile, const, restrict and type_tag to the type they qualify.
    pub fn resolve(&self, id: u32) -> Result<u32> {
        self.skip_chain(id, true)
    }

    /// Like `resolve` but stops at typedefs: bpftool's test for "is this a char array"
    /// does not look through them.
    pub(crate) fn skip_mods(&self, id: u32) -> Result<u32> {
        self.skip_chain(id, false)
    }

    fn skip_chain(&self, mut id: u32, through_typedef: bool) -> Result<u32> {
        for _ in 0..=MAX_CHAIN {
            let t = self.type_by_id(id).ok_or_else(|| no_such_type(id))?;
            match t.modified(through_typedef) {
                Some(next) => id = next,
                None => return Ok(id),
            }
        }
        Err(type_err(id, "modifier chain too long (a cycle?)"))
    }

    /// The size in bytes of a value of the type (libbpf's btf__resolve_size): pointers are 8,
    /// arrays elem * n, and typedefs, modifiers, VARs and decl tags are looked through.
    pub fn size_of(&self, id: u32) -> Result<u32> {
        size_in(self, id)
    }
}

/// `Btf::size_of` over any types (a whole BTF, a lazily read or a split one), for CO-RE.
pub(crate) fn size_in(types: &dyn Types, id: u32) -> Result<u32> {
    let start = id;
    let mut id = id;
    let mut count: u32 = 1;
    for _ in 0..=MAX_CHAIN {
        let t = types.ty(id).ok_or_else(|| no_such_type(id))?;
        let size = match t {
            Type::Int { size, .. }
            | Type::Struct { size, .. }
            | Type::Union { size, .. }
            | Type::Enum { size, .. }
            | Type::Datasec { size, .. }
            | Type::Float { size, .. } => *size,
            Type::Ptr { .. } => PTR_SIZE,
            Type::Array { elem, nelems, .. } => {
                count = count
                    .checked_mul(*nelems)
                    .ok_or_else(|| type_err(start, "array size overflows 32 bits"))?;
                id = *elem;
                continue;
            }
            Type::Typedef { type_id, .. }
            | Type::Volatile { type_id }
            | Type::Const { type_id }
            | Type::Restrict { type_id }
            | Type::TypeTag { type_id, .. }
            | Type::Var { type_id, .. }
            | Type::DeclTag { type_id, .. } => {
                id = *type_id;
                continue;
            }
            Type::Void | Type::Fwd { .. } | Type::Func { .. } | Type::FuncProto { .. } => {
                return Err(Error::Invalid(format!(
                    "BTF type [{id}] ({}) has no size",
                    kind_name(t.kind())
                )))
            }
        };
        return size
            .checked_mul(count)
            .ok_or_else(|| type_err(start, "size overflows 32 bits"));
    }
    Err(type_err(start, "type chain too long (a cycle?)"))
}

/// The kernel's spelling of a kind, for messages.
pub(crate) fn kind_name(k: u32) -> &'static str {
    match k {
        kind::UNKN => "UNKN",
        kind::INT => "INT",
        kind::PTR => "PTR",
        kind::ARRAY => "ARRAY",
        kind::STRUCT => "STRUCT",
        kind::UNION => "UNION",
        kind::ENUM => "ENUM",
        kind::FWD => "FWD",
        kind::TYPEDEF => "TYPEDEF",
        kind::VOLATILE => "VOLATILE",
        kind::CONST => "CONST",
        kind::RESTRICT => "RESTRICT",
        kind::FUNC => "FUNC",
        kind::FUNC_PROTO => "FUNC_PROTO",
        kind::VAR => "VAR",
        kind::DATASEC => "DATASEC",
        kind::FLOAT => "FLOAT",
        kind::DECL_TAG => "DECL_TAG",
        kind::TYPE_TAG => "TYPE_TAG",
        kind::ENUM64 => "ENUM64",
        _ => "unknown kind",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::sample;
    use super::*;

    fn btf() -> Btf {
        Btf::parse(&sample().0).unwrap()
    }

    #[test]
    fn names_kinds_and_finding() {
        let b = btf();
        assert_eq!(b.name_at(1), Some("int"));
        assert_eq!(b.name_at(2), Some("nt"));
        assert_eq!(b.name_at(0), Some(""));
        assert_eq!(b.name_at(b.strings.len() as u32), None);
        assert_eq!(b.name_at(u32::MAX), None);
        assert_eq!(b.find("u32", kind::TYPEDEF), Some(10));
        assert_eq!(b.find("u32", kind::INT), None);
        assert_eq!(b.find("big", kind::ENUM64), Some(8));
        assert_eq!(b.find("big", kind::ENUM), None);
        assert_eq!(b.find(".data", kind::DATASEC), Some(18));
        assert_eq!(b.name_of(16), "main");
        assert_eq!(b.name_of(13), "");
        assert_eq!(b.name_of(999), "");
        assert_eq!(b.kind_of(0), kind::UNKN);
        assert_eq!(b.kind_of(21), kind::TYPE_TAG);
        assert_eq!(b.kind_of(999), kind::UNKN);
        assert!(matches!(b.type_by_id(4), Some(Type::Array { .. })));
        assert!(b.type_by_id(23).is_none());
    }

    #[test]
    fn resolve_skips_modifiers_and_typedefs() {
        let b = btf();
        assert_eq!(b.resolve(12).unwrap(), 1); // const volatile int
        assert_eq!(b.resolve(10).unwrap(), 2); // u32
        assert_eq!(b.resolve(21).unwrap(), 1); // type tag
        assert_eq!(b.resolve(14).unwrap(), 13); // restrict -> ptr, stops at the ptr
        assert_eq!(b.resolve(5).unwrap(), 5);
        assert_eq!(b.skip_mods(10).unwrap(), 10);
        assert!(matches!(b.resolve(99), Err(Error::Invalid(_))));
    }

    #[test]
    fn sizes() {
        let b = btf();
        let size = |id| b.size_of(id).unwrap();
        assert_eq!(size(1), 4);
        assert_eq!(size(3), 1);
        assert_eq!(size(4), 4); // char[4]
        assert_eq!(size(5), 12);
        assert_eq!(size(6), 4);
        assert_eq!(size(8), 8);
        assert_eq!(size(22), 1);
        assert_eq!(size(10), 4);
        assert_eq!(size(12), 4);
        assert_eq!(size(13), 8);
        assert_eq!(size(14), 8);
        assert_eq!(size(17), 4); // var
        assert_eq!(size(18), 4); // datasec
        assert_eq!(size(19), 4);
        assert_eq!(size(21), 4);
        for sizeless in [0, 9, 15, 16] {
            assert!(
                matches!(b.size_of(sizeless), Err(Error::Invalid(_))),
                "{sizeless}"
            );
        }
    }

    #[test]
    fn multi_dimensional_arrays_and_overflow() {
        let mut b = btf();
        b.types.push(Type::Array {
            elem: 4,
            index: 2,
            nelems: 3,
        }); // 23: char[3][4]
        b.types.push(Type::Array {
            elem: 23,
            index: 2,
            nelems: 2,
        }); // 24: char[2][3][4]
        assert_eq!(b.size_of(24).unwrap(), 24);
        b.types.push(Type::Array {
            elem: 1,
            index: 2,
            nelems: u32::MAX,
        }); // 25
        assert!(matches!(b.size_of(25), Err(Error::Format { .. })));
    }

    #[test]
    fn hand_built_cycles_end_in_errors() {
        let b = Btf {
            types: vec![
                Type::Void,
                Type::Typedef {
                    name: "a".into(),
                    type_id: 2,
                },
                Type::Const { type_id: 1 },
                Type::Array {
                    elem: 3,
                    index: 0,
                    nelems: 1,
                },
            ],
            strings: vec![0],
        };
        assert!(b.resolve(1).is_err());
        assert!(b.size_of(1).is_err());
        assert!(b.size_of(3).is_err());
    }
}
