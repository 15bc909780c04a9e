//! `.BTF` bytes -> `Btf`: the header, the records of all 19 kinds and the string table.
//! Every string offset and type id is checked here so the rest of btf/ can trust the model.

use super::lookup::kind_name;
use super::types::{kind, Btf, Member, Param, Type, VarSecInfo};
use crate::error::{Error, Result};

const SEC: &str = ".BTF";
pub(crate) const MAGIC: u16 = 0xeb9f;
/// magic, version, flags, hdr_len, type_off/len, str_off/len. Newer headers append fields
/// (the kind layout section) that we do not need to read a blob.
pub(crate) const HDR_LEN: usize = 24;
pub(crate) const TYPE_HDR: usize = 12;

pub(crate) fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    let b = data.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

pub(crate) fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn err(offset: usize, msg: impl Into<String>) -> Error {
    Error::format(SEC, offset as u64, msg)
}

/// `[start, start + len)` inside `data`, or None when it does not fit.
pub(crate) fn sub_range(data: &[u8], start: usize, off: u32, len: u32) -> Option<(usize, usize)> {
    let begin = start.checked_add(usize::try_from(off).ok()?)?;
    let end = begin.checked_add(usize::try_from(len).ok()?)?;
    (end <= data.len()).then_some((begin, end))
}

/// The string table as the rest of the parser sees it.
pub(crate) struct Strings<'a> {
    /// A split BTF's base strings: offsets below their length name base strings.
    pub base_table: &'a [u8],
    pub table: &'a [u8],
    /// Where the table starts in the blob, for error offsets.
    pub base: usize,
}

impl Strings<'_> {
    /// The name at `off`; `at` is the offset of the record naming it.
    fn get(&self, off: u32, at: usize) -> Result<String> {
        let (table, off) = match usize::try_from(off) {
            Ok(o) if o < self.base_table.len() => (self.base_table, off),
            _ => (self.table, off - self.base_table.len() as u32),
        };
        let tail = usize::try_from(off)
            .ok()
            .and_then(|o| table.get(o..))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                err(
                    at,
                    format!(
                        "name offset {off} is beyond the string section ({} bytes at {:#x})",
                        self.table.len(),
                        self.base
                    ),
                )
            })?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| err(at, format!("string at offset {off} is not NUL-terminated")))?;
        let bytes = tail.get(..end).unwrap_or_default();
        String::from_utf8(bytes.to_vec())
            .map_err(|_| err(at, format!("string at offset {off} is not valid UTF-8")))
    }
}

/// The header a `.BTF` blob and a `.BTF.ext` section (`whole`) start with: at least
/// `min` bytes, the magic and version (little-endian and version 1 are all a loader needs
/// to read), and the header length; returns where the header ends.
pub(crate) fn header_end(data: &[u8], section: &str, min: usize, whole: &str) -> Result<usize> {
    let bad = |offset: u64, msg: String| Error::format(section, offset, msg);
    if data.len() < min {
        return Err(bad(
            0,
            format!("header needs {min} bytes, the {whole} has {}", data.len()),
        ));
    }
    let magic = u16_at(data, 0).unwrap_or_default();
    if magic == MAGIC.swap_bytes() {
        return Err(bad(0, format!("big-endian {section} is not supported")));
    }
    if magic != MAGIC {
        return Err(bad(
            0,
            format!("bad magic {magic:#06x}, expected {MAGIC:#06x}"),
        ));
    }
    let version = data.get(2).copied().unwrap_or_default();
    if version != 1 {
        return Err(bad(2, format!("unsupported {section} version {version}")));
    }
    let hdr_len = u32_at(data, 4).unwrap_or_default();
    usize::try_from(hdr_len)
        .ok()
        .filter(|&h| h >= min && h <= data.len())
        .ok_or_else(|| {
            bad(
                4,
                format!(
                    "header length {hdr_len} outside {min}..={} bytes",
                    data.len()
                ),
            )
        })
}

/// Where a `.BTF` blob's type and string sections lie, as `[start, end)` byte ranges.
pub(crate) struct Sections {
    pub types: (usize, usize),
    pub strings: (usize, usize),
}

