//! Bytes + a BTF type -> `Value` (what Python sees), and DATASEC walking shared with dump.rs.
//! Every read is bounds-checked; nesting and output size are capped for hostile BTF.

use super::lookup::MAX_CHAIN;
use super::types::{Btf, Member, Type, Value};
use crate::error::{Error, Result};

/// How deep values may nest (structs in arrays in structs...). The kernel caps type
/// resolution at 32 levels, so valid BTF stays well below this.
pub(crate) const MAX_NEST: u32 = 64;

/// BTF_INT_* encoding bits.
pub(crate) const INT_SIGNED: u8 = 1;
pub(crate) const INT_CHAR: u8 = 2;
pub(crate) const INT_BOOL: u8 = 4;

/// One DATASEC variable with its bytes: `at` is where they start in the section.
pub(crate) struct VarSlice<'d> {
    pub name: String,
    pub type_id: u32,
    pub at: usize,
    pub data: &'d [u8],
}

/// Where we are in the caller's bytes, for errors, and how much output we may still make.
pub(crate) struct Cursor {
    /// What the bytes are (a section, a variable, a type), for error messages.
    pub label: String,
    /// How many values may still be produced: zero-sized elements would otherwise let a
    /// tiny input ask for billions of them.
    pub budget: usize,
}

impl Cursor {
    pub fn new(label: String, data_len: usize) -> Self {
        Cursor {
            label,
            budget: data_len.saturating_mul(16).saturating_add(1 << 16),
        }
    }

    pub fn short(&self, at: usize, what: impl std::fmt::Display) -> Error {
        Error::format(
            self.label.clone(),
            at as u64,
            format!("data too short for {what}"),
        )
    }

    pub fn spend(&mut self, at: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            Error::format(self.label.clone(), at as u64, "value too large to decode")
        })?;
        Ok(())
    }
}

/// How errors name a value decoded by type rather than from a section.
pub(crate) fn value_label(btf: &Btf, type_id: u32) -> String {
    match btf.name_of(type_id) {
        "" => format!("value of BTF type [{type_id}]"),
        n => format!("value of BTF type [{type_id}] {n}"),
    }
}

/// `nr_bits` bits starting `bit_off` bits into `data` (little-endian bitfield layout), or
/// None when they are not all inside `data` or `nr_bits` exceeds 128.
pub(crate) fn read_bits(data: &[u8], bit_off: usize, nr_bits: u32) -> Option<u128> {
    if nr_bits > 128 {
        return None;
    }
    let start = bit_off / 8;
    let shift = bit_off % 8;
    let nbytes = (shift + nr_bits as usize).div_ceil(8);
    let bytes = data.get(start..start.checked_add(nbytes)?)?;
    let mut v: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Bit 0 of byte i lands at result bit 8*i - shift.
        let pos = i * 8;
        if pos >= shift {
            if let Some(part) = u128::from(b).checked_shl((pos - shift) as u32) {
                v |= part;
            }
        } else {
            v |= u128::from(b) >> (shift - pos);
        }
    }
    if nr_bits < 128 {
        v &= (1u128 << nr_bits) - 1;
    }
    Some(v)
}

pub(crate) fn sign_extend(v: u128, bits: u32) -> i128 {
    match bits {
        0 => 0,
        1..=127 => {
            let s = 128 - bits;
            ((v << s) as i128) >> s
        }
        _ => v as i128,
    }
}

