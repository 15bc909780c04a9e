//! `map show` and `map dump` as Debian's bpftool 7.1 prints them, plain and `-j`: the
//! shape lines from map info and fdinfo, entries as hex bytes, and entries of maps with
//! BTF through the same value printer as `prog show` metadata.

use std::os::fd::BorrowedFd;

use super::{is_percpu, MapView};
use crate::btf::{json_escape_str, BpftoolVersion, DumpOptions};
use crate::error::Result;
use crate::scan::format::{joined, prog_type_name, type_json, type_label};
use crate::sys::{info, mapops};

/// libbpf 1.1's map type names, by number.
const MAP_TYPES: [&str; 33] = [
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
];

pub fn map_type_name(t: u32) -> Option<&'static str> {
    MAP_TYPES.get(t as usize).copied()
}

const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;

/// What `map show` prints of one map.
pub struct Shown {
    pub info: info::MapInfo,
    pub memlock: Option<u64>,
    pub frozen: Option<u64>,
    pub owner_prog_type: Option<u64>,
    pub owner_jited: Option<u64>,
}

/// What `map show` prints of the map `fd`, its info read into `reused`: bpftool reads
/// every map of a listing into one struct, and a kernel that keeps the fields it does
/// not fill (Linux 6.18 does; 6.12 zeroes them) shows the last map's BTF id for a map
/// without one. Reading the same way prints the same.
pub fn read_shown(fd: BorrowedFd<'_>, reused: &mut info::MapInfo) -> Result<Shown> {
    crate::sys::obj_info(fd, reused)?;
    let info = reused.clone();
    let prog_array = info.map_type == BPF_MAP_TYPE_PROG_ARRAY;
    Ok(Shown {
        memlock: info::fdinfo_memlock(fd),
        frozen: info::fdinfo_field(fd, "frozen:"),
        owner_prog_type: prog_array
            .then(|| info::fdinfo_field(fd, "owner_prog_type:"))
            .flatten(),
        owner_jited: prog_array
            .then(|| info::fdinfo_field(fd, "owner_jited:"))
            .flatten(),
        info,
    })
}

pub fn show_plain(s: &Shown, out: &mut String) {
    use std::fmt::Write;
    let i = &s.info;
    header_plain(i, out);
    let _ = write!(
        out,
        "\tkey {}B  value {}B  max_entries {}",
        i.key_size, i.value_size, i.max_entries
    );
    if let Some(m) = s.memlock {
        let _ = write!(out, "  memlock {m}B");
    }
    if let Some(t) = s.owner_prog_type {
        let name = prog_type_name(t as u32).map_or_else(|| t.to_string(), str::to_string);
        let _ = write!(out, "\n\towner_prog_type {name}  ");
    }
    if let Some(j) = s.owner_jited {
        out.push_str(if j != 0 {
            "owner jited"
        } else {
            "owner not jited"
        });
    }
    out.push('\n');
    let frozen = s.frozen.unwrap_or(0) != 0;
    if i.btf_id == 0 && !frozen {
        return;
    }
    out.push('\t');
    if i.btf_id != 0 {
        let _ = write!(out, "btf_id {}", i.btf_id);
    }
    if frozen {
        out.push_str(if i.btf_id != 0 { "  frozen" } else { "frozen" });
    }
    out.push('\n');
}

pub fn show_json(s: &Shown, out: &mut String) {
    use std::fmt::Write;
    let i = &s.info;
    header_json(i, out);
    let _ = write!(
        out,
        ",\"bytes_key\":{},\"bytes_value\":{},\"max_entries\":{}",
        i.key_size, i.value_size, i.max_entries
    );
    if let Some(m) = s.memlock {
        let _ = write!(out, ",\"bytes_memlock\":{m}");
    }
    if let Some(t) = s.owner_prog_type {
        out.push_str(",\"owner_prog_type\":");
        type_json(prog_type_name(t as u32), t, out);
    }
    if let Some(j) = s.owner_jited {
        let _ = write!(out, ",\"owner_jited\":{}", j != 0);
    }
    if let Some(f) = s.frozen {
        let _ = write!(out, ",\"frozen\":{f}");
    }
    if i.btf_id != 0 {
        let _ = write!(out, ",\"btf_id\":{}", i.btf_id);
    }
    out.push('}');
}

/// bpftool's fprint_hex: bytes as `%02x` separated by spaces, a double space every 8 and
/// a newline every 16.
fn hex_plain(data: &[u8], out: &mut String) {
    use std::fmt::Write;
    for (i, b) in data.iter().enumerate() {
        if i > 0 {
            if i % 16 == 0 {
                out.push('\n');
            } else if i % 8 == 0 {
                out.push_str("  ");
            } else {
                out.push(' ');
            }
        }
        let _ = write!(out, "{b:02x}");
    }
}

