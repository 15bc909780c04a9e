//! BTF for a kernel older than the compiler: kinds the kernel does not know are rewritten
//! into ones it does, keeping every type id, as libbpf's `bpf_object__sanitize_btf` does
//! (its replacements, so a kernel sees what it would see from libbpf).

use super::types::{Btf, Member, Type};

/// Which BTF kinds (and forms) the kernel accepts; `Default` is a kernel that accepts all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfKinds {
    /// FUNC and FUNC_PROTO (Linux 5.0); without them func_info cannot be given either.
    pub func: bool,
    /// FUNC of global linkage (5.6).
    pub global_func: bool,
    /// VAR and DATASEC (5.2).
    pub datasec: bool,
    /// DATASEC names starting with '?' (6.10).
    pub qmark_datasec: bool,
    pub float: bool,
    pub decl_tag: bool,
    pub type_tag: bool,
    /// ENUM64 and the signedness flag of ENUM (6.0).
    pub enum64: bool,
}

impl Default for BtfKinds {
    fn default() -> Self {
        BtfKinds {
            func: true,
            global_func: true,
            datasec: true,
            qmark_datasec: true,
            float: true,
            decl_tag: true,
            type_tag: true,
            enum64: true,
        }
    }
}

impl BtfKinds {
    /// A kernel that knows none of the kinds above: every rewrite applies.
    pub fn none() -> Self {
        BtfKinds {
            func: false,
            global_func: false,
            datasec: false,
            qmark_datasec: false,
            float: false,
            decl_tag: false,
            type_tag: false,
            enum64: false,
        }
    }

    /// The names of what is missing, for warnings and tests.
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            (self.func, "func"),
            (self.global_func, "global_func"),
            (self.datasec, "datasec"),
            (self.qmark_datasec, "qmark_datasec"),
            (self.float, "float"),
            (self.decl_tag, "decl_tag"),
            (self.type_tag, "type_tag"),
            (self.enum64, "enum64"),
        ];
        all.iter()
            .filter(|(has, _)| !has)
            .map(|(_, n)| *n)
            .collect()
    }

    /// As a kernel from before the kinds named in `list` (comma-separated names of
    /// `missing`, or "all"): kinds came in the order of `HISTORY`, so a kernel without
    /// one has none of the later ones either.
    pub fn without(mut self, list: &str) -> Self {
        for name in list.split(',').map(str::trim) {
            let from = if name == "all" {
                Some(0)
            } else {
                HISTORY.iter().position(|k| *k == name)
            };
            for kind in from.map_or(&[][..], |i| &HISTORY[i..]) {
                match *kind {
                    "func" => self.func = false,
                    "datasec" => self.datasec = false,
                    "global_func" => self.global_func = false,
                    "float" => self.float = false,
                    "decl_tag" => self.decl_tag = false,
                    "type_tag" => self.type_tag = false,
                    "enum64" => self.enum64 = false,
                    _ => self.qmark_datasec = false,
                }
            }
        }
        self
    }
}

/// The kinds in the order kernels learnt them: 5.0, 5.2, 5.6, 5.13, 5.16, 5.17, 6.0, 6.10.
pub const HISTORY: [&str; 8] = [
    "func",
    "datasec",
    "global_func",
    "float",
    "decl_tag",
    "type_tag",
    "enum64",
    "qmark_datasec",
];

/// A 1-byte unsigned INT, what a VAR or DECL_TAG becomes (a larger one could outgrow a
/// small variable's place and fail the kernel's checks).
fn byte_int(name: &str) -> Type {
    Type::int(name, 1, 0, 8)
}

