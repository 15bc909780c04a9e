//! Who holds each program: the (pid, comm) of every process with an fd of it, as upstream
//! bpftool prints them (`pids NAME(PID)`), gathered once per scan.
//!
//! The fast way is a BPF task-file iterator: one program run over every fd of every
//! process, writing (tgid, program id, comm) for each fd that is a BPF program. bpftool's
//! iterator recognises such fds by comparing `file->f_op` with `&bpf_prog_fops`, an
//! address that only /proc/kallsyms gives (absent where the kernel keeps no data symbols,
//! hidden under kptr_restrict, and 5 MB to read); this one asks what /proc/PID/fd shows
//! instead: a file of the anonymous-inode filesystem whose dentry is named "bpf-prog",
//! which only the kernel's program fds are. Where the iterator cannot load (no BTF, no
//! task-file iterators, not allowed), /proc/*/fd and fdinfo give the same answer, slower
//! (the one difference: a thread that unshared its fd table is seen by the iterator only,
//! /proc/PID/fd being its main thread's). Both list each process once per program, in pid
//! order, by its tgid and its main thread's comm.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::iter::{self, word, FUNC_PROBE_READ_KERNEL, FUNC_SEQ_WRITE};
use crate::btf::{kind, BtfIndex};
use crate::error::{Error, Result};
use crate::sys;
use crate::sys::insn::*;

/// A process holding a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The process's command name (its main thread's), as the kernel keeps it.
    pub comm: String,
}

/// Where a table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Iterator,
    Procfs,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Iterator => "iterator",
            Method::Procfs => "procfs",
        }
    }
}

/// Which way to gather: the iterator where it loads, else /proc (`Auto`), or one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Auto,
    Iterator,
    Procfs,
}

/// The holders of every program held by some process, taken at one moment.
#[derive(Debug, Default)]
pub struct Holders {
    by_prog: HashMap<u32, Vec<Holder>>,
    pub method: Option<Method>,
    /// Why the iterator was not used, when /proc was.
    pub iterator_error: Option<Error>,
    /// The iterator program's own id (0 for /proc), which a scan must not report.
    pub prog_id: u32,
    /// When the table was taken.
    pub taken: Option<std::time::Instant>,
}

impl Holders {
    /// The processes holding program `id`, in pid order; empty when none does.
    pub fn get(&self, id: u32) -> &[Holder] {
        self.by_prog.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The ids of every program some process holds, in id order.
    pub fn prog_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.by_prog.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Records that `pid` holds program `id` (a process with many fds of it counts once).
    fn add(&mut self, id: u32, pid: u32, comm: impl FnOnce() -> String) {
        let list = self.by_prog.entry(id).or_default();
        if !list.iter().any(|h| h.pid == pid) {
            list.push(Holder { pid, comm: comm() });
        }
    }

    fn finish(&mut self) {
        for list in self.by_prog.values_mut() {
            list.sort_unstable_by_key(|h| h.pid);
        }
    }
}

/// The name of a command as the kernel stores it: up to its NUL.
pub fn comm_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Takes the table, the way `want` says. `BPFBIND_PIDS=procfs` makes `Auto` skip the
/// iterator.
pub fn gather(want: Want) -> Result<Holders> {
    let want = match want {
        Want::Auto if std::env::var_os("BPFBIND_PIDS").is_some_and(|v| v == "procfs") => {
            Want::Procfs
        }
        w => w,
    };
    let taken = Some(std::time::Instant::now());
    let mut iterator_error = None;
    if want != Want::Procfs {
        match by_iterator() {
            Ok(mut h) => {
                h.taken = taken;
                return Ok(h);
            }
            Err(e) if want == Want::Iterator => return Err(e),
            Err(e) => iterator_error = Some(e),
        }
    }
    let mut h = by_procfs()?;
    h.iterator_error = iterator_error;
    h.taken = taken;
    Ok(h)
}

fn by_procfs() -> Result<Holders> {
    let mut h = Holders {
        method: Some(Method::Procfs),
        ..Default::default()
    };
    let mut comms: HashMap<u32, String> = HashMap::new();
    sys::procfs::for_each_prog_fd(|pid, id| {
        h.add(id, pid, || {
            comms
                .entry(pid)
                .or_insert_with(|| {
                    sys::procfs::comm(pid).map_or_else(String::new, |c| comm_str(&c))
                })
                .clone()
        });
    })?;
    h.finish();
    Ok(h)
}

/// Where the program reads, from the kernel's BTF.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    attach_btf_id: u32,
    file_private_data: i16,
    file_inode: i16,
    /// `f_path.dentry`.
    file_dentry: i16,
    inode_sb: i16,
    sb_magic: i16,
    /// `d_name.len` and `d_name.name`.
    dentry_name_len: i16,
    dentry_name: i16,
    task_tgid: i16,
    task_group_leader: i16,
    task_comm: i16,
    prog_aux: i16,
    aux_id: i16,
}

