//! `Btf` -> the kernel's `.BTF` format, for BPF_BTF_LOAD after fix-ups.
//! The original string table is kept as a prefix so offsets into it (line_info) stay valid.

use std::collections::HashMap;

use super::parse::{HDR_LEN, MAGIC};
use super::types::{Btf, Type};

/// vlen is 24 bits wide (16 before Linux 7.1, which no real object exceeds).
const VLEN_MAX: usize = 0x00ff_ffff;

/// The string table being written: the original bytes, then any names it lacked.
struct StrTab<'a> {
    base: &'a [u8],
    /// Every whole string of `base` at its first offset.
    whole: HashMap<&'a [u8], u32>,
    /// Every tail of a string ("har" inside "char"): a name may have been given as an
    /// offset into a longer string. Built on the first name `whole` lacks.
    tails: Option<HashMap<&'a [u8], u32>>,
    extra: Vec<u8>,
    added: HashMap<String, u32>,
}

/// Tails longer than this are found by a scan instead of the index: indexing every tail
/// of a string costs its length squared, and an object's string may be megabytes long.
const TAIL_INDEX_MAX: usize = 128;

/// (offset, bytes) for each NUL-terminated string of `base`, and with `tails` for each
/// proper tail of one too (up to TAIL_INDEX_MAX bytes long).
fn index(base: &[u8], tails: bool) -> HashMap<&[u8], u32> {
    let mut map = HashMap::new();
    let mut start = 0usize;
    for (i, &b) in base.iter().enumerate() {
        if b != 0 {
            continue;
        }
        let firsts = if tails {
            (start + 1).max(i.saturating_sub(TAIL_INDEX_MAX))..i
        } else {
            start..start + 1
        };
        for s in firsts {
            if let (Some(key), Ok(off)) = (base.get(s..i), u32::try_from(s)) {
                map.entry(key).or_insert(off);
            }
        }
        start = i + 1;
    }
    map
}

/// The offset of `name` as the proper tail of the first string of `base` that ends with
/// it, as the tail index would give it.
fn long_tail(base: &[u8], name: &[u8]) -> Option<u32> {
    let mut start = 0usize;
    for (i, &b) in base.iter().enumerate() {
        if b != 0 {
            continue;
        }
        if i - start > name.len() && base[start..i].ends_with(name) {
            return u32::try_from(i - name.len()).ok();
        }
        start = i + 1;
    }
    None
}

impl<'a> StrTab<'a> {
    fn new(base: &'a [u8]) -> Self {
        StrTab {
            base,
            whole: index(base, false),
            tails: None,
            extra: Vec::new(),
            added: HashMap::new(),
        }
    }