fn hex_json(data: &[u8], out: &mut String) {
    use std::fmt::Write;
    out.push('[');
    joined(out, data, ",", |out, b| {
        let _ = write!(out, "\"0x{b:02x}\"");
    });
    out.push(']');
}

/// glibc's strerror text, which bpftool prints for a failed lookup.
fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string it owns; copied
    // at once, before any other call could reuse its buffer on this thread.
    unsafe {
        let p = libc::strerror(errno);
        if p.is_null() {
            return format!("Unknown error {errno}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// What `map dump` printed, and the status bpftool would exit with.
pub struct Dump {
    pub text: String,
    pub status: i32,
}

/// One map's part of a dump: its entries as JSON (for `-j`, and plain dumps of maps with
/// BTF) or as plain lines, and how the walk ended.
struct Part {
    entries: Option<Vec<String>>,
    plain: String,
    count: u32,
    status: i32,
}

/// `map dump` of the maps `fds` (several when a name selects several): plain (maps with
/// BTF as btf_dumper's plain text, pretty-printed as json_writer does) or `-j` (`pretty`
/// for `-p`). Several maps get a header each, as bpftool 7.1 prints them.
pub fn dump(maps: &[(BorrowedFd<'_>, &MapView)], json: bool, pretty: bool) -> Result<Dump> {
    let many = maps.len() > 1;
    let mut docs: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut status = 0;
    let mut as_doc = json;
    for (i, (fd, view)) in maps.iter().enumerate() {
        let info = info::map_info(*fd)?;
        let part = dump_one(*fd, view, &info, json)?;
        match part.entries {
            Some(entries) => {
                as_doc = true;
                // Lines of failed lookups go straight to stdout, ahead of the JSON.
                text.push_str(&part.plain);
                let arr = format!("[{}]", entries.join(","));
                if many {
                    let mut head = String::new();
                    header_json(&info, &mut head);
                    docs.push(format!("{head},\"elements\":{arr}}}"));
                } else {
                    docs.push(arr);
                }
            }
            None => {
                if many {
                    header_plain(&info, &mut text);
                }
                text.push_str(&part.plain);
                let s = if part.count == 1 { "" } else { "s" };
                text.push_str(&format!("Found {} element{s}\n", part.count));
                if !json && i + 1 != maps.len() {
                    text.push('\n');
                }
            }
        }
        if part.status != 0 {
            status = part.status;
            break;
        }
    }
    if as_doc {
        let compact = if many {
            format!("[{}]", docs.join(","))
        } else {
            docs.concat()
        };
        let doc = if pretty || !json {
            crate::scan::format::pretty(&compact)
        } else {
            compact
        };
        text.push_str(&doc);
        text.push('\n');
    }
    Ok(Dump { text, status })
}

fn header_plain(i: &info::MapInfo, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{}: {}  ",
        i.id,
        type_label(map_type_name(i.map_type), i.map_type)
    );
    let name = info::name_str(&i.name);
    if !name.is_empty() {
        let _ = write!(out, "name {name}  ");
    }
    let _ = writeln!(out, "flags 0x{:x}", i.map_flags);
}

/// `{"id":..,"type":..,"name":..,"flags":..` (left open for the caller).
fn header_json(i: &info::MapInfo, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(out, "{{\"id\":{},\"type\":", i.id);
    type_json(map_type_name(i.map_type), i.map_type, out);
    let name = info::name_str(&i.name);
    if !name.is_empty() {
        out.push_str(",\"name\":");
        json_escape_str(name, out);
    }
    let _ = write!(out, ",\"flags\":{}", i.map_flags);
}

fn dump_one(fd: BorrowedFd<'_>, view: &MapView, info: &info::MapInfo, json: bool) -> Result<Part> {
    let btf = view.btf.as_deref();
    let plain_btf = !json && btf.is_some();
    let percpu = is_percpu(info.map_type);
    let mut entries: Vec<String> = Vec::new();
    let mut plain = String::new();
    let mut count = 0u32;
    let mut status = 0;
    let mut key = vec![0u8; view.key_size];
    let mut prev: Option<Vec<u8>> = None;
    let mut value = vec![0u8; view.value_len()];
    let opts = |plain| DumpOptions {
        plain,
        bpftool: BpftoolVersion::LATEST,
    };
    loop {
        match mapops::next_key(fd, prev.as_deref(), &mut key) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                status = (-e.errno().unwrap_or(libc::EINVAL)) & 0xff;
                break;
            }
        }
        prev = Some(key.clone());
        let looked = mapops::lookup(fd, &key, &mut value, 0).map_err(|e| e.errno().unwrap_or(0));
        let err = match looked {
            Ok(true) => None,
            Ok(false) => Some(libc::ENOENT),
            Err(errno) => Some(errno),
        };
        if let Some(errno) = err {
            let map_of = matches!(
                info.map_type,
                BPF_MAP_TYPE_PROG_ARRAY | BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS
            );
            if map_of && errno == libc::ENOENT {
                continue;
            }
            if json {
                let mut e = String::from("{\"key\":");
                hex_json(&key, &mut e);
                e.push_str(",\"value\":{\"error\":");
                json_escape_str(&strerror(errno), &mut e);
                e.push_str("}}");
                entries.push(e);
            } else {
                let msg = if errno == libc::ENOENT {
                    "<no entry>".to_string()
                } else {
                    strerror(errno)
                };
                let break_names = view.key_size > 16 || msg.len() > 16;
                let single = view.key_size + msg.len() <= 24 && !break_names;
                plain.push_str(if break_names { "key:\n" } else { "key: " });
                hex_plain(&key, &mut plain);
                plain.push_str(if single { "  " } else { "\n" });
                plain.push_str(if break_names { "value:\n" } else { "value: " });
                plain.push_str(&msg);
                plain.push('\n');
            }
            continue;
        }
        count += 1;
        let stride = view.stride();
        if json {
            let mut e = String::from("{\"key\":");
            hex_json(&key, &mut e);
            if percpu {
                e.push_str(",\"values\":[");
                for cpu in 0..view.ncpus {
                    if cpu > 0 {
                        e.push(',');
                    }
                    e.push_str(&format!("{{\"cpu\":{cpu},\"value\":"));
                    hex_json(&value[cpu * stride..cpu * stride + view.value_size], &mut e);
                    e.push('}');
                }
                e.push(']');
            } else {
                e.push_str(",\"value\":");
                hex_json(&value, &mut e);
                if matches!(
                    info.map_type,
                    BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS
                ) && value.len() >= 4
                {
                    let id = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                    e.push_str(&format!(",\"inner_map_id\":{id}"));
                }
            }
            if btf.is_some() {
                e.push_str(",\"formatted\":");
                btf_entry(view, &key, &value, opts(false), &mut e)?;
            }
            e.push('}');
            entries.push(e);
        } else if plain_btf {
            let mut e = String::new();
            btf_entry(view, &key, &value, opts(true), &mut e)?;
            entries.push(e);
        } else if !percpu {
            let break_names = view.key_size > 16 || view.value_size > 16;
            let single = view.key_size + view.value_size <= 24 && !break_names;
            plain.push_str(if break_names { "key:\n" } else { "key: " });
            hex_plain(&key, &mut plain);
            plain.push_str(if single { "  " } else { "\n" });
            plain.push_str(if break_names { "value:\n" } else { "value: " });
            hex_plain(&value, &mut plain);
            plain.push('\n');
        } else {
            plain.push_str("key:\n");
            hex_plain(&key, &mut plain);
            plain.push('\n');
            for cpu in 0..view.ncpus {
                let sep = if view.value_size > 16 { '\n' } else { ' ' };
                plain.push_str(&format!("value (CPU {cpu:02}):{sep}"));
                hex_plain(
                    &value[cpu * stride..cpu * stride + view.value_size],
                    &mut plain,
                );
                plain.push('\n');
            }
        }
    }
    Ok(Part {
        entries: (json || plain_btf).then_some(entries),
        plain,
        count,
        status,
    })
}

/// btf_dumper's key-value object (do_dump_btf): "key" (when the map has a key type),
/// then "value", or "values" with one {"cpu", "value"} per CPU.
fn btf_entry(
    view: &MapView,
    key: &[u8],
    value: &[u8],
    opts: DumpOptions,
    out: &mut String,
) -> Result<()> {
    let Some(btf) = view.btf.as_deref() else {
        return Ok(());
    };
    out.push('{');
    if view.key_type != 0 {
        out.push_str("\"key\":");
        btf.dump_value(view.key_type, key, opts, out)?;
        out.push(',');
    }
    if is_percpu(view.map_type) {
        out.push_str("\"values\":[");
        let stride = view.stride();
        for cpu in 0..view.ncpus {
            if cpu > 0 {
                out.push(',');
            }
            out.push_str(&format!("{{\"cpu\":{cpu},\"value\":"));
            btf.dump_value(view.value_type, &value[cpu * stride..], opts, out)?;
            out.push('}');
        }
        out.push(']');
    } else {
        out.push_str("\"value\":");
        btf.dump_value(view.value_type, value, opts, out)?;
    }
    out.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_as_fprint_hex() {
        let mut s = String::new();
        hex_plain(&(0u8..18).collect::<Vec<_>>(), &mut s);
        assert_eq!(s, "00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n10 11");
        let mut j = String::new();
        hex_json(&[0, 0xab], &mut j);
        assert_eq!(j, r#"["0x00","0xab"]"#);
        assert_eq!(map_type_name(27), Some("ringbuf"));
        assert_eq!(map_type_name(99), None);
    }
}