/// Checks a `.BTF` blob's header (size, magic, version, lengths) and finds its sections.
pub(crate) fn sections(data: &[u8]) -> Result<Sections> {
    let hdr_end = header_end(data, SEC, HDR_LEN, "blob")?;
    let field = |off| u32_at(data, off).unwrap_or_default();
    let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
    let (tstart, tend) = sub_range(data, hdr_end, type_off, type_len).ok_or_else(|| {
        err(
            8,
            format!(
                "type section (offset {type_off}, {type_len} bytes) runs past the end of the \
                     {}-byte blob",
                data.len()
            ),
        )
    })?;
    let (sstart, send) = sub_range(data, hdr_end, str_off, str_len).ok_or_else(|| {
        err(
            16,
            format!(
                "string section (offset {str_off}, {str_len} bytes) runs past the end of the \
                     {}-byte blob",
                data.len()
            ),
        )
    })?;
    Ok(Sections {
        types: (tstart, tend),
        strings: (sstart, send),
    })
}

impl Btf {
    /// Parses a raw `.BTF` blob (little-endian, as clang emits it for bpfel and as the
    /// kernel returns it on little-endian hosts).
    pub fn parse(data: &[u8]) -> Result<Btf> {
        let Sections {
            types: (tstart, tend),
            strings: (sstart, send),
        } = sections(data)?;
        let table = data.get(sstart..send).unwrap_or_default();
        // The kernel's rules: offset 0 is the empty name and every string ends in NUL.
        if table.first() != Some(&0) {
            return Err(err(
                sstart,
                "string section must start with an empty string",
            ));
        }
        if table.last() != Some(&0) {
            return Err(err(
                send.saturating_sub(1),
                "string section must end with NUL",
            ));
        }
        let strings = Strings {
            base_table: &[],
            table,
            base: sstart,
        };

        let mut types = vec![Type::Void];
        let mut offsets = vec![tstart];
        let mut pos = tstart;
        while pos < tend {
            let (t, next) = parse_type(data, pos, tend, &strings)?;
            types.push(t);
            offsets.push(pos);
            pos = next;
        }
        let btf = Btf {
            types,
            strings: table.to_vec(),
        };
        btf.check_refs(&offsets)?;
        btf.check_cycles(&offsets)?;
        Ok(btf)
    }

    /// Parses a split BTF blob (a kernel module's) over `base`: its types are numbered from
    /// `base.types.len()` and its names may be base strings. Returns the module's own types.
    pub fn parse_split(data: &[u8], base: &Btf) -> Result<Vec<Type>> {
        Self::parse_split_over(data, &base.strings, base.types.len())
    }

    /// `parse_split` over a base given by its string table and its number of types.
    pub(crate) fn parse_split_over(
        data: &[u8],
        base_strings: &[u8],
        base_count: usize,
    ) -> Result<Vec<Type>> {
        let Sections {
            types: (tstart, tend),
            strings: (sstart, send),
        } = sections(data)?;
        let table = data.get(sstart..send).unwrap_or_default();
        if !table.is_empty() && table.last() != Some(&0) {
            return Err(err(
                send.saturating_sub(1),
                "string section must end with NUL",
            ));
        }
        let strings = Strings {
            base_table: base_strings,
            table,
            base: sstart,
        };
        let mut types = Vec::new();
        let mut pos = tstart;
        while pos < tend {
            let (t, next) = parse_type(data, pos, tend, &strings)?;
            types.push(t);
            pos = next;
        }
        let count = base_count + types.len();
        for (i, t) in types.iter().enumerate() {
            if let Some(bad) = referenced_ids(t)
                .into_iter()
                .find(|&r| usize::try_from(r).map_or(true, |r| r >= count))
            {
                return Err(err(
                    tstart,
                    format!(
                        "type [{}] refers to type [{bad}], the last type is [{}]",
                        base_count + i,
                        count - 1
                    ),
                ));
            }
        }
        Ok(types)
    }

