//! A large BTF blob (the kernel's: 5 MB, 150,000 types) read on demand: one walk records
//! where each type starts, and a type is decoded the first time CO-RE or a look-up asks
//! for it. A whole parse costs ten times a CO-RE load; this costs a fraction of one.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use super::core::{essential_name, Types};
use super::index::{body_len, kind_vlen};
use super::parse::{parse_type, sections, u32_at, Sections, Strings, TYPE_HDR};
use super::types::{kind, Type};
use crate::error::{Error, Result};

pub struct LazyBtf {
    data: Cow<'static, [u8]>,
    types: (usize, usize),
    strings: (usize, usize),
    /// Per type (index = id - 1): its record's offset with the kind in the top bits, and
    /// its name offset. 8 bytes a type, so a candidate search reads 1 MB, not 5.
    heads: Vec<[u32; 2]>,
    /// Types decoded so far, by id. Boxes are never dropped before `self`, so references
    /// to them live as long as `&self`.
    decoded: Mutex<HashMap<u32, Option<Box<Type>>>>,
}

const KIND_SHIFT: u32 = 27;
const POS_MASK: u32 = (1 << KIND_SHIFT) - 1;

static VOID: Type = Type::Void;

impl LazyBtf {
    /// `data` is borrowed for the kernel's BTF (mapped for the life of the process) and
    /// owned for a file's.
    pub fn new(data: impl Into<Cow<'static, [u8]>>) -> Result<Self> {
        let data: Cow<'static, [u8]> = data.into();
        let Sections { types, strings } = sections(&data)?;
        let (tstart, tend) = types;
        let table = data.get(strings.0..strings.1).unwrap_or_default();
        if table.first() != Some(&0) || table.last() != Some(&0) {
            return Err(Error::format(
                ".BTF",
                strings.0 as u64,
                "string section must start with an empty string and end with NUL",
            ));
        }
        if tend > POS_MASK as usize {
            return Err(Error::format(".BTF", 0, "type section too large"));
        }
        let mut heads = Vec::with_capacity((tend - tstart) / 24);
        let mut pos = tstart;
        let d: &[u8] = &data;
        while pos < tend {
            let bad = || Error::format(".BTF", pos as u64, "truncated type record");
            let name_off = u32_at(d, pos).ok_or_else(bad)?;
            let info = u32_at(d, pos + 4)
                .filter(|_| pos + TYPE_HDR <= tend)
                .ok_or_else(bad)?;
            let (k, vlen) = kind_vlen(info);
            let next = body_len(k, vlen)
                .and_then(|b| (pos + TYPE_HDR).checked_add(b))
                .filter(|&n| n <= tend)
                .ok_or_else(|| {
                    Error::format(".BTF", pos as u64, format!("bad record of kind {k}"))
                })?;
            heads.push([pos as u32 | (k << KIND_SHIFT), name_off]);
            pos = next;
        }
        Ok(LazyBtf {
            data,
            types,
            strings,
            heads,
            decoded: Mutex::new(HashMap::new()),
        })
    }

    /// The raw blob, as read.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The string table, for split BTF over this one.
    pub fn string_table(&self) -> &[u8] {
        &self.data[self.strings.0..self.strings.1]
    }

    /// Number of type ids, void included.
    pub fn count(&self) -> usize {
        self.heads.len() + 1
    }

    fn name_bytes(&self, off: u32) -> &[u8] {
        let table = self.string_table();
        let tail = table.get(off as usize..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        &tail[..end]
    }

    /// Whether the name at `off` is `name` (`essential`: or `name___flavor`).
    fn name_matches(&self, off: u32, name: &[u8], essential: bool) -> bool {
        let table = self.string_table();
        let Some(tail) = table.get(off as usize..) else {
            return false;
        };
        if tail.get(..name.len()) != Some(name) {
            return false;
        }
        match tail.get(name.len()) {
            Some(0) => true,
            Some(_) if essential => {
                let full = self.name_bytes(off);
                std::str::from_utf8(full).is_ok_and(|n| essential_name(n).len() == name.len())
            }
            _ => false,
        }
    }

    /// The first type named `name` of kind `k`.
    pub fn find(&self, name: &str, k: u32) -> Option<u32> {
        let idx = self.heads.iter().position(|&[pk, off]| {
            pk >> KIND_SHIFT == k && off != 0 && self.name_matches(off, name.as_bytes(), false)
        })?;
        Some(idx as u32 + 1)
    }

    /// Ids of the types whose essential name (no `___flavor`) is `essential`, in id order,
    /// of a kind `keep` accepts: libbpf's candidate search, over the 8-byte heads.
    pub fn named(&self, essential: &str, keep: impl Fn(u32) -> bool) -> Vec<u32> {
        let needle = essential.as_bytes();
        self.heads
            .iter()
            .enumerate()
            .filter(|(_, &[pk, off])| {
                off != 0 && keep(pk >> KIND_SHIFT) && self.name_matches(off, needle, true)
            })
            .map(|(i, _)| i as u32 + 1)
            .collect()
    }

    /// Whether `k` may be a candidate of a local type of kind `local` (enums of both widths
    /// are interchangeable).
    pub fn kind_compat(local: u32, k: u32) -> bool {
        let any_enum = |x| x == kind::ENUM || x == kind::ENUM64;
        local == k || (any_enum(local) && any_enum(k))
    }
}

impl Types for LazyBtf {
    fn ty(&self, id: u32) -> Option<&Type> {
        if id == 0 {
            return Some(&VOID);
        }
        let pos = (self.heads.get(id as usize - 1)?[0] & POS_MASK) as usize;
        let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        let slot = decoded.entry(id).or_insert_with(|| {
            let strings = Strings {
                base_table: &[],
                table: self.string_table(),
                base: self.strings.0,
            };
            parse_type(&self.data, pos, self.types.1, &strings)
                .ok()
                .map(|(t, _)| Box::new(t))
        });
        let t: *const Type = slot.as_deref()?;
        // SAFETY: the Box is never removed or replaced while `self` lives (entries are
        // only inserted), and a Box's contents do not move when the map rehashes.
        Some(unsafe { &*t })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::RawBtf;
    use super::*;

    #[test]
    fn decodes_on_demand_and_finds_flavors() {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        let s = b.strukt("task", 4, &[("pid", int, 0)]);
        let f = b.strukt("task___v2", 4, &[("pid", int, 0)]);
        b.union("task", 4, &[("pid", int, 0)]);
        b.strukt("taskx", 4, &[("pid", int, 0)]);
        let lazy = LazyBtf::new(b.bytes()).unwrap();
        assert_eq!(lazy.count(), 6);
        assert_eq!(lazy.find("task", kind::STRUCT), Some(s));
        assert_eq!(lazy.find("task", kind::ENUM), None);
        let structs = lazy.named("task", |k| k == kind::STRUCT);
        assert_eq!(structs, vec![s, f]);
        assert_eq!(lazy.ty(s).map(Type::name), Some("task"));
        assert!(matches!(lazy.ty(0), Some(Type::Void)));
        assert!(lazy.ty(99).is_none());
    }

    #[test]
    fn broken_blobs_are_errors_not_panics() {
        let mut b = RawBtf::new();
        b.int("int", 4, 1, 32);
        let good = b.bytes();
        for cut in 0..good.len() {
            let _ = LazyBtf::new(good[..cut].to_vec());
        }
        let mut flipped = good.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            if let Ok(l) = LazyBtf::new(flipped.clone()) {
                let _ = l.ty(1);
                let _ = l.find("int", kind::INT);
            }
            flipped[i] ^= 0xff;
        }
    }
}
