//! A backfill chunk's SQLite statements run on Python's own connection without the GIL.
//!
//! Python's sqlite3 binds every parameter holding the interpreter lock, and gives the lock up
//! around each step of a statement, then has to win it back from the fetch, decode and writer
//! threads. Here a chunk's rows are bound and stepped by compiled code on the connection's
//! ``sqlite3`` handle (with the functions of the SQLite library Python's ``_sqlite3`` loaded), in
//! one release of the lock, inside the transaction Python's sqlite3 opened.
//!
//! A statement runs once per row of its data: COPY text with a kind per parameter (the
//! ``events`` rows the compiled decoder makes), or the typed rows of [`sqlite_rows`]. The rows are
//! read before any runs: data this code does not take whole is refused (Python then runs the
//! chunk the ordinary way), and the first statement that fails stops the run.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr};

type Db = c_void;
type Stmt = c_void;

const SQLITE_OK: c_int = 0;
const SQLITE_DONE: c_int = 101;
/// SQLITE_STATIC: the bound text outlives the step (it is reset before the text is dropped)
const STATIC: *const c_void = std::ptr::null();

struct Sqlite {
    prepare_v2: unsafe extern "C" fn(*mut Db, *const c_char, c_int, *mut *mut Stmt, *mut *const c_char) -> c_int,
    bind_int64: unsafe extern "C" fn(*mut Stmt, c_int, i64) -> c_int,
    bind_double: unsafe extern "C" fn(*mut Stmt, c_int, f64) -> c_int,
    bind_text: unsafe extern "C" fn(*mut Stmt, c_int, *const c_char, c_int, *const c_void) -> c_int,
    bind_null: unsafe extern "C" fn(*mut Stmt, c_int) -> c_int,
    bind_parameter_count: unsafe extern "C" fn(*mut Stmt) -> c_int,
    step: unsafe extern "C" fn(*mut Stmt) -> c_int,
    reset: unsafe extern "C" fn(*mut Stmt) -> c_int,
    finalize: unsafe extern "C" fn(*mut Stmt) -> c_int,
    errmsg: unsafe extern "C" fn(*mut Db) -> *const c_char,
    extended_errcode: unsafe extern "C" fn(*mut Db) -> c_int,
    get_autocommit: unsafe extern "C" fn(*mut Db) -> c_int,
}

/// The names of [`Sqlite`]'s functions, in the order of their addresses.
pub const FUNCTIONS: [&str; 12] = [
    "sqlite3_prepare_v2",
    "sqlite3_bind_int64",
    "sqlite3_bind_double",
    "sqlite3_bind_text",
    "sqlite3_bind_null",
    "sqlite3_bind_parameter_count",
    "sqlite3_step",
    "sqlite3_reset",
    "sqlite3_finalize",
    "sqlite3_errmsg",
    "sqlite3_extended_errcode",
    "sqlite3_get_autocommit",
];

impl Sqlite {
    fn from_addresses(a: &[usize]) -> PyResult<Self> {
        if a.len() != FUNCTIONS.len() || a.contains(&0) {
            return Err(PyValueError::new_err(format!("{} nonzero SQLite function addresses expected", FUNCTIONS.len())));
        }
        // SAFETY: the caller (gateway/indexer/native.py) passes the addresses of these SQLite
        // functions, by name, from the library Python's sqlite3 module uses.
        unsafe {
            Ok(Sqlite {
                prepare_v2: std::mem::transmute::<usize, _>(a[0]),
                bind_int64: std::mem::transmute::<usize, _>(a[1]),
                bind_double: std::mem::transmute::<usize, _>(a[2]),
                bind_text: std::mem::transmute::<usize, _>(a[3]),
                bind_null: std::mem::transmute::<usize, _>(a[4]),
                bind_parameter_count: std::mem::transmute::<usize, _>(a[5]),
                step: std::mem::transmute::<usize, _>(a[6]),
                reset: std::mem::transmute::<usize, _>(a[7]),
                finalize: std::mem::transmute::<usize, _>(a[8]),
                errmsg: std::mem::transmute::<usize, _>(a[9]),
                extended_errcode: std::mem::transmute::<usize, _>(a[10]),
                get_autocommit: std::mem::transmute::<usize, _>(a[11]),
            })
        }
    }
}

enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, [u8]>),
}

/// One statement and the values of its rows, in order (``width`` per row).
struct Statement<'a> {
    sql: &'a [u8],
    values: Vec<Value<'a>>,
}

/// A COPY text field, unescaped (``\N`` is NULL).
fn copy_field(field: &[u8]) -> Option<Value<'_>> {
    if field == b"\\N" {
        return Some(Value::Null);
    }
    if !field.contains(&b'\\') {
        return Some(Value::Text(Cow::Borrowed(field)));
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let c = field[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *field.get(i + 1)?;
        out.push(match e {
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'\\' => b'\\',
            _ => return None, // (an escape copy_rows and the decoder never write)
        });
        i += 2;
    }
    Some(Value::Text(Cow::Owned(out)))
}

