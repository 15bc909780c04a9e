//! Test-only writers of raw `.BTF` and `.BTF.ext` bytes, kept apart from `encode` so the
//! parser is checked against an independent spelling of the format.

use super::types::kind;
use crate::error::{Error, Result};

/// The (offset, message) of the Format error `r` must be, raised in `section`.
pub fn format_err<T: std::fmt::Debug>(section: &str, r: Result<T>) -> (u64, String) {
    match r {
        Err(Error::Format {
            section: s,
            offset,
            msg,
        }) => {
            assert_eq!(s, section);
            (offset, msg)
        }
        other => panic!("expected a Format error, got {other:?}"),
    }
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends type records and strings; ids are handed out in order from 1.
pub struct RawBtf {
    pub types: Vec<u8>,
    pub strings: Vec<u8>,
    next_id: u32,
}

impl RawBtf {
    pub fn new() -> Self {
        RawBtf {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        // Deduplicated like libbpf's string set, so `encode` can reproduce the bytes.
        let needle = [s.as_bytes(), b"\0"].concat();
        let mut start = 0;
        for (i, &b) in self.strings.iter().enumerate() {
            if b == 0 {
                if self.strings[start..=i] == needle[..] {
                    return start as u32;
                }
                start = i + 1;
            }
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// One record with a raw name offset and info word.
    pub fn raw(&mut self, name_off: u32, info: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        put(&mut self.types, name_off);
        put(&mut self.types, info);
        put(&mut self.types, size_or_type);
        for &w in extra {
            put(&mut self.types, w);
        }
        self.next_id += 1;
        self.next_id - 1
    }

    pub fn ty(
        &mut self,
        name: &str,
        kind: u32,
        kflag: bool,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let off = self.str(name);
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        self.raw(off, info, size_or_type, extra)
    }

    pub fn int(&mut self, name: &str, size: u32, encoding: u32, bits: u32) -> u32 {
        self.ty(name, kind::INT, false, 0, size, &[(encoding << 24) | bits])
    }

    pub fn ptr(&mut self, t: u32) -> u32 {
        self.ty("", kind::PTR, false, 0, t, &[])
    }

    pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.ty("", kind::ARRAY, false, 0, 0, &[elem, index, n])
    }

    /// `members`: (name, type, offset word as written, i.e. already kind_flag-encoded).
    pub fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        kflag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(n, t, off) in members {
            extra.extend([self.str(n), t, off]);
        }
        self.ty(name, kind, kflag, members.len() as u32, size, &extra)
    }

    /// A struct without kind_flag (member offsets in bits).
    pub fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(kind::STRUCT, name, size, false, members)
    }

    /// A union without kind_flag.
    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(kind::UNION, name, size, false, members)
    }

    pub fn enum32(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for &(n, v) in values {
            extra.extend([self.str(n), v]);
        }
        self.ty(name, kind::ENUM, signed, values.len() as u32, size, &extra)
    }

    pub fn enum64(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> u32 {
        let mut extra = Vec::new();
        for &(n, v) in values {
            extra.extend([self.str(n), v as u32, (v >> 32) as u32]);
        }
        self.ty(name, kind::ENUM64, signed, values.len() as u32, 8, &extra)
    }

    /// typedef, volatile, const, restrict, type_tag, ptr: a name and a target.
    pub fn refer(&mut self, kind: u32, name: &str, t: u32) -> u32 {
        self.ty(name, kind, false, 0, t, &[])
    }

    pub fn var(&mut self, name: &str, t: u32, linkage: u32) -> u32 {
        self.ty(name, kind::VAR, false, 0, t, &[linkage])
    }

    /// `vars`: (var type id, offset, size).
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let extra: Vec<u32> = vars.iter().flat_map(|&(t, o, s)| [t, o, s]).collect();
        self.ty(name, kind::DATASEC, false, vars.len() as u32, size, &extra)
    }

    /// A blob with the standard 24-byte header.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1);
        out.push(0);
        put(&mut out, 24);
        put(&mut out, 0);
        put(&mut out, self.types.len() as u32);
        put(&mut out, self.types.len() as u32);
        put(&mut out, self.strings.len() as u32);
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// One `.BTF.ext` info block: the record size, then (section name offset, records).
pub fn ext_block(rec_size: u32, secs: &[(u32, Vec<Vec<u32>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    put(&mut out, rec_size);
    for (name_off, recs) in secs {
        put(&mut out, *name_off);
        put(&mut out, recs.len() as u32);
        for r in recs {
            for &w in r {
                put(&mut out, w);
            }
        }
    }
    out
}

/// A `.BTF.ext` with a 32-byte header (core_relo fields present, empty).
pub fn ext_bytes(func: &[u8], line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9fu16.to_le_bytes());
    out.push(1);
    out.push(0);
    put(&mut out, 32);
    put(&mut out, 0);
    put(&mut out, func.len() as u32);
    put(&mut out, func.len() as u32);
    put(&mut out, line.len() as u32);
    put(&mut out, (func.len() + line.len()) as u32);
    put(&mut out, 0);
    out.extend_from_slice(func);
    out.extend_from_slice(line);
    out
}

/// A blob with one or more types of every kind, and the model it must parse to.
/// Shorthands for the model types the samples spell out.
mod mk {
    use crate::btf::types::{Member, Type};

    pub fn s(x: &str) -> String {
        x.to_owned()
    }

    /// An array indexed by type 2 (`unsigned int` in both samples).
    pub fn arr(elem: u32, nelems: u32) -> Type {
        Type::Array {
            elem,
            index: 2,
            nelems,
        }
    }

    pub fn m(name: &str, type_id: u32, bit_offset: u32, bitfield_size: u32) -> Member {
        Member {
            name: s(name),
            type_id,
            bit_offset,
            bitfield_size,
        }
    }

    pub fn st(name: &str, size: u32, members: Vec<Member>) -> Type {
        Type::Struct {
            name: s(name),
            size,
            members,
        }
    }

    pub fn un(name: &str, size: u32, members: Vec<Member>) -> Type {
        Type::Union {
            name: s(name),
            size,
            members,
        }
    }

    pub fn en(name: &str, size: u32, signed: bool, values: &[(&str, i64)], is64: bool) -> Type {
        Type::Enum {
            name: s(name),
            size,
            signed,
            values: values.iter().map(|&(n, v)| (s(n), v)).collect(),
            is64,
        }
    }
}

pub fn sample() -> (Vec<u8>, Vec<super::types::Type>) {
    use super::types::{Param, Type, VarSecInfo};
    let mut b = RawBtf::new();
    let int = b.int("int", 4, 1, 32); // 1
    let uint = b.int("unsigned int", 4, 0, 32); // 2
    let ch = b.int("char", 1, 1, 8); // 3
    let arr = b.array(ch, uint, 4); // 4
    let st = b.composite(
        kind::STRUCT,
        "s",
        12,
        true,
        &[
            ("a", int, 3 << 24),
            ("b", uint, (5 << 24) | 3),
            ("c", arr, 32),
            ("", 6, 64),
        ],
    ); // 5
    let un = b.union("", 4, &[("u", int, 0), ("v", arr, 0)]); // 6
    let en = b.enum32("e", 4, true, &[("A", 0), ("B", (-1i32) as u32)]); // 7
    let en64 = b.enum64("big", false, &[("X", 0x0012_3456_789a), ("Y", u64::MAX)]); // 8
    let fwd = b.ty("fw", kind::FWD, true, 0, 0, &[]); // 9
    let td = b.refer(kind::TYPEDEF, "u32", uint); // 10
    let vol = b.refer(kind::VOLATILE, "", int); // 11
    let cst = b.refer(kind::CONST, "", vol); // 12
    let ptr = b.ptr(cst); // 13
    let rst = b.refer(kind::RESTRICT, "", ptr); // 14
    let x = b.str("x");
    let y = b.str("y");
    let proto = b.ty("", kind::FUNC_PROTO, false, 2, int, &[x, td, y, rst]); // 15
    let _func = b.ty("main", kind::FUNC, false, 1, proto, &[]); // 16
    let var = b.var("v", cst, 1); // 17
    let ds = b.datasec(".data", 4, &[(var, 0, 4)]); // 18
    let fl = b.ty("float", kind::FLOAT, false, 0, 4, &[]); // 19
    let dt = b.ty("tag", kind::DECL_TAG, false, 0, st, &[u32::MAX]); // 20
    let tt = b.ty("user", kind::TYPE_TAG, false, 0, int, &[]); // 21
    let en8 = b.enum32("small", 1, false, &[("Z", 200)]); // 22
    assert_eq!(
        (un, en, en64, fwd, ds, fl, dt, tt, en8),
        (6, 7, 8, 9, 18, 19, 20, 21, 22)
    );

    use mk::{m, s};
    let types = vec![
        Type::Void,
        Type::int("int", 4, 1, 32),
        Type::int("unsigned int", 4, 0, 32),
        Type::int("char", 1, 1, 8),
        mk::arr(3, 4),
        mk::st(
            "s",
            12,
            vec![
                m("a", 1, 0, 3),
                m("b", 2, 3, 5),
                m("c", 4, 32, 0),
                m("", 6, 64, 0),
            ],
        ),
        mk::un("", 4, vec![m("u", 1, 0, 0), m("v", 4, 0, 0)]),
        mk::en("e", 4, true, &[("A", 0), ("B", -1)], false),
        mk::en("big", 8, false, &[("X", 0x0012_3456_789a), ("Y", -1)], true),
        Type::Fwd {
            name: s("fw"),
            is_union: true,
        },
        Type::Typedef {
            name: s("u32"),
            type_id: 2,
        },
        Type::Volatile { type_id: 1 },
        Type::Const { type_id: 11 },
        Type::Ptr { type_id: 12 },
        Type::Restrict { type_id: 13 },
        Type::FuncProto {
            ret: 1,
            params: vec![
                Param {
                    name: s("x"),
                    type_id: 10,
                },
                Param {
                    name: s("y"),
                    type_id: 14,
                },
            ],
        },
        Type::Func {
            name: s("main"),
            type_id: 15,
            linkage: 1,
        },
        Type::Var {
            name: s("v"),
            type_id: 12,
            linkage: 1,
        },
        Type::Datasec {
            name: s(".data"),
            size: 4,
            vars: vec![VarSecInfo {
                type_id: 17,
                offset: 0,
                size: 4,
            }],
        },
        Type::Float {
            name: s("float"),
            size: 4,
        },
        Type::DeclTag {
            name: s("tag"),
            type_id: 5,
            component_idx: -1,
        },
        Type::TypeTag {
            name: s("user"),
            type_id: 1,
        },
        mk::en("small", 1, false, &[("Z", 200)], false),
    ];
    (b.bytes(), types)
}

/// A model with the value shapes decode and dump must handle; ids are fixed (see comments).
pub fn values_btf() -> super::types::Btf {
    use super::types::{Btf, Type, VarSecInfo};
    use mk::{arr, en, m, s, st, un};
    let int = Type::int;
    let types = vec![
        Type::Void,
        int("int", 4, 1, 32),                 // 1
        int("unsigned int", 4, 0, 32),        // 2
        int("char", 1, 1, 8),                 // 3
        int("unsigned char", 1, 0, 8),        // 4
        int("signed char", 1, 1, 8),          // 5
        int("short", 2, 1, 16),               // 6
        int("unsigned short", 2, 0, 16),      // 7
        int("long long", 8, 1, 64),           // 8
        int("unsigned long long", 8, 0, 64),  // 9
        int("__int128", 16, 1, 128),          // 10
        int("unsigned __int128", 16, 0, 128), // 11
        int("_Bool", 1, 4, 8),                // 12
        int("c8", 1, 2, 8),                   // 13: BTF_INT_CHAR
        Type::Typedef {
            name: s("mychar"),
            type_id: 3,
        }, // 14
        Type::Const { type_id: 3 },           // 15
        arr(3, 6),                            // 16: char[6]
        arr(4, 6),                            // 17: unsigned char[6]
        arr(5, 6),                            // 18: signed char[6]
        arr(14, 6),                           // 19: mychar[6]
        arr(15, 6),                           // 20: const char[6]
        arr(13, 6),                           // 21: c8[6]
        en("e", 4, true, &[("A", 0), ("B", -1)], false), // 22
        en("small", 1, false, &[("Z", 200)], false), // 23
        en("big", 8, false, &[("X", 0x12_3456_789a), ("Y", -1)], true), // 24
        st(
            "bits",
            12,
            vec![
                m("a", 1, 0, 3),
                m("b", 2, 3, 5),
                m("c", 26, 32, 0),
                m("", 27, 64, 0),
            ],
        ), // 25
        arr(3, 4),                            // 26: char[4]
        un("", 4, vec![m("u", 1, 0, 0), m("v", 26, 0, 0)]), // 27
        int("int3", 4, 1, 3),                 // 28
        st(
            "old",
            4,
            vec![m("x", 28, 0, 0), m("y", 28, 3, 0), m("z", 6, 16, 0)],
        ), // 29: bitfields the pre-kind_flag way
        int("int24", 4, 0, 24),               // 30
        Type::Float {
            name: s("float"),
            size: 4,
        }, // 31
        Type::Float {
            name: s("double"),
            size: 8,
        }, // 32
        Type::Ptr { type_id: 1 },             // 33
        arr(8, 2),                            // 34: long long[2]
        arr(34, 2),                           // 35: long long[2][2]
        Type::FuncProto {
            ret: 1,
            params: vec![],
        }, // 36
        Type::Fwd {
            name: s("fw"),
            is_union: false,
        }, // 37
        Type::Typedef {
            name: s("u32"),
            type_id: 2,
        }, // 38
        Type::Volatile { type_id: 38 },       // 39
        Type::Var {
            name: s("v"),
            type_id: 39,
            linkage: 1,
        }, // 40
        Type::Datasec {
            name: s(".rodata"),
            size: 8,
            vars: vec![
                VarSecInfo {
                    type_id: 40,
                    offset: 0,
                    size: 4,
                },
                VarSecInfo {
                    type_id: 42,
                    offset: 4,
                    size: 4,
                },
            ],
        }, // 41
        Type::Var {
            name: s("w"),
            type_id: 26,
            linkage: 1,
        }, // 42
        st("flags", 1, vec![m("e", 22, 0, 2), m("f", 12, 2, 1)]), // 43
        Type::TypeTag {
            name: s("user"),
            type_id: 1,
        }, // 44
        Type::DeclTag {
            name: s("tag"),
            type_id: 25,
            component_idx: -1,
        }, // 45
        en("s1", 1, true, &[("M", -1)], false), // 46
        en("u4", 4, false, &[("Big", 0xffff_ffff)], false), // 47
        Type::Typedef {
            name: s("tv"),
            type_id: 0,
        }, // 48
        st("withf", 8, vec![m("i", 1, 0, 0), m("f", 31, 32, 0)]), // 49
    ];
    Btf {
        types,
        strings: vec![0],
    }
}
