//! The owned BTF model (the contract between btf/, elf/, load/ and scan/).

/// BTF kinds as the kernel numbers them (include/uapi/linux/btf.h).
pub mod kind {
    /// Type id 0 (void), or a kind this crate does not know.
    pub const UNKN: u32 = 0;
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub type_id: u32,
    /// Offset in bits from the start of the struct.
    pub bit_offset: u32,
    /// 0 unless a bitfield.
    pub bitfield_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSecInfo {
    pub type_id: u32,
    pub offset: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub type_id: u32,
}

/// One BTF type. Ids index `Btf::types` (id 0 is `Void`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Void,
    /// `encoding`: bit 0 signed, bit 1 char, bit 2 bool.
    Int {
        name: String,
        size: u32,
        encoding: u8,
        bit_offset: u8,
        bits: u8,
    },
    Ptr {
        type_id: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Union {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    /// ENUM and ENUM64 alike; `size` 1..8.
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
        is64: bool,
    },
    Fwd {
        name: String,
        is_union: bool,
    },
    Typedef {
        name: String,
        type_id: u32,
    },
    Volatile {
        type_id: u32,
    },
    Const {
        type_id: u32,
    },
    Restrict {
        type_id: u32,
    },
    TypeTag {
        name: String,
        type_id: u32,
    },
    /// `linkage`: 0 static, 1 global, 2 extern.
    Func {
        name: String,
        type_id: u32,
        linkage: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<Param>,
    },
    /// `linkage`: 0 static, 1 global (allocated), 2 extern.
    Var {
        name: String,
        type_id: u32,
        linkage: u32,
    },
    Datasec {
        name: String,
        size: u32,
        vars: Vec<VarSecInfo>,
    },
    Float {
        name: String,
        size: u32,
    },
    /// `component_idx` -1 for the type itself.
    DeclTag {
        name: String,
        type_id: u32,
        component_idx: i32,
    },
}

impl Type {
    /// An INT that fills its bytes (no bit offset), as C's integer types are.
    pub fn int(name: &str, size: u32, encoding: u8, bits: u8) -> Type {
        Type::Int {
            name: name.to_owned(),
            size,
            encoding,
            bit_offset: 0,
            bits,
        }
    }
}

/// A parsed BTF blob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Btf {
    /// Index = type id; `types[0]` is `Type::Void`.
    pub types: Vec<Type>,
    /// The string section as parsed. `encode()` keeps it as the prefix of the new one, so
    /// offsets into it (line_info's file and line) stay valid after re-encoding.
    pub strings: Vec<u8>,
}

/// A decoded value, for Python (`py/` turns it into objects).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i128),
    Bool(bool),
    Float(f64),
    /// A char array that is printable and NUL-terminated (bpftool's rule).
    Str(String),
    /// An enum value with a matching enumerator (its name), or the bare number.
    Enum {
        name: Option<String>,
        value: i128,
    },
    Array(Vec<Value>),
    /// Struct or union fields in declaration order (anonymous members keep "").
    Struct(Vec<(String, Value)>),
    /// Anything without a meaningful decoding (pointers, functions): raw bytes.
    Bytes(Vec<u8>),
}

/// One `.BTF.ext` func_info record. `insn_off` is in instructions (bytes / 8) once the
/// records belong to a `ProgramSpec`; in the raw section it is in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

/// One `.BTF.ext` line_info record (offsets into the BTF string table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub insn_off: u32,
    pub file_name_off: u32,
    pub line_off: u32,
    pub line_col: u32,
}

/// One `.BTF.ext` CO-RE relocation record (`struct bpf_core_relo`): the instruction at
/// `insn_off` holds a value about `type_id` reached through `access` ("0:1:2"), of `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    pub insn_off: u32,
    pub type_id: u32,
    pub access: String,
    pub kind: u32,
}

/// `.BTF.ext`: per-section func_info, line_info and CO-RE records, `insn_off` in bytes as
/// in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    pub func_info: Vec<(String, Vec<FuncInfo>)>,
    pub line_info: Vec<(String, Vec<LineInfo>)>,
    pub core_relos: Vec<(String, Vec<CoreRelo>)>,
}