/// The values of COPY text ``data``, one per ``kinds`` byte per row: ``i`` an integer (an
/// ``i64`` in decimal), ``t`` text. None for a row of another width or an integer out of range.
fn copy_values<'a>(data: &'a [u8], kinds: &[u8]) -> Option<Vec<Value<'a>>> {
    let mut values = Vec::with_capacity(data.len() / 24);
    for line in data.split(|&c| c == b'\n') {
        if line.is_empty() {
            continue; // (the text ends with a newline; no row of this data is empty)
        }
        let mut n = 0;
        for field in line.split(|&c| c == b'\t') {
            let kind = *kinds.get(n)?;
            n += 1;
            let value = copy_field(field)?;
            values.push(match (kind, value) {
                (b'i', Value::Text(t)) => Value::Int(std::str::from_utf8(&t).ok()?.parse::<i64>().ok()?),
                (_, v) => v,
            });
        }
        if n != kinds.len() {
            return None;
        }
    }
    Some(values)
}

/// The values of [`sqlite_rows`]'s bytes.
fn typed_values(data: &[u8]) -> Option<Vec<Value<'_>>> {
    let mut values = Vec::with_capacity(data.len() / 24);
    let mut i = 0;
    while i < data.len() {
        let tag = data[i];
        i += 1;
        values.push(match tag {
            b'N' => Value::Null,
            b'I' => {
                let v = i64::from_le_bytes(data.get(i..i + 8)?.try_into().ok()?);
                i += 8;
                Value::Int(v)
            }
            b'F' => {
                let v = f64::from_le_bytes(data.get(i..i + 8)?.try_into().ok()?);
                i += 8;
                Value::Real(v)
            }
            b'T' => {
                let n = u32::from_le_bytes(data.get(i..i + 4)?.try_into().ok()?) as usize;
                i += 4;
                let text = data.get(i..i + n)?;
                i += n;
                Value::Text(Cow::Borrowed(text))
            }
            _ => return None,
        });
    }
    Some(values)
}

/// Rows of Python values as Python's sqlite3 binds them: ``None`` NULL, ``int`` (``bool`` too)
/// an integer, ``float`` a real, ``str`` UTF-8 text; None when a value is of another type, an
/// ``int`` that does not fit in 64 bits or a ``str`` that is not valid UTF-8 (sqlite3 refuses
/// them, or adapts them: the caller then lets it).
/// A row is a tuple, or, with ``columns``, a dict (its values in the order of ``columns``).
#[pyfunction]
#[pyo3(signature = (rows, columns=None))]
pub fn sqlite_rows<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyList>,
    columns: Option<Vec<Bound<'py, PyString>>>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let mut out: Vec<u8> = Vec::with_capacity(rows.len() * 160);
    let mut values = Vec::new();
    for row in rows.iter() {
        if !crate::row_values(&row, columns.as_deref(), &mut values)? {
            return Ok(None);
        }
        for value in values.drain(..) {
            if value.is_none() {
                out.push(b'N');
            } else if let Ok(b) = value.cast_exact::<PyBool>() {
                out.push(b'I');
                out.extend_from_slice(&(b.is_true() as i64).to_le_bytes());
            } else if value.is_exact_instance_of::<PyInt>() {
                let Ok(n) = value.extract::<i64>() else { return Ok(None) };
                out.push(b'I');
                out.extend_from_slice(&n.to_le_bytes());
            } else if let Ok(s) = value.cast_exact::<PyString>() {
                let Ok(s) = s.to_str() else { return Ok(None) };
                let Ok(n) = u32::try_from(s.len()) else { return Ok(None) };
                out.push(b'T');
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            } else if let Ok(f) = value.cast_exact::<PyFloat>() {
                out.push(b'F');
                out.extend_from_slice(&f.value().to_le_bytes());
            } else {
                return Ok(None);
            }
        }
    }
    Ok(Some(PyBytes::new(py, &out)))
}

/// A failed statement: (its index, SQLite's extended result code, its message).
type Failure = (usize, i32, String);

struct Run<'l> {
    lib: &'l Sqlite,
    db: *mut Db,
}

