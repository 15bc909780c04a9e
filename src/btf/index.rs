//! A light index over a large BTF blob (the kernel's, 5 MB and 150,000 types) for the few
//! look-ups a caller needs: a type by name and kind, a struct member's offset and size.
//! Only record offsets are kept; nothing is decoded until asked, so building it costs a
//! fraction of `Btf::parse`.

use super::lookup::MAX_CHAIN;
use super::parse::{sections, u32_at, Sections, TYPE_HDR};
use super::types::kind;
use crate::error::{Error, Result};

pub struct BtfIndex<'a> {
    data: &'a [u8],
    strings: &'a [u8],
    /// Offset in `data` of each type's record; index = type id - 1.
    offsets: Vec<u32>,
}

/// A struct member as the index reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberAt {
    /// Bytes from the start of the struct.
    pub offset: u32,
    /// The member's size in bytes, typedefs and qualifiers resolved.
    pub size: u32,
    /// The member's kind once resolved (`kind::INT`, `kind::PTR`, ...).
    pub kind: u32,
}

fn bad(offset: usize, msg: impl Into<String>) -> Error {
    Error::format(".BTF", offset as u64, msg)
}

/// A record's kind and vlen, from its info word (as `parse` reads them).
pub(crate) fn kind_vlen(info: u32) -> (u32, usize) {
    ((info >> 24) & 0x7f, (info & 0x00ff_ffff) as usize)
}

/// Bytes a record of `kind` carries after its 12-byte header.
pub(crate) fn body_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => vlen.checked_mul(12)?,
        kind::ENUM | kind::FUNC_PROTO => vlen.checked_mul(8)?,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        _ => return None,
    })
}

impl<'a> BtfIndex<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self> {
        let Sections {
            types: (tstart, tend),
            strings: (sstart, send),
        } = sections(data)?;
        let mut offsets = Vec::with_capacity((tend - tstart) / 16);
        let mut pos = tstart;
        while pos < tend {
            let info = u32_at(data, pos + 4)
                .filter(|_| pos + TYPE_HDR <= tend)
                .ok_or_else(|| bad(pos, "truncated type record"))?;
            let (k, vlen) = kind_vlen(info);
            let next = body_len(k, vlen)
                .and_then(|b| (pos + TYPE_HDR).checked_add(b))
                .filter(|&n| n <= tend)
                .ok_or_else(|| bad(pos, format!("bad record of kind {k}")))?;
            offsets.push(pos as u32);
            pos = next;
        }
        Ok(BtfIndex {
            data,
            strings: &data[sstart..send],
            offsets,
        })
    }

    fn word(&self, at: usize) -> u32 {
        u32_at(self.data, at).unwrap_or_default()
    }

    /// (record offset, kind, vlen, size-or-type) of type `id`.
    fn header(&self, id: u32) -> Option<(usize, u32, usize, u32)> {
        let pos = *self.offsets.get((id as usize).checked_sub(1)?)? as usize;
        let (k, vlen) = kind_vlen(self.word(pos + 4));
        Some((pos, k, vlen, self.word(pos + 8)))
    }

    fn name_is(&self, off: u32, name: &str) -> bool {
        let Some(tail) = self.strings.get(off as usize..) else {
            return false;
        };
        tail.get(..name.len()) == Some(name.as_bytes()) && tail.get(name.len()) == Some(&0)
    }

    /// The id of the first type named `name` of kind `k`.
    pub fn find(&self, name: &str, k: u32) -> Option<u32> {
        (1..=self.offsets.len() as u32).find(|&id| {
            self.header(id)
                .is_some_and(|(pos, kind, ..)| kind == k && self.name_is(self.word(pos), name))
        })
    }

    /// Size and kind of `id` with typedefs and qualifiers resolved.
    fn resolved(&self, id: u32) -> Option<(u32, u32)> {
        let (pos, k, _, size_or_type) = self.header(self.unqualified(id)?)?;
        match k {
            kind::INT | kind::ENUM | kind::ENUM64 | kind::STRUCT | kind::UNION => {
                Some((size_or_type, k))
            }
            kind::PTR => Some((8, k)),
            kind::ARRAY => {
                let (elem, nelems) = (self.word(pos + 12), self.word(pos + 20));
                let (esize, _) = self.resolved_shallow(elem)?;
                Some((esize.checked_mul(nelems)?, k))
            }
            _ => None,
        }
    }

    /// As `resolved`, for an array's element (arrays of arrays are not needed here).
    /// The element's kind is looked at first: an array holding itself (hostile BTF) must
    /// not recurse.
    fn resolved_shallow(&self, id: u32) -> Option<(u32, u32)> {
        let (_, k, _, _) = self.header(self.unqualified(id)?)?;
        if k == kind::ARRAY {
            return None;
        }
        self.resolved(id)
    }

    /// Member `name` of the struct `struct_id`, looking inside anonymous struct and union
    /// members too (not a bitfield).
    pub fn member(&self, struct_id: u32, name: &str) -> Option<MemberAt> {
        let mut budget = MAX_MEMBER_VISITS;
        self.member_in(struct_id, name, 0, &mut budget)
    }

    fn member_in(&self, id: u32, name: &str, depth: usize, budget: &mut usize) -> Option<MemberAt> {
        let (pos, k, vlen, _) = self.header(id)?;
        if (k != kind::STRUCT && k != kind::UNION) || depth > MAX_CHAIN {
            return None;
        }
        let kflag = self.word(pos + 4) >> 31 == 1;
        (0..vlen).find_map(|i| {
            *budget = budget.checked_sub(1)?;
            let rec = pos + TYPE_HDR + 12 * i;
            let raw = self.word(rec + 8);
            let (bits, bitfield) = if kflag {
                (raw & 0x00ff_ffff, raw >> 24)
            } else {
                (raw, 0)
            };
            if bitfield != 0 || bits % 8 != 0 {
                return None;
            }
            let type_id = self.word(rec + 4);
            if self.word(rec) == 0 {
                // Anonymous: its members are the outer struct's, at its offset.
                let inner = self.unqualified(type_id)?;
                let m = self.member_in(inner, name, depth + 1, budget)?;
                return Some(MemberAt {
                    offset: m.offset.checked_add(bits / 8)?,
                    ..m
                });
            }
            if !self.name_is(self.word(rec), name) {
                return None;
            }
            let (size, kind) = self.resolved(type_id)?;
            Some(MemberAt {
                offset: bits / 8,
                size,
                kind,
            })
        })
    }

    /// `id` with typedefs and qualifiers stripped.
    fn unqualified(&self, mut id: u32) -> Option<u32> {
        for _ in 0..MAX_CHAIN {
            let (_, k, _, next) = self.header(id)?;
            match k {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = next
                }
                _ => return Some(id),
            }
        }
        None
    }
}

