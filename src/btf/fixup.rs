//! The DATASEC fix-ups a loader owes the kernel: clang writes section sizes and global VAR
//! offsets as 0 in object files, and the kernel wants them real and sorted.

use super::lookup::type_err;
use super::types::{Btf, Type};
use crate::error::Result;

/// VAR linkage values (BTF_VAR_*).
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_EXTERN: u32 = 2;

impl Btf {
    /// Fills each DATASEC's size from `section_size(name)` and each VAR's offset from
    /// `symbol_offset(section, var)`, fills VarSecInfo sizes left at 0 from the VAR's type,
    /// and sorts every DATASEC's vars by offset.
    ///
    /// A DATASEC without an ELF section (the extern-backed `.kconfig`, `.ksyms`) keeps its
    /// size and offsets; static and extern VARs without a symbol keep their offset (clang
    /// already writes static offsets, and externs have no storage). A global VAR without a
    /// symbol is an error, as it is for libbpf.
    pub fn fixup_datasecs(
        &mut self,
        section_size: &dyn Fn(&str) -> Option<u32>,
        symbol_offset: &dyn Fn(&str, &str) -> Option<u32>,
    ) -> Result<()> {
        for id in 0..self.types.len() {
            let Some(Type::Datasec { name, vars, .. }) = self.types.get(id) else {
                continue;
            };
            let sec = name.clone();
            let mut vars = vars.clone();
            let new_size = section_size(&sec);
            if new_size.is_some() {
                for v in vars.iter_mut() {
                    self.fix_var(id, &sec, v, symbol_offset)?;
                }
            }
            // The kernel requires increasing offsets; a stable sort keeps clang's order
            // among equal offsets (zero-sized vars).
            vars.sort_by_key(|v| v.offset);
            if let Some(Type::Datasec {
                size, vars: slot, ..
            }) = self.types.get_mut(id)
            {
                if let Some(s) = new_size {
                    *size = s;
                }
                *slot = vars;
            }
        }
        Ok(())
    }

    fn fix_var(
        &self,
        sec_id: usize,
        sec: &str,
        v: &mut super::types::VarSecInfo,
        symbol_offset: &dyn Fn(&str, &str) -> Option<u32>,
    ) -> Result<()> {
        let Some(Type::Var {
            name,
            type_id,
            linkage,
        }) = self.type_by_id(v.type_id)
        else {
            return Err(type_err(
                sec_id as u32,
                format!("DATASEC '{sec}' holds type [{}], not a VAR", v.type_id),
            ));
        };
        match symbol_offset(sec, name) {
            Some(off) => v.offset = off,
            None if *linkage == LINKAGE_STATIC || *linkage == LINKAGE_EXTERN => {}
            None => {
                return Err(type_err(
                    v.type_id,
                    format!("no ELF symbol for global VAR '{name}' of section '{sec}'"),
                ))
            }
        }
        if v.size == 0 {
            v.size = self.size_of(*type_id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::RawBtf;
    use super::super::types::VarSecInfo;
    use super::*;
    use crate::error::Error;

    /// .data holds a global `a` (offset unknown), a static `b` (clang wrote 8) and a
    /// global `c` of size 0 in the record; .kconfig holds an extern.
    fn blob() -> Btf {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32); // 1
        let a = b.var("a", int, 1); // 2
        let s = b.var("b", int, 0); // 3
        let c = b.var("c", int, 1); // 4
        let hz = b.var("CONFIG_HZ", int, 2); // 5
        b.datasec(".data", 0, &[(a, 0, 4), (s, 8, 4), (c, 0, 0)]); // 6
        b.datasec(".kconfig", 0, &[(hz, 0, 4)]); // 7
        Btf::parse(&b.bytes()).unwrap()
    }

    fn vars(btf: &Btf, id: usize) -> (u32, Vec<VarSecInfo>) {
        match &btf.types[id] {
            Type::Datasec { size, vars, .. } => (*size, vars.clone()),
            t => panic!("{t:?}"),
        }
    }

    fn vsi(type_id: u32, offset: u32, size: u32) -> VarSecInfo {
        VarSecInfo {
            type_id,
            offset,
            size,
        }
    }

    #[test]
    fn fills_sizes_and_offsets_and_sorts() {
        let mut btf = blob();
        let kconfig_before = btf.types[7].clone();
        btf.fixup_datasecs(&|sec| (sec == ".data").then_some(32), &|sec, var| {
            assert_eq!(sec, ".data");
            match var {
                "a" => Some(16),
                "c" => Some(12),
                _ => None,
            }
        })
        .unwrap();
        let (size, v) = vars(&btf, 6);
        assert_eq!(size, 32);
        assert_eq!(v, vec![vsi(3, 8, 4), vsi(4, 12, 4), vsi(2, 16, 4)]);
        assert_eq!(btf.types[7], kconfig_before);
        // The result is what the kernel wants and survives encoding.
        assert_eq!(Btf::parse(&btf.encode()).unwrap(), btf);
    }

    #[test]
    fn a_global_without_a_symbol_is_an_error() {
        let mut btf = blob();
        let err = btf
            .fixup_datasecs(&|_| Some(32), &|_, var| (var == "a").then_some(0))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Format { msg, .. } if msg.contains("'c'")),
            "{err}"
        );
    }

    #[test]
    fn a_static_symbol_wins_over_what_clang_wrote() {
        let mut btf = blob();
        btf.fixup_datasecs(&|_| Some(64), &|_, var| match var {
            "a" => Some(0),
            "b" => Some(40),
            _ => Some(4),
        })
        .unwrap();
        assert_eq!(
            vars(&btf, 6).1,
            vec![vsi(2, 0, 4), vsi(4, 4, 4), vsi(3, 40, 4)]
        );
    }

    #[test]
    fn non_var_entries_are_errors_not_panics() {
        let mut btf = blob();
        let Type::Datasec { vars, .. } = &mut btf.types[6] else {
            panic!()
        };
        vars[0].type_id = 1;
        assert!(btf.fixup_datasecs(&|_| Some(8), &|_, _| Some(0)).is_err());
        vars_out_of_range();
    }

    fn vars_out_of_range() {
        let mut btf = blob();
        let Type::Datasec { vars, .. } = &mut btf.types[6] else {
            panic!()
        };
        vars[0].type_id = 1000;
        assert!(btf.fixup_datasecs(&|_| Some(8), &|_, _| Some(0)).is_err());
    }
}