impl Run<'_> {
    unsafe fn failure(&self) -> (i32, String) {
        let code = (self.lib.extended_errcode)(self.db);
        let p = (self.lib.errmsg)(self.db);
        let message = if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() };
        (code, message)
    }

    /// Prepare the statement, bind and step it once per row, finalize it.
    unsafe fn one(&self, st: &Statement) -> Result<(), (i32, String)> {
        let mut stmt: *mut Stmt = std::ptr::null_mut();
        let mut tail: *const c_char = std::ptr::null();
        if (self.lib.prepare_v2)(self.db, st.sql.as_ptr() as *const c_char, st.sql.len() as c_int, &mut stmt, &mut tail)
            != SQLITE_OK
            || stmt.is_null()
        {
            return Err(self.failure());
        }
        let width = (self.lib.bind_parameter_count)(stmt) as usize;
        let mut out = Ok(());
        if width == 0 || st.values.len() % width != 0 {
            out = Err((1, format!("{} values for statements of {} parameters", st.values.len(), width)));
        } else {
            for row in st.values.chunks(width) {
                for (i, v) in row.iter().enumerate() {
                    let i = i as c_int + 1;
                    let rc = match v {
                        Value::Null => (self.lib.bind_null)(stmt, i),
                        Value::Int(n) => (self.lib.bind_int64)(stmt, i, *n),
                        Value::Real(f) => (self.lib.bind_double)(stmt, i, *f),
                        Value::Text(t) => (self.lib.bind_text)(stmt, i, t.as_ptr() as *const c_char, t.len() as c_int, STATIC),
                    };
                    if rc != SQLITE_OK {
                        out = Err(self.failure());
                        break;
                    }
                }
                if out.is_err() {
                    break;
                }
                if (self.lib.step)(stmt) != SQLITE_DONE {
                    out = Err(self.failure());
                    break;
                }
                (self.lib.reset)(stmt);
            }
        }
        (self.lib.finalize)(stmt);
        out
    }
}

/// Run ``ops`` in order on the SQLite connection ``db`` (the ``sqlite3`` handle of Python's
/// connection), with ``functions`` the addresses of SQLite's [`FUNCTIONS`], without the GIL. An
/// op is ``(1, sql, data, kinds)``: ``data`` COPY text, one ``kinds`` byte (``i``/``t``) per
/// column; or ``(2, sql, data)``: [`sqlite_rows`]'s bytes. The statement runs once per row.
/// Returns ``Ok(None)`` when all succeeded, ``Ok(Some((index, code, message)))`` for the first
/// that failed (the rest are not run), or ``Err(ValueError)``, before anything runs, when the
/// data of an op is not whole or no transaction is open on ``db``.
#[pyfunction]
pub fn sqlite_run<'py>(
    py: Python<'py>,
    functions: Vec<usize>,
    db: usize,
    ops: &Bound<'py, PyList>,
) -> PyResult<Option<Failure>> {
    let lib = Sqlite::from_addresses(&functions)?;
    if db == 0 {
        return Err(PyValueError::new_err("no SQLite connection"));
    }
    let items: Vec<Bound<'py, PyTuple>> = ops.iter().map(|o| o.cast_into::<PyTuple>()).collect::<Result<_, _>>()?;
    let mut held: Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>, u8)> = Vec::new();
    for item in &items {
        let kind: u8 = item.get_item(0)?.extract()?;
        let sql = item.get_item(1)?.cast_into::<PyBytes>()?;
        let data = item.get_item(2)?.cast_into::<PyBytes>()?;
        let kinds = match kind {
            1 => Some(item.get_item(3)?.cast_into::<PyBytes>()?),
            2 => None,
            k => return Err(PyValueError::new_err(format!("unknown statement kind {k}"))),
        };
        held.push((sql, data, kinds, kind));
    }
    // the slices of the bytes `held` holds (immutable objects) until this function returns
    let parts: Vec<(&[u8], &[u8], Option<&[u8]>, u8)> = held
        .iter()
        .map(|(sql, data, kinds, kind)| (sql.as_bytes(), data.as_bytes(), kinds.as_ref().map(|k| k.as_bytes()), *kind))
        .collect();
    // SAFETY: the handle is Python's connection's, used by this thread only while Python waits for
    // this call (the indexer's database thread); SQLite's functions are called as documented.
    if unsafe { (lib.get_autocommit)(db as *mut Db) } != 0 {
        return Err(PyValueError::new_err("no transaction is open on the connection"));
    }
    let outcome = py.detach(move || {
        // every op's rows read before any runs
        let mut plan = Vec::with_capacity(parts.len());
        for (i, (sql, data, kinds, kind)) in parts.into_iter().enumerate() {
            let values = match kinds {
                Some(kinds) if kind == 1 => copy_values(data, kinds),
                _ => typed_values(data),
            };
            let Some(values) = values else { return Err(i) };
            plan.push(Statement { sql, values });
        }
        let run = Run { lib: &lib, db: db as *mut Db };
        for (i, st) in plan.iter().enumerate() {
            // SAFETY: as above
            if let Err((code, message)) = unsafe { run.one(st) } {
                return Ok(Some((i, code, message)));
            }
        }
        Ok(None)
    });
    let failure = outcome.map_err(|i| PyValueError::new_err(format!("statement {i}: its data is not whole")))?;
    Ok(failure)
}