    fn check_refs(&self, offsets: &[usize]) -> Result<()> {
        let count = self.types.len();
        for (id, t) in self.types.iter().enumerate() {
            if let Some(bad) = referenced_ids(t)
                .into_iter()
                .find(|&r| usize::try_from(r).map_or(true, |r| r >= count))
            {
                return Err(err(
                    offsets.get(id).copied().unwrap_or_default(),
                    format!(
                        "type [{id}] {} refers to type [{bad}], the last type is [{}]",
                        kind_name(t.kind()),
                        count - 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Rejects types that contain themselves by value (a typedef of itself, a struct
    /// holding itself, ...): the kernel refuses them and every walk over them would loop.
    /// Pointers and functions legitimately close cycles and are not followed.
    fn check_cycles(&self, offsets: &[usize]) -> Result<()> {
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let mut state = vec![WHITE; self.types.len()];
        // Explicit stack of (type id, next edge): no recursion on input-controlled depth.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in 1..self.types.len() {
            if state.get(root) != Some(&WHITE) {
                continue;
            }
            if let Some(s) = state.get_mut(root) {
                *s = GREY;
            }
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (node, edge) = *top;
                let next = self.types.get(node).and_then(|t| value_edge(t, edge));
                let Some(next) = next else {
                    if let Some(s) = state.get_mut(node) {
                        *s = BLACK;
                    }
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                let Ok(next) = usize::try_from(next) else {
                    continue;
                };
                match state.get(next) {
                    Some(&WHITE) => {
                        if let Some(s) = state.get_mut(next) {
                            *s = GREY;
                        }
                        stack.push((next, 0));
                    }
                    Some(&GREY) => {
                        return Err(err(
                            offsets.get(node).copied().unwrap_or_default(),
                            format!("type [{node}] contains itself through type [{next}]"),
                        ))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The `i`th type that `t` holds by value (or aliases): the edges a value walk follows.
fn value_edge(t: &Type, i: usize) -> Option<u32> {
    match t {
        Type::Typedef { type_id, .. }
        | Type::Volatile { type_id }
        | Type::Const { type_id }
        | Type::Restrict { type_id }
        | Type::TypeTag { type_id, .. }
        | Type::Var { type_id, .. } => (i == 0).then_some(*type_id),
        Type::Array { elem, .. } => (i == 0).then_some(*elem),
        Type::Struct { members, .. } | Type::Union { members, .. } => {
            members.get(i).map(|m| m.type_id)
        }
        Type::Datasec { vars, .. } => vars.get(i).map(|v| v.type_id),
        _ => None,
    }
}

/// Every type id `t` mentions.
pub(crate) fn referenced_ids(t: &Type) -> Vec<u32> {
    match t {
        Type::Void
        | Type::Int { .. }
        | Type::Enum { .. }
        | Type::Fwd { .. }
        | Type::Float { .. } => Vec::new(),
        Type::Ptr { type_id }
        | Type::Typedef { type_id, .. }
        | Type::Volatile { type_id }
        | Type::Const { type_id }
        | Type::Restrict { type_id }
        | Type::TypeTag { type_id, .. }
        | Type::Func { type_id, .. }
        | Type::Var { type_id, .. }
        | Type::DeclTag { type_id, .. } => vec![*type_id],
        Type::Array { elem, index, .. } => vec![*elem, *index],
        Type::Struct { members, .. } | Type::Union { members, .. } => {
            members.iter().map(|m| m.type_id).collect()
        }
        Type::FuncProto { ret, params } => std::iter::once(*ret)
            .chain(params.iter().map(|p| p.type_id))
            .collect(),
        Type::Datasec { vars, .. } => vars.iter().map(|v| v.type_id).collect(),
    }
}

/// Parses the record at `pos`; returns it and where the next one starts.
pub(crate) fn parse_type(
    data: &[u8],
    pos: usize,
    end: usize,
    strings: &Strings,
) -> Result<(Type, usize)> {
    let word = |off: usize| -> Result<u32> {
        pos.checked_add(off)
            .filter(|&o| o.saturating_add(4) <= end)
            .and_then(|o| u32_at(data, o))
            .ok_or_else(|| err(pos, "type record runs past the end of the type section"))
    };
    if end.saturating_sub(pos) < TYPE_HDR {
        return Err(err(pos, "truncated type record header"));
    }
    let name_off = word(0)?;
    let info = word(4)?;
    let size_or_type = word(8)?;
    let vlen = info & 0x00ff_ffff;
    let kind = (info >> 24) & 0x7f;
    let kflag = info >> 31 == 1;
    let name = strings.get(name_off, pos)?;

    // Bytes after the 12-byte header, checked against the section before anything is
    // allocated for `vlen` records.
    let body = pos + TYPE_HDR;
    let extra = |fixed: usize, each: usize| -> Result<usize> {
        let len = usize::try_from(vlen)
            .ok()
            .and_then(|n| n.checked_mul(each))
            .and_then(|n| n.checked_add(fixed))
            .filter(|&n| body.checked_add(n).is_some_and(|e| e <= end))
            .ok_or_else(|| {
                err(
                    pos,
                    format!(
                        "{} with vlen {vlen} runs past the end of the type section",
                        kind_name(kind)
                    ),
                )
            })?;
        Ok(body + len)
    };
    // Word `i` of the body, once `extra` has vouched for it.
    let at = |i: usize| u32_at(data, body + 4 * i).unwrap_or_default();
    let records = |each_words: usize| {
        let n = usize::try_from(vlen).unwrap_or_default();
        (0..n).map(move |r| {
            let base = r * each_words;
            (base, body + 4 * base)
        })
    };

    let (t, next) = match kind {
        kind::INT => {
            let next = extra(4, 0)?;
            let v = at(0);
            let t = Type::Int {
                name,
                size: size_or_type,
                encoding: ((v >> 24) & 0x0f) as u8,
                bit_offset: ((v >> 16) & 0xff) as u8,
                bits: (v & 0xff) as u8,
            };
            (t, next)
        }
        kind::PTR => (
            Type::Ptr {
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        kind::ARRAY => {
            let next = extra(12, 0)?;
            let t = Type::Array {
                elem: at(0),
                index: at(1),
                nelems: at(2),
            };
            (t, next)
        }
        kind::STRUCT | kind::UNION => {
            let next = extra(0, 12)?;
            let mut members = Vec::new();
            for (w, rec) in records(3) {
                let off = at(w + 2);
                let (bit_offset, bitfield_size) = if kflag {
                    (off & 0x00ff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                members.push(Member {
                    name: strings.get(at(w), rec)?,
                    type_id: at(w + 1),
                    bit_offset,
                    bitfield_size,
                });
            }
            let t = if kind == kind::STRUCT {
                Type::Struct {
                    name,
                    size: size_or_type,
                    members,
                }
            } else {
                Type::Union {
                    name,
                    size: size_or_type,
                    members,
                }
            };
            (t, next)
        }
        kind::ENUM | kind::ENUM64 => {
            let is64 = kind == kind::ENUM64;
            let next = extra(0, if is64 { 12 } else { 8 })?;
            let mut values = Vec::new();
            for (w, rec) in records(if is64 { 3 } else { 2 }) {
                let value = if is64 {
                    ((u64::from(at(w + 2)) << 32) | u64::from(at(w + 1))) as i64
                } else if kflag {
                    i64::from(at(w + 1) as i32)
                } else {
                    i64::from(at(w + 1))
                };
                values.push((strings.get(at(w), rec)?, value));
            }
            let t = Type::Enum {
                name,
                size: size_or_type,
                signed: kflag,
                values,
                is64,
            };
            (t, next)
        }
        kind::FWD => (
            Type::Fwd {
                name,
                is_union: kflag,
            },
            extra(0, 0)?,
        ),
        kind::TYPEDEF => (
            Type::Typedef {
                name,
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        kind::VOLATILE => (
            Type::Volatile {
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        kind::CONST => (
            Type::Const {
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        kind::RESTRICT => (
            Type::Restrict {
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        // Since 6.13 a kind_flag on a type tag marks it as an attribute; the model has no
        // room for it and nothing here depends on it, so it is dropped.
        kind::TYPE_TAG => (
            Type::TypeTag {
                name,
                type_id: size_or_type,
            },
            extra(0, 0)?,
        ),
        // A FUNC's vlen is its linkage, not a record count.
        kind::FUNC => (
            Type::Func {
                name,
                type_id: size_or_type,
                linkage: vlen,
            },
            body,
        ),
        kind::FUNC_PROTO => {
            let next = extra(0, 8)?;
            let mut params = Vec::new();
            for (w, rec) in records(2) {
                params.push(Param {
                    name: strings.get(at(w), rec)?,
                    type_id: at(w + 1),
                });
            }
            (
                Type::FuncProto {
                    ret: size_or_type,
                    params,
                },
                next,
            )
        }
        kind::VAR => {
            let next = extra(4, 0)?;
            let t = Type::Var {
                name,
                type_id: size_or_type,
                linkage: at(0),
            };
            (t, next)
        }
        kind::DATASEC => {
            let next = extra(0, 12)?;
            let vars = records(3)
                .map(|(w, _)| VarSecInfo {
                    type_id: at(w),
                    offset: at(w + 1),
                    size: at(w + 2),
                })
                .collect();
            let t = Type::Datasec {
                name,
                size: size_or_type,
                vars,
            };
            (t, next)
        }
        kind::FLOAT => (
            Type::Float {
                name,
                size: size_or_type,
            },
            extra(0, 0)?,
        ),
        // As for TYPE_TAG, the attribute kind_flag is dropped.
        kind::DECL_TAG => {
            let next = extra(4, 0)?;
            let t = Type::DeclTag {
                name,
                type_id: size_or_type,
                component_idx: at(0) as i32,
            };
            (t, next)
        }
        other => return Err(err(pos, format!("unknown BTF kind {other}"))),
    };
    Ok((t, next))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{sample, RawBtf};
    use super::*;

    fn format_err(r: Result<Btf>) -> (u64, String) {
        super::super::testutil::format_err(".BTF", r)
    }

    fn set_u32(data: &mut [u8], off: usize, v: u32) {
        data[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn parses_every_kind() {
        let (bytes, types) = sample();
        let btf = Btf::parse(&bytes).unwrap();
        assert_eq!(btf.types, types);
        assert_eq!(
            btf.strings,
            bytes[24 + u32_at(&bytes, 12).unwrap() as usize..]
        );
    }

    #[test]
    fn longer_header_and_gaps_are_accepted() {
        let (bytes, types) = sample();
        let type_len = u32_at(&bytes, 12).unwrap();
        let str_len = u32_at(&bytes, 20).unwrap();
        // A 32-byte header (as with the layout section fields, zeroed), strings first.
        let mut data = bytes[..24].to_vec();
        set_u32(&mut data, 4, 32);
        set_u32(&mut data, 8, str_len + 4);
        set_u32(&mut data, 16, 0);
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&bytes[24 + type_len as usize..]);
        data.extend_from_slice(&[0xaa; 4]);
        data.extend_from_slice(&bytes[24..24 + type_len as usize]);
        assert_eq!(Btf::parse(&data).unwrap().types, types);
    }

    #[test]
    fn truncated_header() {
        let (bytes, _) = sample();
        for n in 0..24 {
            let (off, msg) = format_err(Btf::parse(&bytes[..n]));
            assert_eq!(off, 0);
            assert!(msg.contains("header"), "{msg}");
        }
    }

    #[test]
    fn bad_magic_version_and_header_length() {
        let (bytes, _) = sample();
        let mut d = bytes.clone();
        d[0] = 0x00;
        assert!(format_err(Btf::parse(&d)).1.contains("magic"));
        let mut d = bytes.clone();
        d.swap(0, 1);
        assert!(format_err(Btf::parse(&d)).1.contains("big-endian"));
        let mut d = bytes.clone();
        d[2] = 2;
        assert_eq!(format_err(Btf::parse(&d)).0, 2);
        for hl in [0, 23, bytes.len() as u32 + 1, u32::MAX] {
            let mut d = bytes.clone();
            set_u32(&mut d, 4, hl);
            assert_eq!(format_err(Btf::parse(&d)).0, 4);
        }
    }

    #[test]
    fn sections_beyond_the_data() {
        let (bytes, _) = sample();
        for (field, v) in [
            (12, 1 << 20),
            (12, u32::MAX),
            (8, u32::MAX),
            (20, 1 << 20),
            (16, u32::MAX),
        ] {
            let mut d = bytes.clone();
            set_u32(&mut d, field, v);
            let (off, msg) = format_err(Btf::parse(&d));
            assert!(off == 8 || off == 16, "{off} {msg}");
            assert!(msg.contains("past the end"), "{msg}");
        }
    }

    #[test]
    fn string_offset_out_of_range() {
        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        let info = kind::TYPEDEF << 24;
        b.raw(9999, info, 1, &[]);
        let (off, msg) = format_err(Btf::parse(&b.bytes()));
        assert_eq!(off, 24 + 16);
        assert!(msg.contains("9999"), "{msg}");
    }

    #[test]
    fn member_name_offset_out_of_range_points_at_the_member() {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        b.ty("s", kind::STRUCT, false, 2, 8, &[0, int, 0, 500, int, 32]);
        let (off, _) = format_err(Btf::parse(&b.bytes()));
        assert_eq!(off, 24 + 16 + 12 + 12);
    }

    #[test]
    fn string_section_rules() {
        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        let mut d = b.bytes();
        // No trailing NUL.
        let last = d.len() - 1;
        d[last] = b'x';
        assert!(format_err(Btf::parse(&d)).1.contains("end with NUL"));
        // Not starting with the empty string.
        let mut d = b.bytes();
        d[24 + 16] = b'x';
        assert!(format_err(Btf::parse(&d)).1.contains("empty string"));
        // Non-UTF-8 names are refused rather than mangled.
        let mut d = b.bytes();
        d[24 + 16 + 1] = 0xff;
        assert!(format_err(Btf::parse(&d)).1.contains("UTF-8"));
    }

    #[test]
    fn vlen_overflowing_the_section() {
        for k in [
            kind::STRUCT,
            kind::UNION,
            kind::ENUM,
            kind::ENUM64,
            kind::FUNC_PROTO,
            kind::DATASEC,
        ] {
            let mut b = RawBtf::new();
            b.int("int", 4, 1, 32);
            b.ty("x", k, false, 0x00ff_ffff, 4, &[0, 1, 0]);
            let (off, msg) = format_err(Btf::parse(&b.bytes()));
            assert_eq!(off, 24 + 16, "{msg}");
            assert!(msg.contains("vlen"), "{msg}");
        }
    }

    #[test]
    fn truncated_records() {
        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        let full = b.bytes();
        for cut in 1..16 {
            // Shrink the type section by `cut` bytes and move the strings up.
            let type_len = 16 - cut;
            let mut d = full[..24 + type_len].to_vec();
            d.extend_from_slice(&full[24 + 16..]);
            set_u32(&mut d, 12, type_len as u32);
            set_u32(&mut d, 16, type_len as u32);
            format_err(Btf::parse(&d));
        }
    }

    #[test]
    fn type_ids_beyond_the_table() {
        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        b.ptr(3);
        let (off, msg) = format_err(Btf::parse(&b.bytes()));
        assert_eq!(off, 24 + 16);
        assert!(msg.contains("[3]"), "{msg}");

        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        b.datasec(".data", 4, &[(7, 0, 4)]);
        format_err(Btf::parse(&b.bytes()));
    }

    #[test]
    fn unknown_kind() {
        let mut b = RawBtf::new();
        b.ty("x", 25, false, 0, 0, &[]);
        assert!(format_err(Btf::parse(&b.bytes()))
            .1
            .contains("unknown BTF kind 25"));
        let mut b = RawBtf::new();
        b.ty("", 0, false, 0, 0, &[]);
        format_err(Btf::parse(&b.bytes()));
    }

    #[test]
    fn cycles_are_refused_but_pointer_loops_are_fine() {
        let mut b = RawBtf::new();
        b.refer(kind::TYPEDEF, "self", 1);
        let (off, msg) = format_err(Btf::parse(&b.bytes()));
        assert_eq!(off, 24);
        assert!(msg.contains("contains itself"), "{msg}");

        let mut b = RawBtf::new();
        b.refer(kind::CONST, "", 2);
        b.refer(kind::TYPEDEF, "t", 3);
        b.refer(kind::VOLATILE, "", 1);
        format_err(Btf::parse(&b.bytes()));

        let mut b = RawBtf::new();
        b.strukt("s", 8, &[("me", 2, 0)]);
        b.array(1, 0, 2);
        format_err(Btf::parse(&b.bytes()));

        // struct list { struct list *next; }
        let mut b = RawBtf::new();
        b.strukt("list", 8, &[("next", 2, 0)]);
        b.ptr(1);
        assert!(Btf::parse(&b.bytes()).is_ok());
    }

    /// Every truncation and many corruptions of a valid blob: errors are fine, panics are
    /// not, and whatever parses can be queried, encoded, decoded and dumped.
    #[test]
    fn mutations_never_panic() {
        let (bytes, _) = sample();
        let mut inputs = Vec::new();
        for n in 0..bytes.len() {
            inputs.push(bytes[..n].to_vec());
        }
        for i in 0..bytes.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut d = bytes.clone();
                d[i] ^= x;
                inputs.push(d);
            }
        }
        for i in (0..bytes.len().saturating_sub(3)).step_by(4) {
            for v in [0, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX, 0x00ff_ffff, 22] {
                let mut d = bytes.clone();
                set_u32(&mut d, i, v);
                inputs.push(d);
            }
        }
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let mut parsed = 0;
        for input in &inputs {
            let Ok(btf) = Btf::parse(input) else { continue };
            parsed += 1;
            let back = Btf::parse(&btf.encode()).unwrap();
            assert_eq!(back.types, btf.types);
            assert!(back.strings.starts_with(&btf.strings));
            for id in 0..btf.types.len() as u32 + 2 {
                let _ = btf.size_of(id);
                let _ = btf.resolve(id);
                let _ = btf.name_of(id);
                for len in [0, 3, 64] {
                    let _ = btf.decode(id, &data[..len]);
                    let _ = btf.dump_json(id, &data[..len], &mut String::new());
                }
                let _ = btf.decode_datasec(id, &data, None);
            }
        }
        assert!(parsed > 100, "{parsed}");
    }
}
