//! A backfill chunk's PostgreSQL statements run through libpq without the GIL.
//!
//! Through psycopg, every statement gives the interpreter lock up while it waits for the server
//! and has to win it back after: beside the busy writer and decode threads each win waits up to
//! a switch interval (a 1 MB ``COPY`` of events took 7.5-9.9 ms alone and 24-28 ms beside one busy
//! Python thread; a 3-row ``INSERT`` 0.34 ms and 3.2 ms). Here the chunk's statements run one after
//! the other on the connection psycopg opened (its ``PGconn``, with the functions of the libpq
//! psycopg loaded), in one release of the lock.
//!
//! Each statement is one of: a command, a ``COPY ... FROM STDIN`` with its data (COPY text
//! format), or a command with text parameters. The first that fails stops the run: its SQLSTATE
//! and message are returned and the connection is left as psycopg leaves it after a failed
//! statement (the transaction aborted, no result pending).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::ffi::{c_char, c_int, c_void, CStr, CString};

type Conn = c_void;
type Res = c_void;

// ExecStatusType values (libpq-fe.h)
const PGRES_COMMAND_OK: c_int = 1;
const PGRES_TUPLES_OK: c_int = 2;
const PGRES_COPY_IN: c_int = 4;
// PQresultErrorField code of the SQLSTATE
const PG_DIAG_SQLSTATE: c_int = b'C' as c_int;

/// The libpq functions used here, in the order Python passes their addresses.
struct Libpq {
    exec: unsafe extern "C" fn(*mut Conn, *const c_char) -> *mut Res,
    exec_params: unsafe extern "C" fn(
        *mut Conn,
        *const c_char,
        c_int,
        *const u32,
        *const *const c_char,
        *const c_int,
        *const c_int,
        c_int,
    ) -> *mut Res,
    put_copy_data: unsafe extern "C" fn(*mut Conn, *const c_char, c_int) -> c_int,
    put_copy_end: unsafe extern "C" fn(*mut Conn, *const c_char) -> c_int,
    get_result: unsafe extern "C" fn(*mut Conn) -> *mut Res,
    result_status: unsafe extern "C" fn(*const Res) -> c_int,
    result_error_field: unsafe extern "C" fn(*const Res, c_int) -> *const c_char,
    result_error_message: unsafe extern "C" fn(*const Res) -> *const c_char,
    error_message: unsafe extern "C" fn(*const Conn) -> *const c_char,
    clear: unsafe extern "C" fn(*mut Res),
    set_nonblocking: unsafe extern "C" fn(*mut Conn, c_int) -> c_int,
    is_nonblocking: unsafe extern "C" fn(*const Conn) -> c_int,
}

/// The names of [`Libpq`]'s functions, in the order of their addresses.
pub const FUNCTIONS: [&str; 12] = [
    "PQexec",
    "PQexecParams",
    "PQputCopyData",
    "PQputCopyEnd",
    "PQgetResult",
    "PQresultStatus",
    "PQresultErrorField",
    "PQresultErrorMessage",
    "PQerrorMessage",
    "PQclear",
    "PQsetnonblocking",
    "PQisnonblocking",
];

impl Libpq {
    fn from_addresses(a: &[usize]) -> PyResult<Self> {
        if a.len() != FUNCTIONS.len() || a.contains(&0) {
            return Err(PyValueError::new_err(format!("{} nonzero libpq function addresses expected", FUNCTIONS.len())));
        }
        // SAFETY: the caller (gateway/indexer/native.py) passes the addresses of these libpq
        // functions, by name, from the library psycopg's connection was opened with.
        unsafe {
            Ok(Libpq {
                exec: std::mem::transmute::<usize, _>(a[0]),
                exec_params: std::mem::transmute::<usize, _>(a[1]),
                put_copy_data: std::mem::transmute::<usize, _>(a[2]),
                put_copy_end: std::mem::transmute::<usize, _>(a[3]),
                get_result: std::mem::transmute::<usize, _>(a[4]),
                result_status: std::mem::transmute::<usize, _>(a[5]),
                result_error_field: std::mem::transmute::<usize, _>(a[6]),
                result_error_message: std::mem::transmute::<usize, _>(a[7]),
                error_message: std::mem::transmute::<usize, _>(a[8]),
                clear: std::mem::transmute::<usize, _>(a[9]),
                set_nonblocking: std::mem::transmute::<usize, _>(a[10]),
                is_nonblocking: std::mem::transmute::<usize, _>(a[11]),
            })
        }
    }
}

enum Op<'a> {
    Command(CString),
    Copy(CString, &'a [u8]),
    Params(CString, Vec<Option<CString>>),
}

/// A failed statement: (its index, SQLSTATE or "", the server's or libpq's message).
type Failure = (usize, String, String);

fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: libpq returns NUL-terminated strings that live as long as the result or conn
        unsafe { CStr::from_ptr(p) }.to_string_lossy().trim_end().to_string()
    }
}

struct Run<'l> {
    pq: &'l Libpq,
    conn: *mut Conn,
}