    /// The offset of `name`, appending it when no string of the table spells it.
    fn offset(&mut self, name: &str) -> u32 {
        if let Some(&off) = self.whole.get(name.as_bytes()) {
            return off;
        }
        if let Some(&off) = self.added.get(name) {
            return off;
        }
        let base = self.base;
        let tails = self.tails.get_or_insert_with(|| index(base, true));
        if let Some(&off) = tails.get(name.as_bytes()) {
            return off;
        }
        if name.len() > TAIL_INDEX_MAX {
            if let Some(off) = long_tail(base, name.as_bytes()) {
                return off;
            }
        }
        let off = u32::try_from(self.base.len() + self.extra.len()).unwrap_or(u32::MAX);
        self.extra.extend_from_slice(name.as_bytes());
        self.extra.push(0);
        self.added.insert(name.to_owned(), off);
        off
    }
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn info(kind: u32, kflag: bool, vlen: usize) -> u32 {
    (u32::from(kflag) << 31) | (kind << 24) | (vlen.min(VLEN_MAX) as u32)
}

fn encode_type(t: &Type, strs: &mut StrTab, out: &mut Vec<u8>) {
    let mut head = |out: &mut Vec<u8>, name: &str, kflag: bool, vlen: usize, size_or_type: u32| {
        put(out, strs.offset(name));
        put(out, info(t.kind(), kflag, vlen));
        put(out, size_or_type);
    };
    match t {
        // Id 0 is implicit; a Void elsewhere has no encoding, so write a harmless stand-in.
        Type::Void => head(out, "", false, 0, 0),
        Type::Int {
            name,
            size,
            encoding,
            bit_offset,
            bits,
        } => {
            head(out, name, false, 0, *size);
            put(
                out,
                (u32::from(*encoding & 0x0f) << 24)
                    | (u32::from(*bit_offset) << 16)
                    | u32::from(*bits),
            );
        }
        Type::Ptr { type_id }
        | Type::Volatile { type_id }
        | Type::Const { type_id }
        | Type::Restrict { type_id } => head(out, "", false, 0, *type_id),
        Type::Array {
            elem,
            index,
            nelems,
        } => {
            head(out, "", false, 0, 0);
            put(out, *elem);
            put(out, *index);
            put(out, *nelems);
        }
        Type::Struct {
            name,
            size,
            members,
        }
        | Type::Union {
            name,
            size,
            members,
        } => {
            let members = members
                .get(..members.len().min(VLEN_MAX))
                .unwrap_or_default();
            // kind_flag switches every member's offset to the bitfield encoding, so it is
            // only set when some member needs it.
            let kflag = members.iter().any(|m| m.bitfield_size != 0);
            head(out, name, kflag, members.len(), *size);
            for m in members {
                let off = strs.offset(&m.name);
                put(out, off);
                put(out, m.type_id);
                put(
                    out,
                    if kflag {
                        (m.bitfield_size << 24) | (m.bit_offset & 0x00ff_ffff)
                    } else {
                        m.bit_offset
                    },
                );
            }
        }
        Type::Enum {
            name,
            size,
            signed,
            values,
            is64,
        } => {
            let values = values.get(..values.len().min(VLEN_MAX)).unwrap_or_default();
            head(out, name, *signed, values.len(), *size);
            for (vname, v) in values {
                let off = strs.offset(vname);
                put(out, off);
                put(out, *v as u32);
                if *is64 {
                    put(out, ((*v as u64) >> 32) as u32);
                }
            }
        }
        Type::Fwd { name, is_union } => head(out, name, *is_union, 0, 0),
        Type::Typedef { name, type_id } | Type::TypeTag { name, type_id } => {
            head(out, name, false, 0, *type_id)
        }
        Type::Func {
            name,
            type_id,
            linkage,
        } => head(out, name, false, *linkage as usize & VLEN_MAX, *type_id),
        Type::FuncProto { ret, params } => {
            let params = params.get(..params.len().min(VLEN_MAX)).unwrap_or_default();
            head(out, "", false, params.len(), *ret);
            for p in params {
                let off = strs.offset(&p.name);
                put(out, off);
                put(out, p.type_id);
            }
        }
        Type::Var {
            name,
            type_id,
            linkage,
        } => {
            head(out, name, false, 0, *type_id);
            put(out, *linkage);
        }
        Type::Datasec { name, size, vars } => {
            let vars = vars.get(..vars.len().min(VLEN_MAX)).unwrap_or_default();
            head(out, name, false, vars.len(), *size);
            for v in vars {
                put(out, v.type_id);
                put(out, v.offset);
                put(out, v.size);
            }
        }
        Type::Float { name, size } => head(out, name, false, 0, *size),
        Type::DeclTag {
            name,
            type_id,
            component_idx,
        } => {
            head(out, name, false, 0, *type_id);
            put(out, *component_idx as u32);
        }
    }
}

impl Btf {
    /// The kernel's binary format for this BTF. The string section starts with
    /// `self.strings` unchanged; names no string of it spells are appended.
    pub fn encode(&self) -> Vec<u8> {
        // Offset 0 must be the empty name and the table must end in NUL before we append.
        let mut base = self.strings.clone();
        if base.last() != Some(&0) {
            base.push(0);
        }
        let mut strs = StrTab::new(&base);
        let mut types = Vec::new();
        for t in self.types.iter().skip(1) {
            encode_type(t, &mut strs, &mut types);
        }
        let type_len = u32::try_from(types.len()).unwrap_or(u32::MAX);
        let str_len = u32::try_from(base.len() + strs.extra.len()).unwrap_or(u32::MAX);

        let mut out = Vec::with_capacity(HDR_LEN + types.len() + str_len as usize);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        put(&mut out, HDR_LEN as u32);
        put(&mut out, 0); // type_off
        put(&mut out, type_len);
        put(&mut out, type_len); // str_off: right after the types
        put(&mut out, str_len);
        out.extend_from_slice(&types);
        out.extend_from_slice(&base);
        out.extend_from_slice(&strs.extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{sample, RawBtf};
    use super::super::types::{kind, Member};
    use super::*;

    #[test]
    fn round_trip_is_byte_identical_for_a_canonical_blob() {
        let (bytes, _) = sample();
        let btf = Btf::parse(&bytes).unwrap();
        assert_eq!(btf.encode(), bytes);
        assert_eq!(Btf::parse(&btf.encode()).unwrap(), btf);
    }

    #[test]
    fn real_clang_output_round_trips() {
        let bytes = include_bytes!("testdata/metadata.btf");
        let btf = Btf::parse(bytes).unwrap();
        assert_eq!(Btf::parse(&btf.encode()).unwrap(), btf);
        assert_eq!(btf.encode(), bytes.to_vec());
    }

    #[test]
    fn new_names_are_appended_once_and_old_offsets_stay() {
        let (bytes, _) = sample();
        let mut btf = Btf::parse(&bytes).unwrap();
        let old = btf.strings.clone();
        let Type::Var { name, .. } = &mut btf.types[17] else {
            panic!()
        };
        *name = "renamed".into();
        let Type::Typedef { name, .. } = &mut btf.types[10] else {
            panic!()
        };
        *name = "renamed".into();
        // A name that exists as a string keeps using it.
        let Type::Float { name, .. } = &mut btf.types[19] else {
            panic!()
        };
        *name = "int".into();
        let back = Btf::parse(&btf.encode()).unwrap();
        assert_eq!(back.types, btf.types);
        assert_eq!(back.strings, [old.as_slice(), b"renamed\0"].concat());
    }

    /// An object whose string table is one 1 MiB string, and names that are tails of it:
    /// indexing every tail hashed half a terabyte (a hang in the elf_object fuzz target).
    /// Tails of any length keep their offsets, new names are appended.
    #[test]
    fn tails_of_long_strings_are_found_without_indexing_them_all() {
        let long: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
        let strings = [&b"\0"[..], &long, b"\0"].concat();
        let end = 1 + long.len();
        let tail = |n: usize| String::from_utf8(long[long.len() - n..].to_vec()).unwrap();
        let int = |name: String| Type::int(&name, 4, 0, 32);
        let btf = Btf {
            types: vec![
                Type::Void,
                int(tail(3)),
                int(tail(TAIL_INDEX_MAX)),
                int(tail(TAIL_INDEX_MAX + 1)),
                int(tail(4000)),
                int("new".into()),
            ],
            strings: strings.clone(),
        };
        let out = btf.encode();
        let back = Btf::parse(&out).unwrap();
        assert_eq!(back.types, btf.types);
        assert_eq!(back.strings, [&strings[..], b"new\0"].concat());
        let name_off = |id: usize| {
            let at = HDR_LEN + 16 * (id - 1);
            u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize
        };
        for (id, n) in [
            (1, 3),
            (2, TAIL_INDEX_MAX),
            (3, TAIL_INDEX_MAX + 1),
            (4, 4000),
        ] {
            assert_eq!(name_off(id), end - n, "type {id}");
        }
    }

    #[test]
    fn hand_built_models_get_a_valid_string_table() {
        let btf = Btf {
            types: vec![
                Type::Void,
                Type::int("int", 4, 1, 32),
                Type::Ptr { type_id: 1 },
            ],
            strings: Vec::new(),
        };
        let back = Btf::parse(&btf.encode()).unwrap();
        assert_eq!(back.types, btf.types);
        assert_eq!(back.strings, b"\0int\0");
    }

    #[test]
    fn kind_flag_follows_bitfields() {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        // kind_flag set but no bitfield: re-encoded without it, same model.
        b.composite(kind::STRUCT, "s", 8, true, &[("a", int, 0), ("b", int, 32)]);
        let btf = Btf::parse(&b.bytes()).unwrap();
        let enc = btf.encode();
        let info = u32::from_le_bytes(enc[24 + 16 + 4..24 + 16 + 8].try_into().unwrap());
        assert_eq!(info >> 31, 0);
        assert_eq!(Btf::parse(&enc).unwrap(), btf);

        let mut btf = btf;
        let Type::Struct { members, .. } = &mut btf.types[2] else {
            panic!()
        };
        members[1] = Member {
            name: "b".into(),
            type_id: 1,
            bit_offset: 35,
            bitfield_size: 7,
        };
        let enc = btf.encode();
        let info = u32::from_le_bytes(enc[24 + 16 + 4..24 + 16 + 8].try_into().unwrap());
        assert_eq!(info >> 31, 1);
        assert_eq!(Btf::parse(&enc).unwrap(), btf);
    }
}
