//! Loads for event loops: a job runs on a small pool of native threads and signals an
//! eventfd the loop waits on (no Python thread, no GIL hand-offs); a job whose caller was
//! cancelled drops its result, which closes every fd, the moment it is done.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use pyo3::prelude::*;

use crate::error::{Error, Result};
use crate::load::LoadedObject;

use super::load::PyLoadOptions;
use super::objects::{wrap, PyObject_};

type Task = Box<dyn FnOnce() + Send>;

/// A fixed pool, one thread per CPU: loads are CPU-bound in the verifier.
struct Pool {
    queue: Mutex<VecDeque<Task>>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for i in 0..n {
            let _ = std::thread::Builder::new()
                .name(format!("bpfbind-load-{i}"))
                .spawn(move || loop {
                    let task = {
                        let mut q = pool.queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            match q.pop_front() {
                                Some(t) => break t,
                                None => q = pool.ready.wait(q).unwrap_or_else(|e| e.into_inner()),
                            }
                        }
                    };
                    task();
                });
        }
        pool
    })
}

fn submit(task: Task) {
    let p = pool();
    p.queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(task);
    p.ready.notify_one();
}

enum State {
    Running,
    Done(Result<LoadedObject>),
    /// The result went to the caller, or the caller gave up on it.
    Finished,
    Cancelled,
}

struct Shared {
    state: Mutex<State>,
    /// Closed as soon as the result is taken or given up, so an exception that keeps
    /// the job alive in a traceback keeps no fd open.
    event: Mutex<Option<OwnedFd>>,
}

impl Shared {
    fn close_event(&self) {
        self.event.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// A load in progress. `fileno()` becomes readable when it is done; `result()` then gives
/// the Object or raises its error; `cancel()` (or dropping the job) disposes of the result.
#[pyclass(frozen, module = "bpfbind._native", name = "LoadJob")]
pub struct PyLoadJob {
    shared: Arc<Shared>,
}

fn eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return Err(Error::sys(
            "eventfd",
            errno,
            "signalling a load's completion",
        ));
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to our eventfd.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

impl PyLoadJob {
    fn dispose(&self) {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *st, State::Finished) {
            State::Running => *st = State::Cancelled,
            // Dropped here: the loaded object's fds close.
            State::Done(_) | State::Finished | State::Cancelled => {}
        }
        drop(st);
        self.shared.close_event();
    }
}

#[pymethods]
impl PyLoadJob {
    /// An eventfd, readable once the load is done (for `anyio.wait_readable`).
    fn fileno(&self) -> PyResult<i32> {
        let ev = self.shared.event.lock().unwrap_or_else(|e| e.into_inner());
        ev.as_ref()
            .map(|fd| fd.as_raw_fd())
            .ok_or_else(|| Error::Invalid("this load is over".into()).into())
    }

    /// The loaded Object, or the load's error. Only once.
    fn result(&self, py: Python<'_>) -> PyResult<PyObject_> {
        let taken = {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*st, State::Done(_)) {
                self.shared.close_event();
            }
            match std::mem::replace(&mut *st, State::Finished) {
                State::Done(r) => r,
                State::Running => {
                    *st = State::Running;
                    return Err(Error::Invalid("the load is still running".into()).into());
                }
                State::Finished | State::Cancelled => {
                    return Err(
                        Error::Invalid("this load's result was already taken".into()).into(),
                    )
                }
            }
        };
        wrap(py, taken?)
    }

    /// The caller no longer wants the result: it is closed now, or when the load ends.
    fn cancel(&self) {
        self.dispose();
    }
}

impl Drop for PyLoadJob {
    fn drop(&mut self) {
        self.dispose();
    }
}

/// Starts the load `options` names on the native pool.
#[pyfunction]
pub fn start_load(options: &Bound<'_, PyLoadOptions>) -> PyResult<PyLoadJob> {
    let request = options.get().request.clone();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::Running),
        event: Mutex::new(Some(eventfd()?)),
    });
    let worker = shared.clone();
    submit(Box::new(move || {
        let result = request.run();
        let mut st = worker.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*st, State::Running) {
            *st = State::Done(result);
        }
        // Cancelled: `result` drops here, closing what the load created.
        drop(st);
        if let Some(ev) = worker
            .event
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            signal(ev);
        }
    }));
    Ok(PyLoadJob { shared })
}
