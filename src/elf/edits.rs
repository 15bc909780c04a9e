//! What a caller changes in a parsed object before it is loaded (libbpf's open/load split:
//! bpf_map__set_max_entries, bpf_program__set_autoload, a skeleton's writes to .rodata).
//! Pure: checked against the model, applied to it, no kernel involved.

use std::collections::HashMap;

use crate::error::{Error, Result};

use super::externs::KCONFIG_SEC;
use super::model::{MapOrigin, ObjectSpec};

/// Edits by name; every name must exist in the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecEdits {
    /// Section (".rodata", ".bss", ...) -> its new initial value, of the section's size.
    pub initial: HashMap<String, Vec<u8>>,
    /// Map -> field ("max_entries", "value_size", "key_size", "map_flags", "numa_node",
    /// "map_extra") -> value.
    pub maps: HashMap<String, HashMap<String, u64>>,
    /// Program -> loaded or not.
    pub autoload: HashMap<String, bool>,
    /// Program -> attach target (the BTF type of tp_btf/fentry/lsm/iter, the function of
    /// a kprobe), in place of what its section names.
    pub attach_target: HashMap<String, String>,
}

/// The map fields a caller may set before load.
pub const MAP_FIELDS: [&str; 6] = [
    "max_entries",
    "value_size",
    "key_size",
    "map_flags",
    "numa_node",
    "map_extra",
];

fn invalid(msg: String) -> Error {
    Error::Invalid(msg)
}

impl ObjectSpec {
    /// Applies `edits`, refusing unknown names, fields and sizes without changing anything.
    pub fn apply(&mut self, edits: &SpecEdits) -> Result<()> {
        if *edits == SpecEdits::default() {
            return Ok(());
        }
        let mut next = self.clone();
        for (section, value) in &edits.initial {
            if section == KCONFIG_SEC {
                return Err(invalid(format!(
                    "the {KCONFIG_SEC} map's value comes from the running kernel at load; \
                     it cannot be set"
                )));
            }
            let m = next
                .maps
                .iter_mut()
                .find(|m| m.section() == Some(section.as_str()))
                .ok_or_else(|| invalid(format!("the object has no data section {section}")))?;
            if value.len() != m.value_size as usize {
                return Err(invalid(format!(
                    "initial value of {section} must be {} bytes, got {}",
                    m.value_size,
                    value.len()
                )));
            }
            m.initial = Some(value.clone());
        }
        for (name, fields) in &edits.maps {
            let m = next
                .maps
                .iter_mut()
                .find(|m| &m.name == name)
                .ok_or_else(|| invalid(format!("the object has no map '{name}'")))?;
            for (field, &value) in fields {
                let small = || {
                    u32::try_from(value).map_err(|_| {
                        invalid(format!(
                            "map '{name}': {field} {value} does not fit 32 bits"
                        ))
                    })
                };
                let internal = !matches!(m.origin, MapOrigin::Btf | MapOrigin::Legacy);
                if internal && field != "map_flags" {
                    return Err(invalid(format!(
                        "map '{name}' holds a data section: its {field} follows the section"
                    )));
                }
                match field.as_str() {
                    "max_entries" => m.max_entries = small()?,
                    "value_size" => m.value_size = small()?,
                    "key_size" => m.key_size = small()?,
                    "map_flags" => m.flags = small()?,
                    "numa_node" => m.numa_node = small()?,
                    "map_extra" => m.map_extra = value,
                    other => {
                        return Err(invalid(format!(
                            "map '{name}' has no settable field '{other}' (one of {})",
                            MAP_FIELDS.join(", ")
                        )))
                    }
                }
            }
        }
        for (name, &on) in &edits.autoload {
            let p = next
                .programs
                .iter_mut()
                .find(|p| &p.name == name)
                .ok_or_else(|| invalid(format!("the object has no program '{name}'")))?;
            p.autoload = on;
        }
        for (name, target) in &edits.attach_target {
            let p = next
                .programs
                .iter_mut()
                .find(|p| &p.name == name)
                .ok_or_else(|| invalid(format!("the object has no program '{name}'")))?;
            p.attach_target = (!target.is_empty()).then(|| target.clone());
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> ObjectSpec {
        ObjectSpec::parse(include_bytes!("testdata/multi.o"), "multi").unwrap()
    }

    #[test]
    fn edits_apply_by_name_and_refuse_without_changing_anything() {
        let mut spec = object();
        let map = spec
            .maps
            .iter()
            .find(|m| m.origin == MapOrigin::Btf)
            .unwrap()
            .name
            .clone();
        let prog = spec.programs[0].name.clone();
        let mut e = SpecEdits::default();
        e.maps
            .entry(map.clone())
            .or_default()
            .insert("max_entries".into(), 77);
        e.autoload.insert(prog.clone(), false);
        e.attach_target.insert(prog.clone(), "elsewhere".into());
        spec.apply(&e).unwrap();
        let m = spec.maps.iter().find(|m| m.name == map).unwrap();
        assert_eq!(m.max_entries, 77);
        assert!(!spec.programs[0].autoload);
        assert_eq!(spec.programs[0].attach_target.as_deref(), Some("elsewhere"));

        let before = spec.clone();
        for bad in [
            {
                let mut e = SpecEdits::default();
                e.maps
                    .entry("nope".into())
                    .or_default()
                    .insert("max_entries".into(), 1);
                e
            },
            {
                let mut e = SpecEdits::default();
                e.maps
                    .entry(map.clone())
                    .or_default()
                    .insert("color".into(), 1);
                e
            },
            {
                let mut e = SpecEdits::default();
                e.maps
                    .entry(map.clone())
                    .or_default()
                    .insert("max_entries".into(), 1 << 40);
                e
            },
            {
                let mut e = SpecEdits::default();
                e.autoload.insert("nope".into(), true);
                e
            },
            {
                let mut e = SpecEdits::default();
                e.initial.insert(".rodata".into(), vec![0; 3]);
                e
            },
        ] {
            let mut s = before.clone();
            // A later valid edit in the same set must not be half applied.
            let mut bad = bad;
            bad.autoload.insert(prog.clone(), true);
            assert!(s.apply(&bad).is_err(), "{bad:?}");
            assert_eq!(s, before);
        }
    }
}