pub(crate) fn layout_from(data: &[u8]) -> Result<Layout> {
    let idx = BtfIndex::new(data)?;
    let missing = |what: &str| {
        Error::unsupported(
            "the task-file iterator of program holders",
            format!("the kernel's BTF has no {what}"),
        )
    };
    let find = |name: &str| {
        idx.find(name, kind::STRUCT)
            .ok_or_else(|| missing(&format!("struct {name}")))
    };
    let attach_btf_id = idx
        .find("bpf_iter_task_file", kind::FUNC)
        .ok_or_else(|| missing("bpf_iter_task_file (no task-file iterator)"))?;
    let field = |s: u32, name: &str, size: u32, kinds: &[u32]| -> Result<i16> {
        iter::field_offset(&idx, s, name, size, kinds)
            .ok_or_else(|| missing(&format!("usable field '{name}'")))
    };
    let ptr = |s, name| field(s, name, 8, &[kind::PTR]);
    let (file, path, inode, sb) = (
        find("file")?,
        find("path")?,
        find("inode")?,
        find("super_block")?,
    );
    let (dentry, qstr, task) = (find("dentry")?, find("qstr")?, find("task_struct")?);
    let (prog, aux) = (find("bpf_prog")?, find("bpf_prog_aux")?);
    let sum = |a: i16, b: i16| {
        a.checked_add(b)
            .ok_or_else(|| missing("fields within reach of one instruction"))
    };
    let f_path = field(file, "f_path", 16, &[kind::STRUCT])?;
    let d_name = field(dentry, "d_name", 16, &[kind::STRUCT])?;
    Ok(Layout {
        attach_btf_id,
        file_private_data: ptr(file, "private_data")?,
        file_inode: ptr(file, "f_inode")?,
        file_dentry: sum(f_path, ptr(path, "dentry")?)?,
        inode_sb: ptr(inode, "i_sb")?,
        sb_magic: field(sb, "s_magic", 8, &[kind::INT])?,
        dentry_name_len: sum(d_name, field(qstr, "len", 4, &[kind::INT])?)?,
        dentry_name: sum(d_name, ptr(qstr, "name")?)?,
        task_tgid: field(task, "tgid", 4, &[kind::INT])?,
        task_group_leader: ptr(task, "group_leader")?,
        task_comm: field(task, "comm", COMM as u32, &[kind::ARRAY])?,
        prog_aux: ptr(prog, "aux")?,
        aux_id: field(aux, "id", 4, &[kind::INT])?,
    })
}

fn layout() -> Result<Layout> {
    static LAYOUT: OnceLock<Result<Layout>> = OnceLock::new();
    iter::kernel_layout(&LAYOUT, layout_from)
}