impl Btf {
    /// This BTF as a kernel with only `kinds` accepts it, or None when it needs no change.
    /// Type ids stay; an ENUM64 rewritten as a UNION adds one INT at the end.
    pub fn sanitized(&self, kinds: &BtfKinds) -> Option<Btf> {
        let needs = self.types.iter().any(|t| match t {
            Type::Func { linkage, .. } => !kinds.func || (*linkage == 1 && !kinds.global_func),
            Type::FuncProto { .. } => !kinds.func,
            Type::Var { .. } => !kinds.datasec,
            Type::Datasec { name, .. } => {
                !kinds.datasec || (name.starts_with('?') && !kinds.qmark_datasec)
            }
            Type::Float { .. } => !kinds.float,
            Type::DeclTag { .. } => !kinds.decl_tag,
            Type::TypeTag { .. } => !kinds.type_tag,
            Type::Enum { signed, is64, .. } => !kinds.enum64 && (*signed || *is64),
            _ => false,
        });
        if !needs {
            return None;
        }
        let mut out = self.clone();
        let mut placeholder: Option<u32> = None;
        let n = out.types.len();
        for i in 0..n {
            let new = match &out.types[i] {
                Type::Var { name, .. } if !kinds.datasec => Some(byte_int(name)),
                Type::DeclTag { name, .. } if !kinds.decl_tag => Some(byte_int(name)),
                Type::Datasec { name, size, vars } if !kinds.datasec => {
                    let members = vars
                        .iter()
                        .map(|v| Member {
                            // The variable's name is the member's.
                            name: match self.types.get(v.type_id as usize) {
                                Some(Type::Var { name, .. }) => name.clone(),
                                _ => String::new(),
                            },
                            type_id: v.type_id,
                            bit_offset: v.offset.wrapping_mul(8),
                            bitfield_size: 0,
                        })
                        .collect();
                    Some(Type::Struct {
                        name: name.replace(['.', '?'], "_"),
                        size: *size,
                        members,
                    })
                }
                Type::Datasec { name, size, vars }
                    if name.starts_with('?') && !kinds.qmark_datasec =>
                {
                    Some(Type::Datasec {
                        name: format!("_{}", &name[1..]),
                        size: *size,
                        vars: vars.clone(),
                    })
                }
                Type::FuncProto { params, .. } if !kinds.func => Some(Type::Enum {
                    name: String::new(),
                    size: 4,
                    signed: false,
                    values: params
                        .iter()
                        .map(|p| (p.name.clone(), i64::from(p.type_id)))
                        .collect(),
                    is64: false,
                }),
                Type::Func { name, type_id, .. } if !kinds.func => Some(Type::Typedef {
                    name: name.clone(),
                    type_id: *type_id,
                }),
                Type::Func {
                    name,
                    type_id,
                    linkage: 1,
                } if !kinds.global_func => Some(Type::Func {
                    name: name.clone(),
                    type_id: *type_id,
                    linkage: 0,
                }),
                Type::Float { size, .. } if !kinds.float => Some(Type::Struct {
                    name: String::new(),
                    size: *size,
                    members: Vec::new(),
                }),
                Type::TypeTag { type_id, .. } if !kinds.type_tag => {
                    Some(Type::Const { type_id: *type_id })
                }
                Type::Enum {
                    name,
                    size,
                    values,
                    is64: false,
                    signed: true,
                } if !kinds.enum64 => Some(Type::Enum {
                    name: name.clone(),
                    size: *size,
                    signed: false,
                    values: values.clone(),
                    is64: false,
                }),
                Type::Enum {
                    name,
                    size,
                    values,
                    is64: true,
                    ..
                } if !kinds.enum64 => {
                    let id = *placeholder.get_or_insert(n as u32);
                    Some(Type::Union {
                        name: name.clone(),
                        size: *size,
                        members: values
                            .iter()
                            .map(|(v, _)| Member {
                                name: v.clone(),
                                type_id: id,
                                bit_offset: 0,
                                bitfield_size: 0,
                            })
                            .collect(),
                    })
                }
                _ => None,
            };
            if let Some(t) = new {
                out.types[i] = t;
            }
        }
        if placeholder.is_some() {
            out.types.push(byte_int("enum64_placeholder"));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{Param, VarSecInfo};
    use super::*;

    fn sample() -> Btf {
        let int = Type::int("int", 4, 1, 32);
        Btf {
            types: vec![
                Type::Void,
                int, // 1
                Type::FuncProto {
                    ret: 1,
                    params: vec![Param {
                        name: "ctx".into(),
                        type_id: 1,
                    }],
                }, // 2
                Type::Func {
                    name: "prog".into(),
                    type_id: 2,
                    linkage: 1,
                }, // 3
                Type::Var {
                    name: "x".into(),
                    type_id: 1,
                    linkage: 1,
                }, // 4
                Type::Datasec {
                    name: ".data.x".into(),
                    size: 8,
                    vars: vec![VarSecInfo {
                        type_id: 4,
                        offset: 4,
                        size: 4,
                    }],
                }, // 5
                Type::Float {
                    name: "double".into(),
                    size: 8,
                }, // 6
                Type::DeclTag {
                    name: "tag".into(),
                    type_id: 4,
                    component_idx: -1,
                }, // 7
                Type::TypeTag {
                    name: "user".into(),
                    type_id: 1,
                }, // 8
                Type::Enum {
                    name: "big".into(),
                    size: 8,
                    signed: false,
                    values: vec![("A".into(), 1 << 40), ("B".into(), 2)],
                    is64: true,
                }, // 9
                Type::Enum {
                    name: "neg".into(),
                    size: 4,
                    signed: true,
                    values: vec![("M".into(), -1)],
                    is64: false,
                }, // 10
                Type::Datasec {
                    name: "?.bss".into(),
                    size: 0,
                    vars: vec![],
                }, // 11
            ],
            strings: Vec::new(),
        }
    }

    #[test]
    fn a_kernel_with_every_kind_needs_nothing() {
        assert_eq!(sample().sanitized(&BtfKinds::default()), None);
    }

    #[test]
    fn every_kind_becomes_what_libbpf_makes_of_it() {
        let s = sample().sanitized(&BtfKinds::none()).unwrap();
        let t = &s.types;
        assert_eq!(t.len(), 13, "one placeholder INT added");
        assert!(
            matches!(&t[12], Type::Int { name, size: 1, bits: 8, .. } if name == "enum64_placeholder")
        );
        assert!(
            matches!(&t[2], Type::Enum { size: 4, values, .. } if values == &vec![("ctx".to_string(), 1)])
        );
        assert!(matches!(&t[3], Type::Typedef { name, type_id: 2 } if name == "prog"));
        assert!(matches!(&t[4], Type::Int { name, size: 1, .. } if name == "x"));
        match &t[5] {
            Type::Struct {
                name,
                size: 8,
                members,
            } => {
                assert_eq!(name, "_data_x");
                assert_eq!(
                    (
                        members[0].name.as_str(),
                        members[0].type_id,
                        members[0].bit_offset
                    ),
                    ("x", 4, 32)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&t[6], Type::Struct { name, size: 8, members } if name.is_empty() && members.is_empty())
        );
        assert!(matches!(&t[7], Type::Int { name, size: 1, .. } if name == "tag"));
        assert!(matches!(&t[8], Type::Const { type_id: 1 }));
        match &t[9] {
            Type::Union {
                name,
                size: 8,
                members,
            } => {
                assert_eq!(name, "big");
                assert!(members.iter().all(|m| m.type_id == 12 && m.bit_offset == 0));
                assert_eq!(members.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &t[10],
            Type::Enum {
                signed: false,
                is64: false,
                ..
            }
        ));
        assert!(matches!(&t[11], Type::Struct { name, .. } if name == "__bss"));
    }

    #[test]
    fn only_what_is_missing_is_rewritten() {
        let kinds = BtfKinds::default().without("qmark_datasec");
        assert_eq!(kinds.missing(), vec!["qmark_datasec"]);
        let s = sample().sanitized(&kinds).unwrap();
        assert!(matches!(&s.types[11], Type::Datasec { name, .. } if name == "_.bss"));
        assert_eq!(s.types[..11], sample().types[..11]);
        // A kernel before global functions (5.6) has no later kind either.
        let kinds = BtfKinds::default().without("global_func");
        assert_eq!(
            kinds.missing(),
            vec![
                "global_func",
                "qmark_datasec",
                "float",
                "decl_tag",
                "type_tag",
                "enum64"
            ]
        );
        let s = sample().sanitized(&kinds).unwrap();
        assert!(matches!(&s.types[3], Type::Func { linkage: 0, .. }));
        assert_eq!(s.types[4..6], sample().types[4..6]);
        assert_eq!(s.types.len(), 13);
        // The encoding round-trips through the parser.
        assert!(Btf::parse(&s.encode()).is_ok());
        let all = sample().sanitized(&BtfKinds::none()).unwrap();
        assert!(Btf::parse(&all.encode()).is_ok());
    }
}
