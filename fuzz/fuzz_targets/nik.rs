//! NIK parsing and validation on arbitrary input: never panics, and whatever is accepted
//! obeys the NIK's rules (see `warga_population::nik::check_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _accepted = warga_population::nik::check_invariants(data);
});