/// The anonymous-inode filesystem's magic (ANON_INODE_FS_MAGIC).
const ANON_INODE_FS_MAGIC: i32 = 0x0904_1934;
/// "bpf-prog", the dentry name of a program's fd, as a little-endian word.
const PROG_DENTRY: &[u8; 8] = b"bpf-prog";
const COMM: usize = 16;
/// A record: tgid, program id, comm.
const RECORD: usize = 8 + COMM;
/// The record's place on the stack, and a scratch word below it.
const REC: i16 = -(RECORD as i16);
const TMP: i16 = REC - 8;

/// The iterator program: per (task, file), a record for a file that is a program's fd.
pub(crate) fn program(l: &Layout) -> Vec<u64> {
    const TO_EXIT: i16 = i16::MIN;
    let name = u64::from_le_bytes(*PROG_DENTRY);
    // r1 = fp + at; r2 = len; r3 (set before) = source; call probe_read_kernel.
    let read = |at: i16, len: i32| {
        [
            insn(MOV_X, 1, 10, 0, 0),
            insn(ADD_K, 1, 0, 0, i32::from(at)),
            insn(MOV_K, 2, 0, 0, len),
            insn(CALL, 0, 0, 0, FUNC_PROBE_READ_KERNEL),
            insn(JNE_K, 0, 0, TO_EXIT, 0),
        ]
    };
    let mut p = vec![
        insn(LDX_DW, 6, 1, 0, 0),  // r6 = ctx->meta
        insn(LDX_DW, 7, 1, 8, 0),  // r7 = ctx->task
        insn(LDX_DW, 8, 1, 24, 0), // r8 = ctx->file
        insn(JEQ_K, 7, 0, TO_EXIT, 0),
        insn(JEQ_K, 8, 0, TO_EXIT, 0),
        // file->f_inode->i_sb->s_magic: an anonymous inode
        insn(LDX_DW, 2, 8, l.file_inode, 0),
        insn(JEQ_K, 2, 0, TO_EXIT, 0),
        insn(LDX_DW, 2, 2, l.inode_sb, 0),
        insn(JEQ_K, 2, 0, TO_EXIT, 0),
        insn(LDX_DW, 2, 2, l.sb_magic, 0),
        insn(JNE_K, 2, 0, TO_EXIT, ANON_INODE_FS_MAGIC),
        // file->f_path.dentry->d_name: "bpf-prog"
        insn(LDX_DW, 2, 8, l.file_dentry, 0),
        insn(JEQ_K, 2, 0, TO_EXIT, 0),
        insn(LDX_W, 3, 2, l.dentry_name_len, 0),
        insn(JNE_K, 3, 0, TO_EXIT, PROG_DENTRY.len() as i32),
        insn(LDX_DW, 3, 2, l.dentry_name, 0),
    ];
    p.extend(read(TMP, 8));
    p.extend([
        insn(LDX_DW, 2, 10, TMP, 0),
        insn(LD_IMM64, 3, 0, 0, name as u32 as i32),
        insn(0, 0, 0, 0, (name >> 32) as u32 as i32),
        insn(JNE_X, 2, 3, TO_EXIT, 0),
        // ((struct bpf_prog *)file->private_data)->aux->id
        insn(LDX_DW, 3, 8, l.file_private_data, 0),
        insn(JEQ_K, 3, 0, TO_EXIT, 0),
        insn(ADD_K, 3, 0, 0, i32::from(l.prog_aux)),
    ]);
    p.extend(read(TMP, 8));
    p.extend([
        insn(LDX_DW, 3, 10, TMP, 0),
        insn(JEQ_K, 3, 0, TO_EXIT, 0),
        insn(ADD_K, 3, 0, 0, i32::from(l.aux_id)),
    ]);
    p.extend(read(REC + 4, 4));
    p.extend([
        insn(LDX_W, 2, 7, l.task_tgid, 0),
        insn(STX_W, 10, 2, REC, 0),
        // The process's name: its main thread's comm, as bpftool and /proc show it.
        insn(LDX_DW, 2, 7, l.task_group_leader, 0),
        insn(LDX_DW, 3, 2, l.task_comm, 0),
        insn(STX_DW, 10, 3, REC + 8, 0),
        insn(LDX_DW, 3, 2, l.task_comm + 8, 0),
        insn(STX_DW, 10, 3, REC + 16, 0),
        insn(LDX_DW, 1, 6, 0, 0), // r1 = meta->seq
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, i32::from(REC)),
        insn(MOV_K, 3, 0, 0, RECORD as i32),
        insn(CALL, 0, 0, 0, FUNC_SEQ_WRITE),
    ]);
    let exit = p.len();
    p.extend(RET0);
    iter::resolve_jumps(&mut p, &[(TO_EXIT, exit)]);
    p
}

