//! Endorsement policy text: parsing never panics, and an accepted policy prints back to
//! text that parses to the same policy (see `warga_ledger_core::policy::check_parse_invariants`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _accepted = warga_ledger_core::policy::check_parse_invariants(data);
});