impl Run<'_> {
    /// The status of ``res`` if it is ``want``; else the failure (``res`` is cleared either way).
    unsafe fn check(&self, res: *mut Res, want: c_int) -> Result<(), (String, String)> {
        if res.is_null() {
            return Err((String::new(), text((self.pq.error_message)(self.conn))));
        }
        let status = (self.pq.result_status)(res);
        let out = if status == want {
            Ok(())
        } else {
            let mut message = text((self.pq.result_error_message)(res));
            if message.is_empty() {
                message = format!("unexpected result status {status}");
            }
            Err((text((self.pq.result_error_field)(res, PG_DIAG_SQLSTATE)), message))
        };
        (self.pq.clear)(res);
        out
    }

    /// The results after a statement's first, until none is left; the first failure among them.
    unsafe fn drain(&self) -> Result<(), (String, String)> {
        let mut out = Ok(());
        loop {
            let res = (self.pq.get_result)(self.conn);
            if res.is_null() {
                return out;
            }
            let r = self.check(res, PGRES_COMMAND_OK);
            if out.is_ok() {
                out = r;
            }
        }
    }

    unsafe fn one(&self, op: &Op) -> Result<(), (String, String)> {
        match op {
            Op::Command(sql) => {
                let res = (self.pq.exec)(self.conn, sql.as_ptr());
                if !res.is_null() && (self.pq.result_status)(res) == PGRES_TUPLES_OK {
                    (self.pq.clear)(res);
                    return Ok(());
                }
                self.check(res, PGRES_COMMAND_OK)
            }
            Op::Params(sql, params) => {
                let values: Vec<*const c_char> =
                    params.iter().map(|p| p.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())).collect();
                let res = (self.pq.exec_params)(
                    self.conn,
                    sql.as_ptr(),
                    values.len() as c_int,
                    std::ptr::null(),
                    values.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    0,
                );
                self.check(res, PGRES_COMMAND_OK)
            }
            Op::Copy(sql, data) => {
                let res = (self.pq.exec)(self.conn, sql.as_ptr());
                self.check(res, PGRES_COPY_IN)?;
                let mut sent: Result<(), (String, String)> = Ok(());
                for piece in data.chunks(1 << 20) {
                    if (self.pq.put_copy_data)(self.conn, piece.as_ptr() as *const c_char, piece.len() as c_int) != 1 {
                        sent = Err((String::new(), text((self.pq.error_message)(self.conn))));
                        break;
                    }
                }
                let abort = CString::new("the data could not be sent").unwrap();
                let end = if sent.is_ok() { std::ptr::null() } else { abort.as_ptr() };
                if (self.pq.put_copy_end)(self.conn, end) != 1 && sent.is_ok() {
                    sent = Err((String::new(), text((self.pq.error_message)(self.conn))));
                }
                let drained = self.drain();
                sent.and(drained)
            }
        }
    }
}

/// Run ``ops`` in order on the libpq connection ``conn`` (psycopg's ``PGconn.pgconn_ptr``), with
/// ``functions`` the addresses of libpq's [`FUNCTIONS`], without the GIL. An op is
/// ``(0, sql)``: a command; ``(1, sql, data)``: ``COPY ... FROM STDIN`` of ``data`` (bytes, COPY
/// text format); ``(2, sql, params)``: a command with ``$n`` text parameters (a list of bytes or
/// None). Returns None when all succeeded, else ``(index, sqlstate, message)`` of the first
/// that failed (the rest are not run). The connection is switched to blocking mode for the run
/// and back.
#[pyfunction]
pub fn pg_run<'py>(
    py: Python<'py>,
    functions: Vec<usize>,
    conn: usize,
    ops: &Bound<'py, PyList>,
) -> PyResult<Option<Failure>> {
    let pq = Libpq::from_addresses(&functions)?;
    if conn == 0 {
        return Err(PyValueError::new_err("no libpq connection"));
    }
    let cstring = |b: &[u8]| CString::new(b).map_err(|_| PyValueError::new_err("a NUL byte in a statement or parameter"));
    let items: Vec<Bound<'py, PyTuple>> = ops.iter().map(|o| o.cast_into::<PyTuple>()).collect::<Result<_, _>>()?;
    let mut plan: Vec<Op> = Vec::with_capacity(items.len());
    for item in &items {
        let kind: u8 = item.get_item(0)?.extract()?;
        let sql = cstring(item.get_item(1)?.cast::<PyBytes>()?.as_bytes())?;
        plan.push(match kind {
            0 => Op::Command(sql),
            1 => {
                let data = item.get_item(2)?.cast_into::<PyBytes>()?;
                let data = data.as_bytes();
                // SAFETY: the bytes object is immutable and held by its tuple, which `items`
                // holds until this function returns, after the run
                Op::Copy(sql, unsafe { std::slice::from_raw_parts(data.as_ptr(), data.len()) })
            }
            2 => {
                let params = item.get_item(2)?;
                let params = params.cast::<PyList>()?;
                let mut values = Vec::with_capacity(params.len());
                for p in params.iter() {
                    values.push(if p.is_none() { None } else { Some(cstring(p.cast::<PyBytes>()?.as_bytes())?) });
                }
                Op::Params(sql, values)
            }
            k => return Err(PyValueError::new_err(format!("unknown statement kind {k}"))),
        });
    }
    let failure = py.detach(move || {
        let run = Run { pq: &pq, conn: conn as *mut Conn };
        // SAFETY: the connection is psycopg's, used by this thread only while psycopg waits for
        // this call (the indexer's database thread); libpq functions are called as documented.
        unsafe {
            let was_nonblocking = (pq.is_nonblocking)(run.conn);
            if was_nonblocking != 0 {
                (pq.set_nonblocking)(run.conn, 0);
            }
            let mut failure = None;
            for (i, op) in plan.iter().enumerate() {
                if let Err((state, message)) = run.one(op) {
                    failure = Some((i, state, message));
                    break;
                }
            }
            if was_nonblocking != 0 {
                (pq.set_nonblocking)(run.conn, 1);
            }
            failure
        }
    });
    Ok(failure)
}
