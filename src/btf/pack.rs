//! `Value` + a BTF type -> bytes: the inverse of decode.rs, for map keys and values given
//! as Python values. Whatever `decode` produces packs back to the same bytes.

use super::decode::{INT_CHAR, MAX_NEST};
use super::types::{Btf, Member, Type, Value};
use crate::error::{Error, Result};

/// Writes `nr_bits` low bits of `v` at `bit_off` bits into `buf` (little-endian bitfield
/// layout, as `read_bits` reads it). The callers checked that they fit; bits past the
/// end (only hostile BTF could place them there) are dropped rather than panic.
fn write_bits(buf: &mut [u8], bit_off: usize, nr_bits: u32, v: u128) {
    for i in 0..(nr_bits as usize).min(128) {
        let pos = bit_off + i;
        let bit = (v >> i) & 1 == 1;
        let Some(byte) = buf.get_mut(pos / 8) else {
            return;
        };
        if bit {
            *byte |= 1 << (pos % 8);
        } else {
            *byte &= !(1 << (pos % 8));
        }
    }
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Invalid(what.to_string())
}

/// An integer as the low `bits` bits, refused when it does not fit in them as a signed or
/// an unsigned number (either is accepted: -1 fits a u8 as 255 would not, by design).
fn int_bits(v: i128, bits: u32, path: &str) -> Result<u128> {
    // i128 holds any 127- and 128-bit value given from Python as it is.
    if bits >= 127 {
        return Ok(v as u128);
    }
    let min = -(1i128 << (bits.max(1) - 1));
    let max = (1i128 << bits) - 1;
    if v < min || v > max {
        return Err(bad(format!("{path}: {v} does not fit in {bits} bits")));
    }
    Ok((v as u128) & ((1u128 << bits) - 1))
}

struct Packer<'a> {
    btf: &'a Btf,
}

impl Btf {
    /// Packs `value` as type `type_id` into a new buffer of the type's size: ints from
    /// Int/Bool, enums from a name or a number, structs from their named fields (missing
    /// ones zero), arrays from lists of their length, char arrays also from a string, and
    /// any type from bytes of its size.
    pub fn pack(&self, type_id: u32, value: &Value) -> Result<Vec<u8>> {
        let size = self.size_of(type_id)? as usize;
        let mut buf = vec![0u8; size];
        Packer { btf: self }.put(type_id, value, &mut buf, 0, "value", 0)?;
        Ok(buf)
    }
}

