//! A BTF type reduced to what a generated skeleton needs to read and write a variable:
//! the walk behind `bpfbind gen skeleton`'s layout, kept here so that it is pure and testable.

use super::lookup::type_err;
use super::types::{Btf, Type};
use crate::error::Result;

/// A BTF type reduced to what Python code needs to read and write it.
#[derive(Debug, Clone)]
pub enum Desc {
    Int {
        size: u32,
        signed: bool,
    },
    Bool {
        size: u32,
    },
    Char {
        size: u32,
    },
    Float {
        size: u32,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    /// Bitfield member of a struct: `bits` wide at `bit_offset` within its storage.
    Array {
        elem: Box<Desc>,
        len: u32,
        is_char: bool,
    },
    Struct {
        name: String,
        size: u32,
        union: bool,
        fields: Vec<(String, u32, u32, Desc)>,
    },
    Bytes {
        size: u32,
    },
}

const MAX_DEPTH: u32 = 16;

/// The most fields (and enumerators) one description may hold. A type used more than
/// once is described each time, so 16 levels of unions of 8 members each would ask for
/// 8^16; real variables hold a few hundred.
const MAX_NODES: usize = 1 << 16;

/// The description of type `id` (followed through typedefs and modifiers).
pub fn desc(btf: &Btf, id: u32) -> Result<Desc> {
    let mut budget = MAX_NODES;
    desc_at(btf, id, 0, &mut budget)
}

/// The description of a data section's variable `name` of type `id`, `size` bytes in
/// its section. A type larger than that (or without a size) is refused, as the kernel
/// refuses such a DATASEC: Python reads a variable by its type, so an array of 2^32
/// elements in a 4-byte slot would take forever to read back.
pub fn var_desc(btf: &Btf, name: &str, id: u32, size: u32) -> Result<Desc> {
    match btf.size_of(id) {
        Ok(need) if need <= size => desc(btf, id),
        Ok(need) => Err(type_err(
            id,
            format!("variable '{name}' has {size} bytes for a type of {need}"),
        )),
        Err(e) => Err(type_err(id, format!("variable '{name}': {e}"))),
    }
}

fn desc_at(btf: &Btf, id: u32, depth: u32, budget: &mut usize) -> Result<Desc> {
    if depth > MAX_DEPTH {
        // The object's fault, so a format error (ObjectFormatError), not a bad argument.
        return Err(type_err(
            id,
            format!("nested more than {MAX_DEPTH} types deep"),
        ));
    }
    let spend = |budget: &mut usize, n: usize| {
        *budget = budget
            .checked_sub(n)
            .ok_or_else(|| type_err(id, format!("more than {MAX_NODES} fields to describe")))?;
        Ok::<_, crate::error::Error>(())
    };
    spend(budget, 1)?;
    let rid = btf.resolve(id)?;
    let size = || btf.size_of(rid).unwrap_or(0);
    Ok(match btf.type_by_id(rid) {
        Some(Type::Int {
            name,
            size,
            encoding,
            ..
        }) => {
            if encoding & 4 != 0 {
                Desc::Bool { size: *size }
            } else if *size == 1 && (name == "char" || encoding & 2 != 0) {
                Desc::Char { size: 1 }
            } else {
                Desc::Int {
                    size: *size,
                    signed: encoding & 1 != 0,
                }
            }
        }
        Some(Type::Float { size, .. }) => Desc::Float { size: *size },
        Some(Type::Enum {
            name,
            size,
            signed,
            values,
            ..
        }) => {
            spend(budget, values.len())?;
            Desc::Enum {
                name: name.clone(),
                size: *size,
                signed: *signed,
                values: values.clone(),
            }
        }
        Some(Type::Array { elem, nelems, .. }) => {
            let e = desc_at(btf, *elem, depth + 1, budget)?;
            // Not `Desc::Char`, which looks through typedefs: a `mychar[8]` is numbers
            // in obj.metadata and bpftool's text, so it is in skeletons too.
            let is_char = btf.is_char_elem(*elem);
            Desc::Array {
                elem: Box::new(e),
                len: *nelems,
                is_char,
            }
        }
        Some(
            t @ (Type::Struct {
                name,
                size,
                members,
            }
            | Type::Union {
                name,
                size,
                members,
            }),
        ) => {
            let mut fields = Vec::with_capacity(members.len());
            for m in members {
                fields.push((
                    m.name.clone(),
                    m.bit_offset,
                    m.bitfield_size,
                    desc_at(btf, m.type_id, depth + 1, budget)?,
                ));
            }
            Desc::Struct {
                name: name.clone(),
                size: *size,
                union: matches!(t, Type::Union { .. }),
                fields,
            }
        }
        _ => Desc::Bytes { size: size() },
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{format_err, RawBtf};
    use super::super::types::kind;
    use super::*;

    /// Every array type of the shared test BTF: a skeleton reads it as a string exactly
    /// where obj.metadata (the value decoder) and bpftool's text would.
    #[test]
    fn char_arrays_agree_with_the_value_decoder() {
        let btf = super::super::testutil::values_btf();
        let mut arrays = 0;
        for id in 1..btf.types.len() as u32 {
            let Some(super::super::Type::Array { elem, nelems, .. }) = btf.type_by_id(id) else {
                continue;
            };
            let Ok(Desc::Array { is_char, .. }) = desc(&btf, id) else {
                continue;
            };
            let size = btf.size_of(*elem).unwrap() as usize * *nelems as usize;
            let mut bytes = vec![0u8; size];
            bytes[0] = b'a';
            let decoded = btf.decode(id, &bytes).unwrap();
            let is_str = matches!(decoded, crate::btf::Value::Str(_));
            assert_eq!(is_char, is_str, "type [{id}]: {decoded:?}");
            arrays += 1;
        }
        assert!(arrays >= 8, "{arrays}");
    }

    /// 100,000 nested arrays (or structs) are an ObjectFormatError naming .BTF, as every
    /// other malformed type is, not a ValueError.
    #[test]
    fn deep_nesting_is_a_format_error() {
        for wrap in [kind::ARRAY, kind::STRUCT] {
            let mut b = RawBtf::new();
            let int = b.int("int", 4, 1, 32);
            let mut top = int;
            for _ in 0..100_000 {
                top = if wrap == kind::ARRAY {
                    b.array(top, int, 1)
                } else {
                    b.strukt("s", 4, &[("m", top, 0)])
                };
            }
            let btf = Btf::parse(&b.bytes()).unwrap();
            let (_, msg) = format_err(".BTF", desc(&btf, top));
            assert!(msg.contains("nested more than 16"), "{msg}");
        }
    }

    /// 16 levels of unions of 8 members of the level below asked for 8^16 descriptions
    /// (open_object ran out of memory); a budget of fields ends it in a format error,
    /// and an enum's enumerators count against it.
    #[test]
    fn shared_types_cannot_multiply_fields() {
        let mut b = RawBtf::new();
        let mut top = b.int("int", 4, 1, 32);
        for _ in 0..16 {
            let members: Vec<_> = (0..8).map(|_| ("m", top, 0)).collect();
            top = b.union("u", 4, &members);
        }
        let values: Vec<(String, u32)> = (0..4096).map(|i| (format!("e{i}"), i)).collect();
        let named: Vec<_> = values.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let e = b.enum32("e", 4, false, &named);
        let members: Vec<_> = (0..32).map(|_| ("m", e, 0)).collect();
        let enums = b.strukt("s", 4, &members);
        let mut fit = b.int("int", 4, 1, 32);
        for _ in 0..8 {
            let members: Vec<_> = (0..3).map(|_| ("m", fit, 0)).collect();
            fit = b.union("u", 4, &members);
        }
        let btf = Btf::parse(&b.bytes()).unwrap();
        for id in [top, enums] {
            let (_, msg) = format_err(".BTF", desc(&btf, id));
            assert!(msg.contains("more than 65536 fields"), "{msg}");
        }
        // 3^8 fields and 3^8 more unions fit.
        assert!(matches!(
            desc(&btf, fit),
            Ok(Desc::Struct { union: true, .. })
        ));
    }

    /// A variable whose type claims more than its place in the section: 2^32 ints in 4
    /// bytes (which open_object's variables then tried to read element by element), or
    /// a type too large to have a size.
    #[test]
    fn variables_larger_than_their_place_are_format_errors() {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        let huge = b.array(int, int, u32::MAX);
        let row = b.array(int, int, 1 << 16);
        let wide = b.array(row, int, 1 << 16);
        let btf = Btf::parse(&b.bytes()).unwrap();
        assert!(matches!(
            var_desc(&btf, "v", int, 4),
            Ok(Desc::Int { size: 4, .. })
        ));
        assert!(matches!(var_desc(&btf, "v", int, 8), Ok(Desc::Int { .. })));
        for (id, size) in [(int, 3), (huge, 4), (wide, u32::MAX)] {
            let (_, msg) = format_err(".BTF", var_desc(&btf, "v", id, size));
            assert!(msg.contains("variable 'v'"), "{msg}");
        }
    }
}