pub(crate) fn le_u64(data: &[u8]) -> Option<u64> {
    let b: [u8; 8] = data.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

impl Btf {
    /// bpftool's test for a char element, whose arrays may print as strings: seen
    /// through modifiers but not typedefs, a 1-byte INT that is char-encoded or named
    /// "char". The one rule of every consumer: values, bpftool's text, skeleton layouts.
    pub(crate) fn is_char_elem(&self, elem: u32) -> bool {
        matches!(
            self.skip_mods(elem).ok().and_then(|id| self.type_by_id(id)),
            Some(Type::Int { name, size: 1, encoding, .. })
                if *encoding == INT_CHAR || name == "char"
        )
    }

    /// bpftool's test for printing an array as a string: a char element (see
    /// `is_char_elem`), and bytes that hold a NUL with only printable ASCII before it.
    pub(crate) fn is_str_array(&self, elem: u32, nelems: u32, data: &[u8]) -> bool {
        if nelems == 0 || !self.is_char_elem(elem) {
            return false;
        }
        for &b in data.iter().take(nelems as usize) {
            if b == 0 {
                return true;
            }
            if !(0x20..=0x7e).contains(&b) {
                return false;
            }
        }
        false
    }

    /// The DATASEC's variables in order: (name, type of the variable, offset, size).
    /// The type is the VAR's target, what `decode` and `dump_json` take.
    pub fn datasec_vars(&self, datasec_id: u32) -> Result<Vec<(String, u32, u32, u32)>> {
        let Some(Type::Datasec {
            name: sec, vars, ..
        }) = self.type_by_id(datasec_id)
        else {
            return Err(Error::Invalid(format!(
                "BTF type [{datasec_id}] is not a DATASEC"
            )));
        };
        vars.iter()
            .map(|v| match self.type_by_id(v.type_id) {
                Some(Type::Var { name, type_id, .. }) => {
                    Ok((name.clone(), *type_id, v.offset, v.size))
                }
                _ => Err(super::lookup::type_err(
                    datasec_id,
                    format!("DATASEC '{sec}' holds type [{}], not a VAR", v.type_id),
                )),
            })
            .collect()
    }

    /// The variables of a DATASEC whose names start with `prefix` (all when None), with the
    /// prefix stripped, each with its slice of `data` (which runs to the end of `data`, as
    /// bpftool reads it).
    pub(crate) fn datasec_slices<'d>(
        &self,
        datasec_id: u32,
        data: &'d [u8],
        prefix: Option<&str>,
    ) -> Result<Vec<VarSlice<'d>>> {
        let sec = self.name_of(datasec_id).to_owned();
        let mut out = Vec::new();
        for (name, type_id, offset, _) in self.datasec_vars(datasec_id)? {
            let short = match prefix {
                Some(p) => match name.strip_prefix(p) {
                    Some(rest) => rest.to_owned(),
                    None => continue,
                },
                None => name,
            };
            let at = offset as usize;
            let slice = data.get(at..).ok_or_else(|| {
                Error::format(
                    sec.clone(),
                    u64::from(offset),
                    format!(
                        "variable '{short}' starts beyond the {} bytes of data",
                        data.len()
                    ),
                )
            })?;
            out.push(VarSlice {
                name: short,
                type_id,
                at,
                data: slice,
            });
        }
        Ok(out)
    }

    /// Decodes a value of type `type_id` from `data` (which must hold all of it).
    pub fn decode(&self, type_id: u32, data: &[u8]) -> Result<Value> {
        let label = value_label(self, type_id);
        let mut cur = Cursor::new(label, data.len());
        self.decode_checked(type_id, data, 0, &mut cur)
    }

    /// The variables of a DATASEC decoded from the section's bytes, keeping only names that
    /// start with `prefix` (stripped) when given.
    pub fn decode_datasec(
        &self,
        datasec_id: u32,
        data: &[u8],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, Value)>> {
        let sec = self.name_of(datasec_id).to_owned();
        let mut cur = Cursor::new(sec, data.len());
        self.datasec_slices(datasec_id, data, prefix)?
            .into_iter()
            .map(|v| {
                Ok((
                    v.name,
                    self.decode_checked(v.type_id, v.data, v.at, &mut cur)?,
                ))
            })
            .collect()
    }

    /// Checks that `data` holds the whole type (when it has a size), then decodes it.
    fn decode_checked(
        &self,
        type_id: u32,
        data: &[u8],
        at: usize,
        cur: &mut Cursor,
    ) -> Result<Value> {
        if let Ok(size) = self.size_of(type_id) {
            if (size as usize) > data.len() {
                return Err(cur.short(
                    at,
                    format!("type [{type_id}] ({size} bytes, {} available)", data.len()),
                ));
            }
        }
        self.decode_at(type_id, data, 0, at, cur, 0)
    }

    /// `bit_off` (0..8) is a member's sub-byte offset, which only matters to INTs.
    fn decode_at(
        &self,
        type_id: u32,
        data: &[u8],
        bit_off: u32,
        at: usize,
        cur: &mut Cursor,
        depth: u32,
    ) -> Result<Value> {
        if depth > MAX_NEST {
            return Err(Error::format(
                cur.label.clone(),
                at as u64,
                "values nest too deeply",
            ));
        }
        cur.spend(at)?;
        let id = self.resolve_value(type_id)?;
        let Some(t) = self.type_by_id(id) else {
            return Err(Error::Invalid(format!("BTF has no type [{id}]")));
        };
        match t {
            Type::Int {
                encoding,
                bit_offset,
                bits,
                ..
            } => {
                let off = bit_off as usize + usize::from(*bit_offset);
                let raw = read_bits(data, off, u32::from(*bits))
                    .ok_or_else(|| cur.short(at, format!("INT type [{id}]")))?;
                Ok(int_value(raw, *encoding, u32::from(*bits)))
            }
            Type::Enum {
                size,
                signed,
                values,
                ..
            } => {
                let bits = size.saturating_mul(8);
                if !matches!(size, 1 | 2 | 4 | 8) {
                    return Err(super::lookup::type_err(id, format!("enum of size {size}")));
                }
                let raw = read_bits(data, 0, bits)
                    .ok_or_else(|| cur.short(at, format!("ENUM type [{id}]")))?;
                Ok(enum_value(raw, bits, *signed, values))
            }
            Type::Float { size, .. } => {
                let bytes = data
                    .get(..*size as usize)
                    .ok_or_else(|| cur.short(at, format!("FLOAT type [{id}]")))?;
                Ok(float_value(bytes))
            }
            Type::Ptr { .. } => {
                let bytes = data
                    .get(..super::lookup::PTR_SIZE as usize)
                    .ok_or_else(|| cur.short(at, format!("PTR type [{id}]")))?;
                Ok(Value::Bytes(bytes.to_vec()))
            }
            Type::Void | Type::Func { .. } | Type::FuncProto { .. } => Ok(Value::Bytes(Vec::new())),
            Type::Array { elem, nelems, .. } => {
                if self.is_str_array(*elem, *nelems, data) {
                    let s: Vec<u8> = data.iter().copied().take_while(|&b| b != 0).collect();
                    return Ok(Value::Str(String::from_utf8_lossy(&s).into_owned()));
                }
                let esize = self.size_of(*elem)? as usize;
                let mut out = Vec::new();
                for i in 0..*nelems as usize {
                    let off = i.saturating_mul(esize);
                    let slice = data
                        .get(off..)
                        .ok_or_else(|| cur.short(at, format!("ARRAY type [{id}]")))?;
                    out.push(self.decode_at(
                        *elem,
                        slice,
                        0,
                        at.saturating_add(off),
                        cur,
                        depth + 1,
                    )?);
                }
                Ok(Value::Array(out))
            }
            Type::Struct { members, .. } | Type::Union { members, .. } => {
                let mut out = Vec::with_capacity(members.len());
                for m in members {
                    let v = self.decode_member(m, data, at, cur, depth)?;
                    out.push((m.name.clone(), v));
                }
                Ok(Value::Struct(out))
            }
            Type::Datasec { vars, .. } => {
                let mut out = Vec::with_capacity(vars.len());
                for v in vars {
                    let (name, ty) = match self.type_by_id(v.type_id) {
                        Some(Type::Var { name, type_id, .. }) => (name.clone(), *type_id),
                        _ => (String::new(), v.type_id),
                    };
                    let off = v.offset as usize;
                    let slice = data
                        .get(off..)
                        .ok_or_else(|| cur.short(at, format!("variable '{name}'")))?;
                    out.push((
                        name,
                        self.decode_at(ty, slice, 0, at.saturating_add(off), cur, depth + 1)?,
                    ));
                }
                Ok(Value::Struct(out))
            }
            Type::Fwd { .. } | Type::DeclTag { .. } => Err(Error::Invalid(format!(
                "BTF type [{id}] ({}) has no values",
                super::lookup::kind_name(t.kind())
            ))),
            // resolve_value looked through these.
            Type::Typedef { .. }
            | Type::Volatile { .. }
            | Type::Const { .. }
            | Type::Restrict { .. }
            | Type::TypeTag { .. }
            | Type::Var { .. } => Err(super::lookup::type_err(id, "type chain too long")),
        }
    }

    fn decode_member(
        &self,
        m: &Member,
        data: &[u8],
        at: usize,
        cur: &mut Cursor,
        depth: u32,
    ) -> Result<Value> {
        if m.bitfield_size == 0 {
            let byte = (m.bit_offset / 8) as usize;
            let slice = data
                .get(byte..)
                .ok_or_else(|| cur.short(at, format!("member '{}'", m.name)))?;
            return self.decode_at(
                m.type_id,
                slice,
                m.bit_offset % 8,
                at.saturating_add(byte),
                cur,
                depth + 1,
            );
        }
        cur.spend(at)?;
        let raw = read_bits(data, m.bit_offset as usize, m.bitfield_size)
            .ok_or_else(|| cur.short(at, format!("bitfield '{}'", m.name)))?;
        // The bitfield's meaning (sign, bool, enumerator) comes from its declared type.
        let target = self.resolve_value(m.type_id)?;
        Ok(match self.type_by_id(target) {
            Some(Type::Int { encoding, .. }) => int_value(raw, *encoding, m.bitfield_size),
            Some(Type::Enum { signed, values, .. }) => {
                enum_value(raw, m.bitfield_size, *signed, values)
            }
            _ => Value::Int(raw as i128),
        })
    }

    /// Looks through typedefs, modifiers and VARs to the type that gives a value its shape.
    pub(crate) fn resolve_value(&self, mut id: u32) -> Result<u32> {
        for _ in 0..=MAX_CHAIN {
            match self.type_by_id(id) {
                Some(Type::Var { type_id, .. }) => id = *type_id,
                Some(t) => match t.modified(true) {
                    Some(next) => id = next,
                    None => return Ok(id),
                },
                None => return Err(Error::Invalid(format!("BTF has no type [{id}]"))),
            }
        }
        Err(super::lookup::type_err(
            id,
            "type chain too long (a cycle?)",
        ))
    }
}