impl Packer<'_> {
    fn is_char(&self, elem: u32) -> bool {
        let Ok(id) = self.btf.resolve(elem) else {
            return false;
        };
        matches!(
            self.btf.type_by_id(id),
            Some(Type::Int { size: 1, encoding, name, .. }) if *encoding & INT_CHAR != 0
                || name == "char" || name == "unsigned char" || name == "signed char"
        )
    }

    /// Writes `v` as type `type_id` at byte `at` of `buf` (which holds the whole type).
    fn put(
        &self,
        type_id: u32,
        v: &Value,
        buf: &mut [u8],
        at: usize,
        path: &str,
        depth: u32,
    ) -> Result<()> {
        if depth > MAX_NEST {
            return Err(bad(format!("{path}: values nest too deeply")));
        }
        let id = self.btf.resolve_value(type_id)?;
        let size = self.btf.size_of(id).unwrap_or(0) as usize;
        let end = at
            .checked_add(size)
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| bad(format!("{path}: type [{id}] runs past the value")))?;
        if let Value::Bytes(b) = v {
            if b.len() != size {
                return Err(bad(format!(
                    "{path}: {} bytes given for a type of {size}",
                    b.len()
                )));
            }
            buf[at..end].copy_from_slice(b);
            return Ok(());
        }
        let t = self
            .btf
            .type_by_id(id)
            .ok_or_else(|| bad(format!("BTF has no type [{id}]")))?;
        match t {
            Type::Int {
                encoding,
                bit_offset,
                bits,
                ..
            } => {
                let raw = self.int_of(v, *encoding, path)?;
                let bits = u32::from(*bits);
                let raw = int_bits(raw, bits, path)?;
                write_bits(buf, at * 8 + usize::from(*bit_offset), bits, raw);
                Ok(())
            }
            Type::Enum { size, values, .. } => {
                let raw = enum_of(v, values, path)?;
                let bits = size.saturating_mul(8);
                write_bits(buf, at * 8, bits, int_bits(raw, bits, path)?);
                Ok(())
            }
            Type::Float { size, .. } => {
                let f = match v {
                    Value::Float(f) => *f,
                    Value::Int(i) => *i as f64,
                    _ => return Err(bad(format!("{path}: a float is needed"))),
                };
                match size {
                    4 => buf[at..end].copy_from_slice(&(f as f32).to_le_bytes()),
                    8 => buf[at..end].copy_from_slice(&f.to_le_bytes()),
                    _ => {
                        return Err(Error::unsupported(
                            format!("{size}-byte floats"),
                            format!("{path}: give the value as bytes"),
                        ))
                    }
                }
                Ok(())
            }
            Type::Ptr { .. } => match v {
                Value::Int(i) => {
                    let raw = int_bits(*i, 64, path)?;
                    buf[at..end].copy_from_slice(&(raw as u64).to_le_bytes());
                    Ok(())
                }
                _ => Err(bad(format!("{path}: a pointer takes an int or bytes"))),
            },
            Type::Array { elem, nelems, .. } => {
                let n = *nelems as usize;
                if let Value::Str(s) = v {
                    if !self.is_char(*elem) {
                        return Err(bad(format!("{path}: a string for a non-char array")));
                    }
                    if s.len() > n {
                        return Err(bad(format!(
                            "{path}: {} bytes of text for char[{n}]",
                            s.len()
                        )));
                    }
                    buf[at..at + s.len()].copy_from_slice(s.as_bytes());
                    buf[at + s.len()..end].fill(0);
                    return Ok(());
                }
                let Value::Array(items) = v else {
                    return Err(bad(format!("{path}: a list of {n} is needed")));
                };
                if items.len() != n {
                    return Err(bad(format!(
                        "{path}: {} items for an array of {n}",
                        items.len()
                    )));
                }
                let esize = self.btf.size_of(*elem)? as usize;
                for (i, it) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.put(*elem, it, buf, at + i * esize, &p, depth + 1)?;
                }
                Ok(())
            }
            Type::Struct { members, .. } | Type::Union { members, .. } => {
                let Value::Struct(fields) = v else {
                    return Err(bad(format!("{path}: a dict of fields is needed")));
                };
                for (name, fv) in fields {
                    let m = members.iter().find(|m| &m.name == name).ok_or_else(|| {
                        bad(format!(
                            "{path}: type '{}' has no field '{name}'",
                            self.btf.name_of(id)
                        ))
                    })?;
                    let p = if name.is_empty() {
                        path.to_string()
                    } else {
                        format!("{path}.{name}")
                    };
                    self.put_member(m, fv, buf, at, &p, depth)?;
                }
                Ok(())
            }
            Type::Datasec { vars, .. } => {
                let Value::Struct(fields) = v else {
                    return Err(bad(format!("{path}: a dict of variables is needed")));
                };
                for (name, fv) in fields {
                    let var = vars
                        .iter()
                        .find_map(|vs| match self.btf.type_by_id(vs.type_id) {
                            Some(Type::Var {
                                name: n, type_id, ..
                            }) if n == name => Some((*type_id, vs.offset as usize)),
                            _ => None,
                        });
                    let (ty, off) = var.ok_or_else(|| {
                        bad(format!(
                            "{path}: section '{}' has no variable '{name}'",
                            self.btf.name_of(id)
                        ))
                    })?;
                    let p = format!("{path}.{name}");
                    self.put(ty, fv, buf, at.saturating_add(off), &p, depth + 1)?;
                }
                Ok(())
            }
            Type::Void | Type::Func { .. } | Type::FuncProto { .. } if size == 0 => Ok(()),
            _ => Err(bad(format!(
                "{path}: BTF type [{id}] ({}) takes bytes only",
                super::lookup::kind_name(t.kind())
            ))),
        }
    }

    fn put_member(
        &self,
        m: &Member,
        v: &Value,
        buf: &mut [u8],
        at: usize,
        path: &str,
        depth: u32,
    ) -> Result<()> {
        if m.bitfield_size == 0 {
            if m.bit_offset % 8 != 0 {
                // An INT of fewer bits at a bit offset (bitfields as older compilers wrote
                // them): the only type that can sit there.
                let target = self.btf.resolve_value(m.type_id)?;
                let Some(Type::Int {
                    encoding,
                    bit_offset,
                    bits,
                    ..
                }) = self.btf.type_by_id(target)
                else {
                    return Err(Error::unsupported(
                        "members at bit offsets",
                        format!("{path} is not byte-aligned"),
                    ));
                };
                let bit = at * 8 + m.bit_offset as usize + usize::from(*bit_offset);
                let bits = u32::from(*bits);
                if bit + bits as usize > buf.len() * 8 {
                    return Err(bad(format!("{path}: member runs past the value")));
                }
                let raw = int_bits(self.int_of(v, *encoding, path)?, bits, path)?;
                write_bits(buf, bit, bits, raw);
                return Ok(());
            }
            let off = at.saturating_add((m.bit_offset / 8) as usize);
            return self.put(m.type_id, v, buf, off, path, depth + 1);
        }
        let target = self.btf.resolve_value(m.type_id)?;
        let raw = match self.btf.type_by_id(target) {
            Some(Type::Enum { values, .. }) => enum_of(v, values, path)?,
            Some(Type::Int { encoding, .. }) => self.int_of(v, *encoding, path)?,
            _ => self.int_of(v, 0, path)?,
        };
        let bit = at * 8 + m.bit_offset as usize;
        if bit + m.bitfield_size as usize > buf.len() * 8 {
            return Err(bad(format!("{path}: bitfield runs past the value")));
        }
        write_bits(
            buf,
            bit,
            m.bitfield_size,
            int_bits(raw, m.bitfield_size, path)?,
        );
        Ok(())
    }

    fn int_of(&self, v: &Value, encoding: u8, path: &str) -> Result<i128> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(i128::from(*b)),
            Value::Enum { value, .. } => Ok(*value),
            // A one-character string for a char.
            Value::Str(s) if encoding & INT_CHAR != 0 && s.len() == 1 => {
                Ok(i128::from(s.as_bytes()[0]))
            }
            _ => Err(bad(format!("{path}: an int is needed"))),
        }
    }
}

