//! Metrics for scrapers: a registry's breakers as Prometheus text, read
//! from the breakers' snapshots when asked (nothing is counted per call).

use std::ffi::c_char;

use seawall::telemetry::{text, Catalog, TextFormat};

use crate::error::{run, seawall_result, write_text, Error, Written};
use crate::handle;
use crate::registry::seawall_registry;

/// Writes the metrics of every breaker of `registry`, in the OpenMetrics
/// text format Prometheus scrapes (families `seawall_breaker_*`, ending
/// with `# EOF`), into `buf` (NUL-terminated, snprintf-style) and its
/// length in bytes into `*out_len` (if not NULL). Returns
/// `SEAWALL_RESULT_BUFFER_TOO_SMALL` with a truncated text when it does not
/// fit; `buf = NULL, len = 0` asks for the length only. The text is taken
/// afresh by each call, so a buffer sized by one call may be too small for
/// the next when breakers were added or counts grew: retry with the new
/// length.
///
/// # Safety
///
/// `registry` is NULL or a live handle; `buf` is NULL or valid for `len`
/// bytes; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_registry_prometheus_text(
    registry: *const seawall_registry,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_registry_prometheus_text";
    run(F, || {
        // SAFETY: `registry` is NULL or a live handle (this function's
        // contract).
        let r = unsafe { handle::borrow(registry, F) }?;
        let mut catalog = Catalog::new();
        catalog.registry(r);
        let text = text(&catalog.finish(), TextFormat::OpenMetrics);
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        match unsafe { write_text(F, &text, buf, len, out_len) }? {
            Written::All => Ok(()),
            Written::Truncated => Err(Error::new(
                seawall_result::BufferTooSmall,
                format!(
                    "{F}: `len` = {len} is less than the {} bytes of the text and its NUL",
                    text.len() + 1
                ),
            )),
        }
    })
}