/// Adds the whole records of `buf` to `out`, except those of program `own`; returns the
/// bytes used.
pub(crate) fn parse_into(out: &mut Holders, buf: &[u8], own: u32) -> usize {
    let mut used = 0;
    for rec in buf.chunks_exact(RECORD) {
        let (pid, id) = (word(rec, 0), word(rec, 4));
        if id != own && id != 0 {
            out.add(id, pid, || comm_str(&rec[8..]));
        }
        used += RECORD;
    }
    used
}

const WHAT: &str = "the scan's program holders";

fn by_iterator() -> Result<Holders> {
    let l = layout()?;
    let mut h = Holders {
        method: Some(Method::Iterator),
        ..Default::default()
    };
    h.prog_id = iter::run(
        "bpfbind_pids",
        l.attach_btf_id,
        &program(&l),
        WHAT,
        |own, buf| Ok(Some(parse_into(&mut h, buf, own))),
    )?;
    h.finish();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u32, id: u32, comm: &str) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(pid.to_ne_bytes());
        r.extend(id.to_ne_bytes());
        let mut c = [0u8; COMM];
        c[..comm.len()].copy_from_slice(comm.as_bytes());
        r.extend(c);
        r
    }

    #[test]
    fn parses_records_once_per_process_in_pid_order() {
        let mut data = Vec::new();
        data.extend(record(40, 7, "later"));
        data.extend(record(12, 7, "first"));
        data.extend(record(12, 7, "first")); // a second fd of the same process
        data.extend(record(12, 9, "first"));
        data.extend(record(12, 3, "own")); // the iterator program itself
        let cut = record(50, 9, "cut");
        data.extend(&cut[..10]);
        let mut h = Holders::default();
        let used = parse_into(&mut h, &data, 3);
        assert_eq!(
            used,
            data.len() - 10,
            "a partial record waits for more bytes"
        );
        h.finish();
        let pids = |id| {
            h.get(id)
                .iter()
                .map(|x| (x.pid, x.comm.as_str()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(7), [(12, "first"), (40, "later")]);
        assert_eq!(pids(9), [(12, "first")]);
        assert!(h.get(3).is_empty());
        assert_eq!(h.prog_ids(), [7, 9]);
    }

    /// A kernel BTF with what the program reads, shaped as Linux 6.18 has it: `f_path`
    /// and `d_name` in anonymous unions, `qstr.len` in an anonymous struct in one.
    fn kernel_btf(with_iterator: bool) -> Vec<u8> {
        use crate::btf::testutil::RawBtf;
        let mut b = RawBtf::new();
        let u32_ = b.int("unsigned int", 4, 0, 32);
        let u64_ = b.int("long unsigned int", 8, 0, 64);
        let int = b.int("int", 4, 1, 32);
        let ch = b.int("char", 1, 1, 8);
        let vp = b.ptr(0);
        if with_iterator {
            let proto = b.ty("", kind::FUNC_PROTO, false, 0, int, &[]);
            b.ty("bpf_iter_task_file", kind::FUNC, false, 0, proto, &[]);
        }
        let path = b.strukt("path", 16, &[("mnt", vp, 0), ("dentry", vp, 64)]);
        let cpath = b.refer(kind::CONST, "", path);
        let fu = b.union("", 16, &[("f_path", cpath, 0), ("__f_path", path, 0)]);
        b.strukt(
            "file",
            40,
            &[
                ("f_op", vp, 0),
                ("private_data", vp, 64),
                ("f_inode", vp, 128),
                ("", fu, 192),
            ],
        );
        b.strukt("inode", 48, &[("i_sb", vp, 320)]);
        b.strukt("super_block", 104, &[("s_magic", u64_, 768)]);
        let hl = b.strukt("", 8, &[("hash", u32_, 0), ("len", u32_, 32)]);
        let qu = b.union("", 8, &[("", hl, 0), ("hash_len", u64_, 0)]);
        let qstr = b.strukt("qstr", 16, &[("", qu, 0), ("name", vp, 64)]);
        let cq = b.refer(kind::CONST, "", qstr);
        let du = b.union("", 16, &[("d_name", cq, 0), ("__d_name", qstr, 0)]);
        b.strukt("dentry", 48, &[("d_flags", u32_, 0), ("", du, 256)]);
        let pid_t = b.refer(kind::TYPEDEF, "pid_t", int);
        let comm = b.array(ch, u32_, 16);
        b.strukt(
            "task_struct",
            4000,
            &[
                ("tgid", pid_t, 16000),
                ("group_leader", vp, 16800),
                ("comm", comm, 24000),
            ],
        );
        b.strukt("bpf_prog", 64, &[("aux", vp, 448)]);
        b.strukt("bpf_prog_aux", 32, &[("id", u32_, 224)]);
        b.bytes()
    }

    #[test]
    fn layout_reaches_into_anonymous_members() {
        let l = layout_from(&kernel_btf(true)).unwrap();
        assert_eq!(
            (l.file_private_data, l.file_inode, l.file_dentry),
            (8, 16, 32)
        );
        assert_eq!((l.inode_sb, l.sb_magic), (40, 96));
        assert_eq!((l.dentry_name_len, l.dentry_name), (36, 40));
        assert_eq!(
            (l.task_tgid, l.task_group_leader, l.task_comm),
            (2000, 2100, 3000)
        );
        assert_eq!((l.prog_aux, l.aux_id), (56, 28));
    }

    #[test]
    fn a_kernel_without_the_iterator_is_an_unsupported_feature() {
        let err = layout_from(&kernel_btf(false)).unwrap_err();
        assert!(
            matches!(&err, Error::Unsupported { detail, .. } if detail.contains("bpf_iter_task_file")),
            "{err:?}"
        );
        assert!(layout_from(&[]).is_err());
    }

    #[test]
    fn comm_without_nul_and_with_bad_utf8() {
        assert_eq!(comm_str(b"abcdefghijklmnop"), "abcdefghijklmnop");
        assert_eq!(comm_str(b"a\xffb\0junk"), "a\u{fffd}b");
    }

    #[test]
    fn jumps_land_on_exit() {
        let l = Layout {
            attach_btf_id: 1,
            file_private_data: 32,
            file_inode: 40,
            file_dentry: 160,
            inode_sb: 40,
            sb_magic: 96,
            dentry_name_len: 36,
            dentry_name: 40,
            task_tgid: 2000,
            task_group_leader: 2100,
            task_comm: 3000,
            prog_aux: 56,
            aux_id: 28,
        };
        let p = program(&l);
        let exit = p.len() - 2;
        assert_eq!(p[exit - 1] as u8, CALL);
        for (i, ins) in p.iter().enumerate() {
            if matches!(*ins as u8, JEQ_K | JNE_K | JNE_X) {
                let off = (*ins >> 16) as u16 as i16;
                assert_eq!((i as i64 + 1 + off as i64) as usize, exit, "jump {i}");
            }
        }
        // The name compared is "bpf-prog", split over ld_imm64's two halves.
        let at = p.iter().position(|&i| i as u8 == LD_IMM64).unwrap();
        let lo = (p[at] >> 32) as u32 as u64;
        let hi = (p[at + 1] >> 32) as u32 as u64;
        assert_eq!((lo | hi << 32).to_le_bytes(), *PROG_DENTRY);
    }
}