/// How many member records one look-up reads at most: an anonymous member's type may
/// be shared by every member of the level above, so the search is otherwise
/// exponential in the nesting. The kernel's struct bpf_map needs about a hundred.
const MAX_MEMBER_VISITS: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::{Btf, Member, Type};

    #[test]
    fn an_array_holding_itself_does_not_recurse() {
        // Found by the census fuzz target: [2] is an array of [2].
        let mut b = crate::btf::testutil::RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        let arr = b.array(int + 1, int, 4);
        assert_eq!(arr, int + 1);
        let s = b.strukt("s", 16, &[("a", arr, 0)]);
        let data = b.bytes();
        let idx = BtfIndex::new(&data).unwrap();
        assert_eq!(idx.member(s, "a"), None);
    }

    fn sample() -> Vec<u8> {
        let btf = Btf {
            types: vec![
                Type::Void,
                Type::int("unsigned int", 4, 0, 32),
                Type::Typedef {
                    name: "u32".into(),
                    type_id: 1,
                },
                Type::int("char", 1, 2, 8),
                Type::Array {
                    elem: 3,
                    index: 1,
                    nelems: 16,
                },
                Type::Ptr { type_id: 0 },
                Type::Union {
                    name: String::new(),
                    size: 8,
                    members: vec![Member {
                        name: "inner".into(),
                        type_id: 2,
                        bit_offset: 0,
                        bitfield_size: 0,
                    }],
                },
                Type::Struct {
                    name: "thing".into(),
                    size: 48,
                    members: vec![
                        Member {
                            name: "id".into(),
                            type_id: 2,
                            bit_offset: 0,
                            bitfield_size: 0,
                        },
                        Member {
                            name: "flag".into(),
                            type_id: 1,
                            bit_offset: 32,
                            bitfield_size: 1,
                        },
                        Member {
                            name: "ptr".into(),
                            type_id: 5,
                            bit_offset: 64,
                            bitfield_size: 0,
                        },
                        Member {
                            name: "name".into(),
                            type_id: 4,
                            bit_offset: 128,
                            bitfield_size: 0,
                        },
                        Member {
                            name: String::new(),
                            type_id: 6,
                            bit_offset: 320,
                            bitfield_size: 0,
                        },
                    ],
                },
            ],
            strings: vec![0],
        };
        btf.encode()
    }

    #[test]
    fn finds_types_and_members_like_the_full_parser() {
        let data = sample();
        let full = Btf::parse(&data).unwrap();
        let idx = BtfIndex::new(&data).unwrap();
        assert_eq!(
            idx.find("thing", kind::STRUCT),
            full.find("thing", kind::STRUCT)
        );
        assert_eq!(idx.find("thing", kind::UNION), None);
        assert_eq!(idx.find("thin", kind::STRUCT), None);
        let s = idx.find("thing", kind::STRUCT).unwrap();
        let m = |n| idx.member(s, n);
        assert_eq!(
            m("id"),
            Some(MemberAt {
                offset: 0,
                size: 4,
                kind: kind::INT
            })
        );
        assert_eq!(
            m("ptr").map(|m| (m.offset, m.size, m.kind)),
            Some((8, 8, kind::PTR))
        );
        assert_eq!(m("name").map(|m| (m.offset, m.size)), Some((16, 16)));
        // Inside an anonymous union, at the union's offset.
        assert_eq!(m("inner").map(|m| (m.offset, m.size)), Some((40, 4)));
        // A bitfield has no byte offset to load from.
        assert_eq!(m("flag"), None);
        assert_eq!(m("missing"), None);
    }

    /// Six levels of 64 anonymous members, each the union of the level below: a search
    /// for a missing name read 64^6 records (a hang); it reads 2^16 and gives up.
    #[test]
    fn member_search_is_bounded() {
        let mut b = crate::btf::testutil::RawBtf::new();
        let mut inner = b.int("int", 4, 1, 32);
        for _ in 0..6 {
            let members: Vec<_> = (0..64).map(|_| ("", inner, 0)).collect();
            inner = b.union("", 4, &members);
        }
        let s = b.strukt("outer", 4, &[("", inner, 0)]);
        let data = b.bytes();
        let idx = BtfIndex::new(&data).unwrap();
        assert_eq!(idx.member(s, "missing"), None);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let data = sample();
        for cut in 0..data.len() {
            let _ = BtfIndex::new(&data[..cut]);
        }
        let mut flipped = data.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            if let Ok(idx) = BtfIndex::new(&flipped) {
                if let Some(s) = idx.find("thing", kind::STRUCT) {
                    let _ = idx.member(s, "name");
                }
            }
            flipped[i] ^= 0xff;
        }
    }
}