fn enum_of(v: &Value, values: &[(String, i64)], path: &str) -> Result<i128> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Enum { value, .. } => Ok(*value),
        Value::Str(s) => values
            .iter()
            .find(|(n, _)| n == s)
            .map(|(_, x)| i128::from(*x))
            .ok_or_else(|| bad(format!("{path}: no enumerator '{s}'"))),
        _ => Err(bad(format!(
            "{path}: an enumerator name or an int is needed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::values_btf;
    use super::*;

    /// Every value the decoder reads from these bytes packs back to them.
    #[test]
    fn decode_then_pack_round_trips() {
        let b = values_btf();
        let cases: Vec<(u32, Vec<u8>)> = vec![
            (1, (-5i32).to_le_bytes().to_vec()),
            (2, vec![0xff; 4]),
            (3, vec![0xff]),
            (8, i64::MIN.to_le_bytes().to_vec()),
            (9, u64::MAX.to_le_bytes().to_vec()),
            (10, (-5i128).to_le_bytes().to_vec()),
            (12, vec![1]),
            (16, b"foo\0\0\0".to_vec()),
            (16, b"abcdef".to_vec()),
            (22, (-1i32).to_le_bytes().to_vec()),
            (22, 7i32.to_le_bytes().to_vec()),
            (24, u64::MAX.to_le_bytes().to_vec()),
            (25, vec![0x3f, 0, 0, 0, b'h', b'i', 0, 0, 65, 0, 0, 0]),
            (29, vec![0x17, 0, 0xfe, 0xff]),
            (43, vec![0b111]),
            (31, 1.5f32.to_le_bytes().to_vec()),
            (32, (-2.25f64).to_le_bytes().to_vec()),
            (33, 0x1234u64.to_le_bytes().to_vec()),
            (41, vec![7, 0, 0, 0, b'h', b'i', 0, 0]),
        ];
        for (id, bytes) in cases {
            let v = b.decode(id, &bytes).unwrap();
            assert_eq!(b.pack(id, &v).unwrap(), bytes, "type {id}: {v:?}");
        }
        let arr: Vec<u8> = [-1i64, 2, 3, 4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let v = b.decode(35, &arr).unwrap();
        assert_eq!(b.pack(35, &v).unwrap(), arr);
    }

    #[test]
    fn names_strings_and_partial_structs() {
        let b = values_btf();
        assert_eq!(
            b.pack(22, &Value::Str("B".into())).unwrap(),
            (-1i32).to_le_bytes()
        );
        assert_eq!(b.pack(16, &Value::Str("ab".into())).unwrap(), b"ab\0\0\0\0");
        // Missing fields are zero.
        let v = Value::Struct(vec![("b".into(), Value::Int(7))]);
        assert_eq!(
            b.pack(25, &v).unwrap(),
            [0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            b.pack(1, &Value::Bytes(vec![1, 2, 3, 4])).unwrap(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn hostile_types_end_in_errors_not_panics() {
        let mut b = values_btf();
        let n = b.types.len() as u32;
        // An INT claiming more bits than its size, and one at a bit offset past it.
        b.types.push(Type::int("wide", 1, 0, 64));
        b.types.push(Type::Int {
            name: "far".into(),
            size: 1,
            encoding: 0,
            bit_offset: 200,
            bits: 8,
        });
        assert_eq!(b.pack(n, &Value::Int(3)).unwrap(), [3]);
        assert_eq!(b.pack(n + 1, &Value::Int(3)).unwrap(), [0]);
        assert!(b.pack(n, &Value::Int(i128::MAX)).is_err());
        let deep = (0..200).fold(Value::Int(1), |v, _| Value::Array(vec![v]));
        assert!(b.pack(35, &deep).is_err());
    }

    #[test]
    fn wrong_values_are_refused() {
        let b = values_btf();
        let err = |id, v: Value| b.pack(id, &v).unwrap_err().to_string();
        assert!(err(4, Value::Int(256)).contains("does not fit"));
        assert!(err(3, Value::Int(-129)).contains("does not fit"));
        assert!(err(16, Value::Str("toolong".into())).contains("char[6]"));
        assert!(err(22, Value::Str("Q".into())).contains("no enumerator"));
        assert!(err(25, Value::Struct(vec![("zz".into(), Value::Int(1))])).contains("no field"));
        assert!(err(35, Value::Array(vec![])).contains("items"));
        assert!(err(1, Value::Bytes(vec![1])).contains("bytes given"));
        assert!(err(1, Value::Str("x".into())).contains("an int"));
    }
}