/// An INT's `bits` bits as a Value; unsigned 128-bit values above i128::MAX wrap.
fn int_value(raw: u128, encoding: u8, bits: u32) -> Value {
    if encoding & INT_BOOL != 0 {
        Value::Bool(raw != 0)
    } else if encoding & INT_SIGNED != 0 {
        Value::Int(sign_extend(raw, bits))
    } else {
        Value::Int(raw as i128)
    }
}

/// Enumerators match on the low `bits` bits, so signed and unsigned spellings of the same
/// bit pattern agree.
fn enum_value(raw: u128, bits: u32, signed: bool, values: &[(String, i64)]) -> Value {
    let mask = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let name = values
        .iter()
        .find(|(_, v)| (*v as i128 as u128) & mask == raw)
        .map(|(n, _)| n.clone());
    let value = if signed {
        sign_extend(raw, bits)
    } else {
        raw as i128
    };
    Value::Enum { name, value }
}

fn float_value(bytes: &[u8]) -> Value {
    match bytes.len() {
        2 => Value::Float(f16_to_f64(u16::from_le_bytes([bytes[0], bytes[1]]))),
        4 => Value::Float(f64::from(f32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ]))),
        8 => Value::Float(f64::from_bits(le_u64(bytes).unwrap_or_default())),
        // long double and friends have no portable meaning here: hand over the bytes.
        _ => Value::Bytes(bytes.to_vec()),
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::values_btf;
    use super::*;

    fn int(v: i128) -> Value {
        Value::Int(v)
    }

    fn ints(vs: &[i128]) -> Value {
        Value::Array(vs.iter().map(|&v| Value::Int(v)).collect())
    }

    fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }

    fn en(name: Option<&str>, value: i128) -> Value {
        Value::Enum {
            name: name.map(str::to_owned),
            value,
        }
    }

    #[test]
    fn ints_by_width_and_sign() {
        let b = values_btf();
        let d = |id, bytes: &[u8]| b.decode(id, bytes).unwrap();
        assert_eq!(d(1, &(-5i32).to_le_bytes()), int(-5));
        assert_eq!(d(2, &[0xff; 4]), int(u32::MAX.into()));
        assert_eq!(d(3, &[0xff]), int(-1));
        assert_eq!(d(4, &[0xff]), int(255));
        assert_eq!(d(5, &[0x80]), int(-128));
        assert_eq!(d(6, &(-2i16).to_le_bytes()), int(-2));
        assert_eq!(d(7, &[0xff, 0xff]), int(65535));
        assert_eq!(d(8, &i64::MIN.to_le_bytes()), int(i64::MIN.into()));
        assert_eq!(d(9, &u64::MAX.to_le_bytes()), int(u64::MAX.into()));
        assert_eq!(d(10, &(-5i128).to_le_bytes()), int(-5));
        assert_eq!(d(11, &5u128.to_le_bytes()), int(5));
        assert_eq!(d(30, &[1, 2, 3, 0xff]), int(0x030201));
        assert_eq!(d(13, b"a"), int(97));
        // Extra bytes after the value are ignored.
        assert_eq!(d(1, &[7, 0, 0, 0, 9, 9]), int(7));
    }

    #[test]
    fn bools() {
        let b = values_btf();
        assert_eq!(b.decode(12, &[1]).unwrap(), Value::Bool(true));
        assert_eq!(b.decode(12, &[0]).unwrap(), Value::Bool(false));
        assert_eq!(b.decode(12, &[2]).unwrap(), Value::Bool(true));
    }

    #[test]
    fn char_arrays_follow_bpftool() {
        let b = values_btf();
        let d = |id, bytes: &[u8]| b.decode(id, bytes).unwrap();
        assert_eq!(d(16, b"foo\0\0\0"), str("foo"));
        assert_eq!(d(16, b"\0\0\0\0\0\0"), str(""));
        assert_eq!(d(16, b"a b~\0x"), str("a b~"));
        // Not printable, or no NUL: numbers.
        assert_eq!(d(16, b"fo\x01\0\0\0"), ints(&[102, 111, 1, 0, 0, 0]));
        assert_eq!(d(16, b"foo\x7f\0\0"), ints(&[102, 111, 111, 127, 0, 0]));
        assert_eq!(d(16, b"foo\xe9\0\0"), ints(&[102, 111, 111, -23, 0, 0]));
        assert_eq!(d(16, b"abcdef"), ints(&[97, 98, 99, 100, 101, 102]));
        // Only "char" (or a char-encoded INT), through const but not through typedefs.
        assert_eq!(d(17, b"foo\0\0\0"), ints(&[102, 111, 111, 0, 0, 0]));
        assert_eq!(d(18, b"foo\0\0\0"), ints(&[102, 111, 111, 0, 0, 0]));
        assert_eq!(d(19, b"foo\0\0\0"), ints(&[102, 111, 111, 0, 0, 0]));
        assert_eq!(d(20, b"foo\0\0\0"), str("foo"));
        assert_eq!(d(21, b"foo\0\0\0"), str("foo"));
    }

    #[test]
    fn enums() {
        let b = values_btf();
        let d = |id, bytes: &[u8]| b.decode(id, bytes).unwrap();
        assert_eq!(d(22, &0i32.to_le_bytes()), en(Some("A"), 0));
        assert_eq!(d(22, &(-1i32).to_le_bytes()), en(Some("B"), -1));
        assert_eq!(d(22, &7i32.to_le_bytes()), en(None, 7));
        assert_eq!(d(23, &[200]), en(Some("Z"), 200));
        assert_eq!(d(23, &[201]), en(None, 201));
        assert_eq!(
            d(24, &u64::MAX.to_le_bytes()),
            en(Some("Y"), u64::MAX.into())
        );
        assert_eq!(
            d(24, &0x12_3456_789au64.to_le_bytes()),
            en(Some("X"), 0x12_3456_789a)
        );
        assert_eq!(d(24, &3u64.to_le_bytes()), en(None, 3));
        assert_eq!(d(46, &[0xff]), en(Some("M"), -1));
        assert_eq!(d(47, &[0xff; 4]), en(Some("Big"), 0xffff_ffff));
    }

    #[test]
    fn structs_unions_and_bitfields() {
        let b = values_btf();
        // a = -1 (3 bits), b = 7 (5 bits), c = "hi", then the union holding 65.
        let data = [0x3f, 0, 0, 0, b'h', b'i', 0, 0, 65, 0, 0, 0];
        assert_eq!(
            b.decode(25, &data).unwrap(),
            Value::Struct(vec![
                ("a".into(), int(-1)),
                ("b".into(), int(7)),
                ("c".into(), str("hi")),
                (
                    "".into(),
                    Value::Struct(vec![("u".into(), int(65)), ("v".into(), str("A"))])
                ),
            ])
        );
        // Bitfields as INTs of 3 bits at bit offsets 0 and 3, then a short.
        assert_eq!(
            b.decode(29, &[0x17, 0, 0xfe, 0xff]).unwrap(),
            Value::Struct(vec![
                ("x".into(), int(-1)),
                ("y".into(), int(2)),
                ("z".into(), int(-2))
            ])
        );
        // A signed enum bitfield and a bool bitfield.
        assert_eq!(
            b.decode(43, &[0b111]).unwrap(),
            Value::Struct(vec![
                ("e".into(), en(Some("B"), -1)),
                ("f".into(), Value::Bool(true))
            ])
        );
        assert_eq!(
            b.decode(43, &[0b001]).unwrap(),
            Value::Struct(vec![
                ("e".into(), en(None, 1)),
                ("f".into(), Value::Bool(false))
            ])
        );
    }

    #[test]
    fn arrays_floats_pointers_and_chains() {
        let b = values_btf();
        let data: Vec<u8> = [-1i64, 2, 3, 4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            b.decode(35, &data).unwrap(),
            Value::Array(vec![ints(&[-1, 2]), ints(&[3, 4])])
        );
        assert_eq!(
            b.decode(31, &1.5f32.to_le_bytes()).unwrap(),
            Value::Float(1.5)
        );
        assert_eq!(
            b.decode(32, &(-2.25f64).to_le_bytes()).unwrap(),
            Value::Float(-2.25)
        );
        assert_eq!(
            b.decode(33, &0x1234u64.to_le_bytes()).unwrap(),
            Value::Bytes(0x1234u64.to_le_bytes().to_vec())
        );
        assert_eq!(b.decode(36, &[]).unwrap(), Value::Bytes(vec![]));
        assert_eq!(b.decode(39, &[9, 0, 0, 0]).unwrap(), int(9));
        assert_eq!(b.decode(40, &[9, 0, 0, 0]).unwrap(), int(9));
        assert_eq!(b.decode(44, &[9, 0, 0, 0]).unwrap(), int(9));
        assert!(matches!(b.decode(37, &[0; 8]), Err(Error::Invalid(_))));
        assert!(matches!(b.decode(45, &[0; 16]), Err(Error::Invalid(_))));
        assert!(b.decode(99, &[0; 8]).is_err());
    }

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert!(f16_to_f64(0x7c00).is_infinite());
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    #[test]
    fn datasecs_with_and_without_prefix() {
        let b = values_btf();
        let data = [7, 0, 0, 0, b'h', b'i', 0, 0];
        assert_eq!(
            b.datasec_vars(41).unwrap(),
            vec![("v".to_owned(), 39, 0, 4), ("w".to_owned(), 26, 4, 4)]
        );
        assert_eq!(
            b.decode_datasec(41, &data, None).unwrap(),
            vec![("v".to_owned(), int(7)), ("w".to_owned(), str("hi"))]
        );
        assert_eq!(
            b.decode_datasec(41, &data, Some("w")).unwrap(),
            vec![("".to_owned(), str("hi"))]
        );
        assert_eq!(b.decode_datasec(41, &data, Some("zz")).unwrap(), vec![]);
        assert_eq!(
            b.decode(41, &data).unwrap(),
            Value::Struct(vec![("v".into(), int(7)), ("w".into(), str("hi"))])
        );
        assert!(matches!(b.datasec_vars(40), Err(Error::Invalid(_))));
    }

    #[test]
    fn short_data_is_a_format_error() {
        let b = values_btf();
        for (id, len) in [
            (1, 3),
            (8, 7),
            (10, 15),
            (25, 11),
            (35, 31),
            (16, 5),
            (33, 7),
            (24, 7),
        ] {
            let data = vec![0u8; len];
            match b.decode(id, &data) {
                Err(Error::Format { msg, .. }) => assert!(msg.contains("too short"), "{msg}"),
                other => panic!("type {id}: {other:?}"),
            }
        }
        let err = b.decode_datasec(41, &[0; 6], None).unwrap_err();
        assert!(
            matches!(&err, Error::Format { section, offset: 4, .. } if section == ".rodata"),
            "{err:?}"
        );
        let err = b.decode_datasec(41, &[0; 3], Some("w")).unwrap_err();
        assert!(matches!(&err, Error::Format { offset: 4, .. }), "{err:?}");
    }

    #[test]
    fn hostile_models_end_in_errors() {
        // A struct holding itself, an array of itself, and zero-sized elements by the billion.
        let mut b = values_btf();
        let n = b.types.len() as u32;
        b.types.push(Type::Struct {
            name: "loop".into(),
            size: 0,
            members: vec![Member {
                name: "me".into(),
                type_id: n,
                bit_offset: 0,
                bitfield_size: 0,
            }],
        });
        b.types.push(Type::Array {
            elem: n + 1,
            index: 0,
            nelems: 2,
        });
        b.types.push(Type::Struct {
            name: "empty".into(),
            size: 0,
            members: vec![],
        });
        b.types.push(Type::Array {
            elem: n + 2,
            index: 0,
            nelems: u32::MAX,
        });
        b.types.push(Type::Array {
            elem: n + 3,
            index: 0,
            nelems: u32::MAX,
        });
        assert!(b.decode(n, &[0; 16]).is_err());
        assert!(b.decode(n + 1, &[0; 16]).is_err());
        assert!(b.decode(n + 3, &[]).is_err());
        assert!(b.decode(n + 4, &[]).is_err());
        let mut s = String::new();
        assert!(b.dump_json(n, &[0; 16], &mut s).is_err());
        assert!(b.dump_json(n + 4, &[], &mut String::new()).is_err());
    }

    #[test]
    fn read_bits_edges() {
        let data = [0xffu8; 17];
        assert_eq!(read_bits(&data, 0, 128), Some(u128::MAX));
        assert_eq!(read_bits(&data, 7, 128), Some(u128::MAX));
        assert_eq!(read_bits(&data, 8, 128), Some(u128::MAX));
        assert_eq!(read_bits(&data, 9, 128), None);
        assert_eq!(read_bits(&data, 0, 129), None);
        assert_eq!(read_bits(&[0b1011_0000], 4, 4), Some(0b1011));
        assert_eq!(read_bits(&[0x80, 0x01], 7, 2), Some(0b11));
        assert_eq!(read_bits(&[], 0, 0), Some(0));
        assert_eq!(read_bits(&[], usize::MAX, 8), None);
        assert_eq!(sign_extend(0b100, 3), -4);
        assert_eq!(sign_extend(u128::MAX, 128), -1);
    }
}
